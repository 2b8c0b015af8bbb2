"""A framework-agnostic WSGI receiver for provider callbacks.

:func:`make_app` returns a plain WSGI application with two routes per
gateway slug::

    POST|GET  /<slug>/status    delivery receipts  -> the runner applies them
    POST|GET  /<slug>/inbound   replies            -> the runner handles them

It rebuilds the exact public URL the provider called (signatures cover it),
reads the raw body, hands a
:class:`~smscampaign.providers.gateway.WebhookRequest` to the route's gateway,
and gives the result to the :class:`~smscampaign.runner.CampaignRunner`. The
answers follow what providers do with them:

==========================  =====  ==============================================
outcome                     code   why
==========================  =====  ==============================================
applied (or a replay)       200    duplicates are harmless; a non-2xx makes the
                                   provider retry for nothing
signature missing or wrong  403    nothing changes; one vague body
body not the format         400    nothing changes
unknown route               404
method not GET/POST         405    with ``Allow``
anything else               500    logged; providers retry a 5xx later
==========================  =====  ==============================================

A gateway may supply the success body (Twilio wants TwiML from an inbound
webhook) through an optional ``webhook_response(kind)`` method returning
``(content type, body)``; see :class:`RespondingGateway`.

Mount it in any WSGI server or framework, or run :func:`serve` for a small
single-threaded server (``smscampaign serve``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from smscampaign.errors import ConfigurationError, MalformedWebhook, WebhookVerificationError
from smscampaign.providers.gateway import Gateway, WebhookRequest

if TYPE_CHECKING:
    from smscampaign.runner import CampaignRunner

__all__ = [
    "MAX_BODY_BYTES",
    "RespondingGateway",
    "WebhookApp",
    "build_request",
    "make_app",
    "make_webhook_server",
    "request_url",
    "serve",
]

log = logging.getLogger("smscampaign.webhooks")

MAX_BODY_BYTES = 1024 * 1024
"""The largest callback body accepted (413 above it); providers send a few KB."""

_SLUG = re.compile(r"[a-z][a-z0-9_]*")
_ROUTE = re.compile(r"/([a-z][a-z0-9_]*)/(status|inbound)/?")
_METHODS = ("GET", "POST")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
"""The ``start_response`` callable of PEP 3333."""


@runtime_checkable
class RespondingGateway(Protocol):
    """A gateway that chooses the body of a successful webhook answer."""

    def webhook_response(self, kind: str) -> tuple[str, bytes] | None:
        """``(content type, body)`` for a ``"status"`` or ``"inbound"`` answer, or None."""
        ...


def _first_value(header: str) -> str:
    # Proxies append: the first value is what the client (the provider) used.
    return header.split(",", 1)[0].strip()


def _quote_path(value: str) -> str:
    # WSGI strings are bytes decoded as latin-1 (PEP 3333); quote the bytes back.
    return quote(value.encode("latin-1"), safe="/;=,:@!$&'()*+~")


def request_url(environ: Mapping[str, Any], *, trust_forwarded: bool = False) -> str:
    """The full URL the client called, rebuilt from a WSGI environ (PEP 3333's recipe).

    The path comes from ``REQUEST_URI``/``RAW_URI`` when the server gives
    it (byte-exact), else from ``SCRIPT_NAME`` and ``PATH_INFO`` re-quoted.
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are honoured only with
    ``trust_forwarded``: anyone can send those headers, and only a proxy you
    run should be believed.

    Args:
        environ: The WSGI environ.
        trust_forwarded: Whether a trusted proxy sets the forwarded headers.

    Returns:
        ``scheme://host[:port]/path[?query]``.
    """
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = str(environ.get("HTTP_HOST", ""))
    if not host:
        host = str(environ.get("SERVER_NAME", "localhost"))
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"https": "443", "http": "80"}.get(scheme):
            host = f"{host}:{port}"
    if trust_forwarded:
        forwarded_proto = _first_value(str(environ.get("HTTP_X_FORWARDED_PROTO", "")))
        forwarded_host = _first_value(str(environ.get("HTTP_X_FORWARDED_HOST", "")))
        scheme = forwarded_proto.lower() or scheme
        host = forwarded_host or host
    raw = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or "")
    if raw.startswith("/"):
        return f"{scheme}://{host}{raw}"
    path = _quote_path(str(environ.get("SCRIPT_NAME", ""))) + _quote_path(
        str(environ.get("PATH_INFO", ""))
    )
    query = str(environ.get("QUERY_STRING", ""))
    return f"{scheme}://{host}{path or '/'}" + (f"?{query}" if query else "")


def _headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            pairs.append((key[5:].replace("_", "-").title(), str(value)))
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            pairs.append((key.replace("_", "-").title(), str(environ[key])))
    return pairs


class _TooLarge(Exception):
    pass


def _body(environ: Mapping[str, Any]) -> bytes:
    try:
        length = int(str(environ.get("CONTENT_LENGTH") or "0"))
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise _TooLarge
    if length <= 0:
        return b""
    data = environ["wsgi.input"].read(length)
    return bytes(data)


def build_request(environ: Mapping[str, Any], *, trust_forwarded: bool = False) -> WebhookRequest:
    """The :class:`~smscampaign.providers.gateway.WebhookRequest` a WSGI environ describes.

    Args:
        environ: The WSGI environ.
        trust_forwarded: Believe ``X-Forwarded-Proto``/``-Host`` (see :func:`request_url`).

    Returns:
        The method, the full public URL, the headers and the raw body.
    """
    return WebhookRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        url=request_url(environ, trust_forwarded=trust_forwarded),
        headers=_headers(environ),
        body=_body(environ),
    )


def _by_slug(gateways: Mapping[str, Gateway] | Sequence[Gateway]) -> dict[str, Gateway]:
    if isinstance(gateways, Mapping):
        table = dict(gateways)
    else:
        table = {}
        for gateway in gateways:
            if gateway.name in table:
                raise ConfigurationError(
                    f"two gateways share the slug {gateway.name!r}; pass a mapping "
                    "{slug: gateway} to route them apart",
                    value=gateway.name,
                )
            table[gateway.name] = gateway
    if not table:
        raise ConfigurationError("make_app needs at least one gateway", value=gateways)
    for slug in table:
        if not isinstance(slug, str) or _SLUG.fullmatch(slug) is None:
            raise ConfigurationError(
                f"a route slug must be lower_snake (e.g. 'twilio'), got {slug!r}", value=slug
            )
    return table


class WebhookApp:
    """The WSGI application :func:`make_app` returns.

    Args:
        runner: Applies receipts and handles replies.
        gateways: The gateways by route slug.
        trust_forwarded: Believe ``X-Forwarded-Proto``/``-Host``.
    """

    def __init__(
        self, runner: CampaignRunner, gateways: Mapping[str, Gateway], *, trust_forwarded: bool
    ) -> None:
        self.runner = runner
        self.gateways = dict(gateways)
        self.trust_forwarded = trust_forwarded

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request (PEP 3333)."""
        status, headers, body = self.handle(environ)
        headers = [*headers, ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    def handle(self, environ: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """The status line, headers and body for one request.

        Args:
            environ: The WSGI environ.

        Returns:
            ``(status, headers, body)``.
        """
        match = _ROUTE.fullmatch(str(environ.get("PATH_INFO", "")))
        gateway = self.gateways.get(match.group(1)) if match else None
        if match is None or gateway is None:
            return _plain("404 Not Found", b"not found")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method not in _METHODS:
            status, headers, body = _plain("405 Method Not Allowed", b"method not allowed")
            return status, [*headers, ("Allow", ", ".join(_METHODS))], body
        kind = match.group(2)
        try:
            request = build_request(environ, trust_forwarded=self.trust_forwarded)
        except _TooLarge:
            return _plain("413 Content Too Large", b"body too large")
        try:
            if kind == "status":
                self.runner.apply_events(gateway.parse_status(request))
            else:
                for message in gateway.parse_inbound(request):
                    self.runner.handle_reply(message)
        except WebhookVerificationError:
            log.warning("rejected an unverified %s callback at %s", gateway.name, request.url)
            return _plain("403 Forbidden", b"forbidden")
        except MalformedWebhook as error:
            log.info("rejected a malformed %s callback: %s", gateway.name, error)
            return _plain("400 Bad Request", b"bad request")
        except Exception:
            log.exception("failed to handle a %s %s callback", gateway.name, kind)
            return _plain("500 Internal Server Error", b"internal error")
        answer = gateway.webhook_response(kind) if isinstance(gateway, RespondingGateway) else None
        if answer is None:
            return _plain("200 OK", b"")
        content_type, body = answer
        return "200 OK", [("Content-Type", content_type)], body


def _plain(status: str, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "text/plain; charset=utf-8")], body


def make_app(
    runner: CampaignRunner,
    gateways: Mapping[str, Gateway] | Sequence[Gateway],
    *,
    trust_forwarded: bool = False,
) -> WebhookApp:
    """A WSGI application receiving provider callbacks for ``runner``.

    Routes are ``/<slug>/status`` and ``/<slug>/inbound`` (GET or POST) under
    wherever the application is mounted. The route's gateway verifies and
    parses the request; the runner applies the events
    (:meth:`~smscampaign.runner.CampaignRunner.apply_events`, as
    ``handle_status`` does) or handles the replies
    (:meth:`~smscampaign.runner.CampaignRunner.handle_reply`, as
    ``handle_inbound`` does). Automatic answers to replies (HELP, the opt-out
    confirmation) go out through the runner's own gateway.

    Args:
        runner: The runner whose storage the callbacks update.
        gateways: The gateways, as ``{slug: gateway}`` or a sequence keyed by
            each gateway's ``name``.
        trust_forwarded: Rebuild the public URL from ``X-Forwarded-Proto`` and
            ``X-Forwarded-Host``; only behind a proxy you run, which sets them.

    Returns:
        The WSGI application.

    Raises:
        ConfigurationError: No gateway, two with one slug, or a slug that is
            not lower_snake.
    """
    return WebhookApp(runner, _by_slug(gateways), trust_forwarded=trust_forwarded)


class _QuietHandler(WSGIRequestHandler):
    """Logs each request through :mod:`logging` instead of writing to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def make_webhook_server(
    app: Callable[..., Any], host: str = "127.0.0.1", port: int = 8000
) -> WSGIServer:
    """A single-threaded :mod:`wsgiref` server for ``app``, bound but not yet serving.

    Port 0 picks a free port (read it from ``server.server_port``). Call
    ``serve_forever()`` to run it, ``shutdown()`` from another thread to stop
    it, then ``server_close()``.

    Args:
        app: A WSGI application, e.g. from :func:`make_app`.
        host: The address to bind.
        port: The port to bind.

    Returns:
        The server.
    """
    return make_server(host, port, app, handler_class=_QuietHandler)


def serve(app: Callable[..., Any], host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` until interrupted (Ctrl-C); what ``smscampaign serve`` runs.

    One request at a time, which keeps storage access simple; put a real
    WSGI server (gunicorn, uWSGI, waitress) in front of :func:`make_app` for
    production traffic, and TLS in a proxy (then ``trust_forwarded=True``).

    Args:
        app: A WSGI application, e.g. from :func:`make_app`.
        host: The address to bind.
        port: The port to bind.
    """
    with make_webhook_server(app, host, port) as server:
        log.info("serving webhooks on http://%s:%s", host, server.server_port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped")

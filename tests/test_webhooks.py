"""The WSGI webhook receiver, over real HTTP on 127.0.0.1, with simulated and Twilio gateways."""

from __future__ import annotations

import http.client
import io
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs
import pytest

from smscampaign.domain.campaign import Campaign, Step, StepKind
from smscampaign.domain.contact import Consent, Contact, SuppressionCause
from smscampaign.domain.delivery import DeliveryStatus
from smscampaign.domain.phone import PhoneNumber
from smscampaign.errors import ConfigurationError
from smscampaign.providers.gateway import Gateway, WebhookRequest
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.runner import CampaignRunner
from smscampaign.webhooks import (
    MAX_BODY_BYTES,
    build_request,
    make_app,
    make_webhook_server,
    request_url,
)

UTC = timezone.utc
# Tuesday 3 March 2026, 15:00 UTC: 10:00 in New York, inside the default window.
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
SENDER = "+12125550100"
NUMBERS = ("+12127363100", "+12127363101")


# --- a small world ---------------------------------------------------------------------


@attrs.define
class World:
    """A runner over InMemoryStorage with one campaign sent through ``gateway``."""

    runner: CampaignRunner
    storage: InMemoryStorage
    clock: VirtualClock
    gateway: Gateway

    def statuses(self) -> dict[str, DeliveryStatus]:
        """Each recipient's invite status."""
        return {s.to: s.status for s in self.storage.iter_sends("c1")}

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a callback could change: sends, event log, suppressions, contacts."""
        return (
            sorted((s.id, s.status, s.last_attempt) for s in self.storage.iter_sends("c1")),
            [e.dedup_key for e in self.storage.iter_events()],
            [self.storage.get_suppression(n) for n in NUMBERS],
            [c.consent for c in self.storage.find_contacts(list(NUMBERS)).values()],
        )


def build_world(gateway: Gateway, clock: VirtualClock) -> World:
    """Create, schedule and send a one-step campaign to NUMBERS."""
    storage = InMemoryStorage()
    runner = CampaignRunner(storage, gateway, clock)
    campaign = Campaign.create(
        at=clock.now(),
        id="c1",
        name="Campaign c1",
        steps=(Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}"),),
        sender=SENDER,
    )
    storage.add_campaign(campaign)
    contacts = [
        Contact(
            id=f"k{n}",
            phone=PhoneNumber.parse(number),
            first_name=f"Name{n}",
            consent=Consent.OPTED_IN,
        )
        for n, number in enumerate(NUMBERS)
    ]
    runner.add_recipients("c1", contacts, list_name="list.csv")
    runner.schedule("c1")
    runner.tick()
    return World(runner, storage, clock, gateway)


# --- a real server -----------------------------------------------------------------------


@attrs.frozen
class Answer:
    """One HTTP answer."""

    status: int
    content_type: str
    body: bytes


@contextmanager
def serving(app: Callable[..., Any]) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = make_webhook_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def call(
    base: str,
    path: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """Make one real HTTP request to the server at ``base``."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Answer(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        connection.close()


def replay(base: str, path: str, request: WebhookRequest) -> Answer:
    """Send a WebhookRequest's body and headers to ``path`` on the server."""
    return call(base, path, body=request.body, headers=dict(request.headers))


@pytest.fixture
def clock() -> VirtualClock:
    """A virtual clock at T0."""
    return VirtualClock(T0)


# --- SimulatedGateway ------------------------------------------------------------------------


class TestWithSimulatedGateway:
    """Simulated callbacks over HTTP change state exactly once, and bad ones change nothing."""

    @pytest.fixture
    def world(self, clock: VirtualClock) -> World:
        """A campaign sent through an ideal simulated carrier."""
        return build_world(SimulatedGateway.ideal(clock=clock), clock)

    def receipts(self, world: World) -> list[WebhookRequest]:
        """The simulator's callbacks due a minute after sending."""
        assert isinstance(world.gateway, SimulatedGateway)
        world.clock.advance(timedelta(minutes=1))
        return world.gateway.deliver_due(world.clock.now())

    def test_signed_receipts_deliver(self, world: World) -> None:
        """Correctly signed receipts return 200 and move the sends to DELIVERED."""
        assert set(world.statuses().values()) == {DeliveryStatus.SENDING}
        requests = self.receipts(world)
        assert requests
        with serving(make_app(world.runner, [world.gateway])) as base:
            answers = [replay(base, "/simulated/status", r) for r in requests]
        assert {a.status for a in answers} == {200}
        assert set(world.statuses().values()) == {DeliveryStatus.DELIVERED}

    def test_replayed_receipt_changes_nothing(self, world: World) -> None:
        """The same receipts posted again return 200 and change nothing."""
        requests = self.receipts(world)
        with serving(make_app(world.runner, [world.gateway])) as base:
            for request in requests:
                replay(base, "/simulated/status", request)
            before = world.snapshot()
            answers = [replay(base, "/simulated/status", r) for r in reversed(requests)]
        assert {a.status for a in answers} == {200}
        assert world.snapshot() == before

    def test_bad_or_missing_signature_is_403(self, world: World) -> None:
        """A tampered or unsigned receipt returns 403 and changes nothing."""
        request = self.receipts(world)[-1]
        tampered = request.body.replace(b"delivered", b"undelivered")
        before = world.snapshot()
        with serving(make_app(world.runner, [world.gateway])) as base:
            bad = call(base, "/simulated/status", body=tampered, headers=dict(request.headers))
            unsigned = call(base, "/simulated/status", body=request.body)
        assert (bad.status, unsigned.status) == (403, 403)
        assert bad.body == unsigned.body
        assert world.snapshot() == before

    def test_malformed_body_is_400(self, world: World) -> None:
        """A signed body that is not a simulated callback returns 400 and changes nothing."""
        assert isinstance(world.gateway, SimulatedGateway)
        request = world.gateway.signed_request({"type": "message.status", "status": "delivered"})
        before = world.snapshot()
        with serving(make_app(world.runner, [world.gateway])) as base:
            answer = replay(base, "/simulated/status", request)
        assert answer.status == 400
        assert world.snapshot() == before

    def test_inbound_stop_suppresses(self, world: World) -> None:
        """An inbound STOP returns 200, suppresses the number and unsubscribes the contact."""
        assert isinstance(world.gateway, SimulatedGateway)
        request = world.gateway.inbound_request(NUMBERS[0], "STOP")
        with serving(make_app(world.runner, {"sms": world.gateway})) as base:
            answer = replay(base, "/sms/inbound", request)
        assert (answer.status, answer.body) == (200, b"")
        entry = world.storage.get_suppression(NUMBERS[0])
        assert entry is not None
        assert entry.cause is SuppressionCause.STOP_WORD
        assert world.storage.get_suppression(NUMBERS[1]) is None

    def test_routing_errors(self, world: World) -> None:
        """Unknown routes are 404, other methods 405 with Allow; nothing changes."""
        before = world.snapshot()
        with serving(make_app(world.runner, [world.gateway])) as base:
            unknown_slug = call(base, "/twilio/status")
            unknown_kind = call(base, "/simulated/other")
            root = call(base, "/")
            put = call(base, "/simulated/status", method="PUT")
            get = call(base, "/simulated/status", method="GET")
        assert (unknown_slug.status, unknown_kind.status, root.status) == (404, 404, 404)
        assert put.status == 405
        assert get.status == 403  # routed, then refused: an unsigned GET
        assert world.snapshot() == before


# --- TwilioGateway ------------------------------------------------------------------------------


class TestWithTwilioGateway:
    """Twilio callbacks signed by the SDK's RequestValidator, over HTTP, drive the runner."""

    TOKEN = "webhook-test-token"
    ACCOUNT_SID = "AC" + "0" * 32

    @pytest.fixture
    def world(self, clock: VirtualClock) -> Iterator[World]:
        """A campaign sent through TwilioGateway, its REST calls intercepted."""
        pytest.importorskip("twilio")
        responses = pytest.importorskip("responses")
        from smscampaign.providers.twilio import TwilioGateway

        url = f"https://api.twilio.com/2010-04-01/Accounts/{self.ACCOUNT_SID}/Messages.json"
        counter = iter(range(1, 1000))

        def create(request: Any) -> tuple[int, dict[str, str], str]:
            form = dict(pair.split("=", 1) for pair in request.body.split("&"))
            if form.get("Body", "").startswith("You+are+unsubscribed"):
                # Twilio refuses to text a number that just opted out (21610).
                refusal = {"code": 21610, "message": "unsubscribed recipient", "status": 400}
                return 400, {}, json.dumps(refusal)
            sid = f"SM{next(counter):032x}"
            return 201, {}, json.dumps({"sid": sid, "status": "queued", "num_segments": "1"})

        with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
            api.add_callback(responses.POST, url, callback=create)
            gateway = TwilioGateway(self.ACCOUNT_SID, self.TOKEN, clock=clock)
            yield build_world(gateway, clock)

    def signed_form(
        self, url: str, params: Mapping[str, str], token: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A form body and headers signed by the SDK for ``url``."""
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(token or self.TOKEN).compute_signature(url, dict(params))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        return urlencode(params).encode(), headers

    def status(self, world: World, to: str, word: str, **extra: str) -> dict[str, str]:
        """A Twilio status callback for the message sent to ``to``."""
        (send,) = [s for s in world.storage.iter_sends("c1") if s.to == to]
        assert send.last_attempt is not None
        sid = send.last_attempt.provider_message_id
        assert sid is not None
        params = {"AccountSid": self.ACCOUNT_SID, "MessageSid": sid, "SmsSid": sid}
        params |= {"MessageStatus": word, "SmsStatus": word, "To": to, "From": SENDER}
        return params | extra

    def test_signed_receipt_changes_state_and_replay_does_not(self, world: World) -> None:
        """A signed receipt returns 200 and delivers; the same again returns 200, no change."""
        with serving(make_app(world.runner, [world.gateway])) as base:
            url = f"{base}/twilio/status"
            body, headers = self.signed_form(url, self.status(world, NUMBERS[0], "delivered"))
            first = call(base, "/twilio/status", body=body, headers=headers)
            after_first = world.snapshot()
            second = call(base, "/twilio/status", body=body, headers=headers)
        assert (first.status, second.status) == (200, 200)
        assert first.body == b""
        assert world.statuses()[NUMBERS[0]] is DeliveryStatus.DELIVERED
        assert world.statuses()[NUMBERS[1]] is DeliveryStatus.SENDING
        assert world.snapshot() == after_first

    def test_hard_bounce_suppresses_a_landline(self, world: World) -> None:
        """An undelivered 30006 receipt hard-bounces the send and suppresses the number."""
        with serving(make_app(world.runner, [world.gateway])) as base:
            url = f"{base}/twilio/status"
            params = self.status(world, NUMBERS[1], "undelivered", ErrorCode="30006")
            body, headers = self.signed_form(url, params)
            answer = call(base, "/twilio/status", body=body, headers=headers)
        assert answer.status == 200
        assert world.statuses()[NUMBERS[1]] is DeliveryStatus.HARD_BOUNCED
        entry = world.storage.get_suppression(NUMBERS[1])
        assert entry is not None
        assert entry.cause is SuppressionCause.HARD_BOUNCE

    def test_bad_signatures_are_403_and_change_nothing(self, world: World) -> None:
        """A wrong token, a changed parameter, another URL or no signature: 403, nothing changes."""
        before = world.snapshot()
        with serving(make_app(world.runner, [world.gateway])) as base:
            url = f"{base}/twilio/status"
            params = self.status(world, NUMBERS[0], "delivered")
            body, headers = self.signed_form(url, params)
            wrong_token = self.signed_form(url, params, token="not-the-token")
            elsewhere = self.signed_form(f"{base}/twilio/inbound", params)
            changed = body.replace(b"delivered", b"undelivered")
            answers = [
                call(base, "/twilio/status", body=wrong_token[0], headers=wrong_token[1]),
                call(base, "/twilio/status", body=elsewhere[0], headers=elsewhere[1]),
                call(base, "/twilio/status", body=changed, headers=headers),
                call(base, "/twilio/status", body=body),
            ]
        assert [a.status for a in answers] == [403, 403, 403, 403]
        assert world.snapshot() == before

    def test_malformed_receipt_is_400_and_changes_nothing(self, world: World) -> None:
        """A signed form without MessageSid returns 400 and changes nothing."""
        before = world.snapshot()
        with serving(make_app(world.runner, [world.gateway])) as base:
            body, headers = self.signed_form(f"{base}/twilio/status", {"MessageStatus": "sent"})
            answer = call(base, "/twilio/status", body=body, headers=headers)
        assert answer.status == 400
        assert world.snapshot() == before

    def test_inbound_stop_suppresses_and_answers_twiml(self, world: World) -> None:
        """An inbound STOP gets empty TwiML (text/xml) and suppresses the number."""
        with serving(make_app(world.runner, [world.gateway])) as base:
            params = {
                "AccountSid": self.ACCOUNT_SID,
                "MessageSid": "SM" + "e" * 32,
                "From": NUMBERS[0],
                "To": SENDER,
                "Body": "Stop",
                "OptOutType": "STOP",
            }
            body, headers = self.signed_form(f"{base}/twilio/inbound", params)
            answer = call(base, "/twilio/inbound", body=body, headers=headers)
            again = call(base, "/twilio/inbound", body=body, headers=headers)
        assert answer.status == 200
        assert answer.content_type.startswith("text/xml")
        assert b"<Response></Response>" in answer.body
        assert again.status == 200
        entry = world.storage.get_suppression(NUMBERS[0])
        assert entry is not None
        assert entry.cause is SuppressionCause.STOP_WORD

    def test_forwarded_headers_only_when_trusted(self, world: World) -> None:
        """Behind a proxy the public URL verifies only when the app trusts X-Forwarded-*."""
        public = "https://hooks.example.com/twilio/status"
        params = self.status(world, NUMBERS[0], "sent")
        body, headers = self.signed_form(public, params)
        headers |= {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
        with serving(make_app(world.runner, [world.gateway])) as base:
            untrusted = call(base, "/twilio/status", body=body, headers=headers)
        with serving(make_app(world.runner, [world.gateway], trust_forwarded=True)) as base:
            trusted = call(base, "/twilio/status", body=body, headers=headers)
        assert (untrusted.status, trusted.status) == (403, 200)
        assert world.statuses()[NUMBERS[0]] is DeliveryStatus.SENT


# --- the pieces --------------------------------------------------------------------------------


def environ(**overrides: Any) -> dict[str, Any]:
    """A minimal WSGI environ for a POST to /twilio/status on example.com."""
    base: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "example.com",
        "SERVER_NAME": "example.com",
        "SERVER_PORT": "80",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/twilio/status",
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(b""),
    }
    base.update(overrides)
    return base


class TestRequestUrl:
    """The public URL is rebuilt from the environ as PEP 3333 describes."""

    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({}, "http://example.com/twilio/status"),
            ({"QUERY_STRING": "a=1&b=2"}, "http://example.com/twilio/status?a=1&b=2"),
            ({"SCRIPT_NAME": "/hooks"}, "http://example.com/hooks/twilio/status"),
            (
                {"HTTP_HOST": "example.com:8443", "wsgi.url_scheme": "https"},
                "https://example.com:8443/twilio/status",
            ),
            ({"HTTP_HOST": "", "SERVER_PORT": "8080"}, "http://example.com:8080/twilio/status"),
            (
                {"HTTP_HOST": "", "SERVER_PORT": "443", "wsgi.url_scheme": "https"},
                "https://example.com/twilio/status",
            ),
            ({"PATH_INFO": "/a b/é".encode().decode("latin-1")}, "http://example.com/a%20b/%C3%A9"),
            ({"RAW_URI": "/twilio/status?x=%7E"}, "http://example.com/twilio/status?x=%7E"),
            (
                {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "evil.example"},
                "http://example.com/twilio/status",
            ),
        ],
    )
    def test_untrusted_reconstruction(self, overrides: dict[str, Any], expected: str) -> None:
        """Scheme, host, mount, path and query come from the environ; X-Forwarded-* is ignored."""
        assert request_url(environ(**overrides)) == expected

    def test_trusted_forwarded_headers(self) -> None:
        """With trust, the first X-Forwarded-Proto and -Host values are the client's."""
        env = environ(
            HTTP_X_FORWARDED_PROTO="https, http",
            HTTP_X_FORWARDED_HOST="hooks.example.com, lb.internal",
        )
        assert request_url(env, trust_forwarded=True) == "https://hooks.example.com/twilio/status"

    def test_build_request_reads_headers_and_body(self) -> None:
        """Headers (content type included) and exactly CONTENT_LENGTH bytes are read."""
        env = environ(
            CONTENT_TYPE="application/x-www-form-urlencoded",
            CONTENT_LENGTH="7",
            HTTP_X_TWILIO_SIGNATURE="sig=",
            **{"wsgi.input": io.BytesIO(b"a=1&b=2trailing")},
        )
        request = build_request(env)
        assert request.body == b"a=1&b=2"
        assert request.headers["x-twilio-signature"] == "sig="
        assert request.content_type == "application/x-www-form-urlencoded"


class TestMakeApp:
    """make_app checks its gateways and refuses oversized bodies."""

    @pytest.fixture
    def runner(self, clock: VirtualClock) -> CampaignRunner:
        """A runner on an empty storage."""
        return CampaignRunner(InMemoryStorage(), SimulatedGateway.ideal(clock=clock), clock)

    def test_configuration_errors(self, runner: CampaignRunner) -> None:
        """No gateway, a duplicated slug or a slug that is not lower_snake is refused."""
        sim = runner.gateway
        for gateways in ([], [sim, sim], {"Bad-Slug": sim}):
            with pytest.raises(ConfigurationError):
                make_app(runner, gateways)

    def test_oversized_body_is_413(self, runner: CampaignRunner) -> None:
        """A body over MAX_BODY_BYTES is refused before it is read."""
        app = make_app(runner, [runner.gateway])
        status, _, _ = app.handle(
            environ(PATH_INFO="/simulated/status", CONTENT_LENGTH=str(MAX_BODY_BYTES + 1))
        )
        assert status.startswith("413")

    def test_unexpected_errors_are_500(self, runner: CampaignRunner) -> None:
        """A gateway that fails unexpectedly gets a 500 (providers retry later), logged."""

        class Broken(SimulatedGateway):
            def parse_status(self, request: WebhookRequest) -> list[Any]:
                raise RuntimeError("boom")

        app = make_app(runner, [Broken()])
        status, _, body = app.handle(environ(PATH_INFO="/simulated/status"))
        assert status.startswith("500")
        assert b"boom" not in body

"""Every error smscampaign raises on bad input or bad state.

One root, :class:`SmsCampaignError`; each leaf also subclasses the builtin it
means, so ``except ValueError`` in a host application keeps working. Every
error carries the offending value and says what was wrong with it.

The tree::

    SmsCampaignError
    ├── InvalidPhoneNumber              (ValueError)
    ├── NaiveDatetimeError              (ValueError)
    ├── InvalidCampaign                 (ValueError)
    │   └── InvalidStep                 (ValueError)
    ├── TemplateError                   (ValueError)
    │   └── MissingField                (ValueError)
    ├── InvalidTransition               (RuntimeError)
    ├── InvalidEvent                    (ValueError)
    ├── ScheduleError                   (ValueError)
    ├── ImportFailed                    (ValueError)
    ├── ConfigurationError              (ValueError)
    ├── MissingDependency               (ImportError)
    ├── SuppressedNumber                (PermissionError)
    ├── SuppressionLiftRefused          (PermissionError)
    ├── StorageError
    │   ├── NotFound                    (LookupError)
    │   ├── AlreadyExists               (ValueError)
    │   └── SchemaError                 (RuntimeError)
    └── GatewayError
        ├── TemporaryGatewayError       (carries a FailureReason; retry later)
        ├── PermanentGatewayError       (carries a FailureReason; never retry)
        ├── WebhookVerificationError    (PermissionError)
        └── MalformedWebhook            (ValueError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smscampaign.domain.delivery import FailureReason

__all__ = [
    "AlreadyExists",
    "ConfigurationError",
    "GatewayError",
    "ImportFailed",
    "InvalidCampaign",
    "InvalidEvent",
    "InvalidPhoneNumber",
    "InvalidStep",
    "InvalidTransition",
    "MalformedWebhook",
    "MissingDependency",
    "MissingField",
    "NaiveDatetimeError",
    "NotFound",
    "PermanentGatewayError",
    "ScheduleError",
    "SchemaError",
    "SmsCampaignError",
    "StorageError",
    "SuppressedNumber",
    "SuppressionLiftRefused",
    "TemplateError",
    "TemporaryGatewayError",
    "WebhookVerificationError",
]


class SmsCampaignError(Exception):
    """The root of every error the library raises on bad input or bad state.

    Args:
        message: What was wrong, naming the value.
        value: The offending value, kept for programs that handle the error.
    """

    def __init__(self, message: str, *, value: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.value = value

    def __str__(self) -> str:
        return self.message


class InvalidPhoneNumber(SmsCampaignError, ValueError):
    """A phone number could not be parsed or is not valid.

    Attributes:
        reason: A short lower_snake reason (``not_a_number``, ``invalid_country_code``,
            ``too_short``, ``too_long``, ``not_valid_for_region``, ``not_possible``).
    """

    def __init__(self, message: str, *, value: Any = None, reason: str = "invalid") -> None:
        super().__init__(message, value=value)
        self.reason = reason


class NaiveDatetimeError(SmsCampaignError, ValueError):
    """A datetime without a time zone was given where an aware one is required."""


class InvalidCampaign(SmsCampaignError, ValueError):
    """A campaign's definition is inconsistent (steps, template, schedule, options)."""


class InvalidStep(InvalidCampaign):
    """A campaign's steps are not one INVITE, then REMINDERs, then at most one THANK_YOU."""


class TemplateError(SmsCampaignError, ValueError):
    """A message template is malformed (unbalanced braces, bad placeholder)."""


class MissingField(TemplateError):
    """A template names a field the recipient does not have.

    Attributes:
        field: The placeholder that could not be filled.
    """

    def __init__(self, message: str, *, value: Any = None, field: str = "") -> None:
        super().__init__(message, value=value)
        self.field = field


class InvalidTransition(SmsCampaignError, RuntimeError):
    """A state machine was asked for a transition it does not allow."""


class InvalidEvent(SmsCampaignError, ValueError):
    """A status event cannot apply to the attempt it was given to."""


class ScheduleError(SmsCampaignError, ValueError):
    """A send window, throttle or schedule is malformed."""


class ImportFailed(SmsCampaignError, ValueError):
    """A recipient list cannot be read at all (unreadable file, no phone column)."""


class ConfigurationError(SmsCampaignError, ValueError):
    """A campaign file, option or adapter setting is wrong."""


class MissingDependency(SmsCampaignError, ImportError):
    """An optional extra is needed for this feature; the message names the pip command."""


class SuppressedNumber(SmsCampaignError, PermissionError):
    """A message was asked for a number that must not be sent to (suppressed, or opted out).

    Attributes:
        e164: The number.
        cause: Why it must not be sent to (a suppression cause, or ``"opted_out"``).
    """

    def __init__(self, message: str, *, value: Any = None, e164: str = "", cause: str = "") -> None:
        super().__init__(message, value=value)
        self.e164 = e164
        self.cause = cause


class SuppressionLiftRefused(SmsCampaignError, PermissionError):
    """A number may not be taken off the suppression list by hand.

    A stop word (or a carrier opt-out) is the recipient's own decision: only
    their own opt-in (START) undoes it.

    Attributes:
        e164: The number.
        cause: The suppression's cause.
    """

    def __init__(self, message: str, *, value: Any = None, e164: str = "", cause: str = "") -> None:
        super().__init__(message, value=value)
        self.e164 = e164
        self.cause = cause


class StorageError(SmsCampaignError):
    """A storage adapter failed; the driver's error is chained as ``__cause__``."""


class NotFound(StorageError, LookupError):
    """No row has that key (contact, campaign, recipient, send)."""


class AlreadyExists(StorageError, ValueError):
    """A row with that key exists already."""


class SchemaError(StorageError, RuntimeError):
    """The database schema is newer than this library, or a migration failed."""


class GatewayError(SmsCampaignError):
    """A provider refused or failed a request.

    Attributes:
        reason: The normalized :class:`~smscampaign.FailureReason`.
        provider_code: The provider's own error code, as text, if any.
        provider_text: The provider's own message, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        value: Any = None,
        reason: FailureReason | None = None,
        provider_code: str | None = None,
        provider_text: str | None = None,
    ) -> None:
        super().__init__(message, value=value)
        self.reason = reason
        self.provider_code = provider_code
        self.provider_text = provider_text


class TemporaryGatewayError(GatewayError):
    """The provider failed for now; the same message may be retried later."""


class PermanentGatewayError(GatewayError):
    """The provider refused the message for good; retrying cannot help."""


class WebhookVerificationError(GatewayError, PermissionError):
    """A webhook's signature did not verify. Deliberately vague about why."""


class MalformedWebhook(GatewayError, ValueError):
    """A webhook's body could not be parsed as the provider's format."""

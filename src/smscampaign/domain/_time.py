"""Helpers that keep every time in the library timezone-aware."""

from __future__ import annotations

from datetime import datetime

from smscampaign.errors import NaiveDatetimeError

__all__ = ["optional_aware", "require_aware"]


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return ``value`` unchanged if it is an aware datetime, else raise.

    Args:
        value: The datetime to check.
        name: The field name used in the error message.

    Raises:
        NaiveDatetimeError: ``value`` has no time zone (or one that gives no offset).
        TypeError: ``value`` is not a datetime at all.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{name} must be timezone-aware, got naive {value.isoformat()}; "
            "attach a zone, e.g. datetime(..., tzinfo=timezone.utc)",
            value=value,
        )
    return value


def optional_aware(value: datetime | None, name: str = "datetime") -> datetime | None:
    """Like :func:`require_aware`, but ``None`` passes through."""
    return None if value is None else require_aware(value, name)

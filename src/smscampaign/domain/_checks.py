"""Validators and converters that fail with our typed errors, naming the field and value.

attrs' built-in validators and Enum constructors raise plain ``ValueError``
or ``TypeError``; DESIGN promises an :class:`~smscampaign.errors.SmsCampaignError`
subclass for every bad input, so these wrappers translate at the boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from smscampaign.errors import ConfigurationError, SmsCampaignError

__all__ = ["checked", "to_enum"]

E = TypeVar("E", bound=Enum)


def checked(
    validator: Callable[[Any, Any, Any], Any], error: type[SmsCampaignError] = ConfigurationError
) -> Callable[[Any, Any, Any], None]:
    """Wrap an attrs validator so its ValueError or TypeError becomes ``error``."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        try:
            validator(instance, attribute, value)
        except SmsCampaignError:
            raise
        except (ValueError, TypeError) as exc:
            owner = type(instance).__name__
            raise error(
                f"{owner}.{attribute.name} = {value!r} is not allowed: {exc}", value=value
            ) from exc

    return check


def to_enum(enum: type[E], value: Any, error: type[SmsCampaignError] = ConfigurationError) -> E:
    """``enum(value)``, failing with ``error`` that names the allowed values."""
    if type(value) is enum:
        return value  # already a member: skip the Enum call, a hot path in bulk loads
    try:
        return enum(value)
    except ValueError as exc:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise error(
            f"{value!r} is not a {enum.__name__}; use one of {allowed}", value=value
        ) from exc

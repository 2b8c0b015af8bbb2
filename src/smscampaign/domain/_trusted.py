"""Rebuilding frozen attrs objects from values that already passed their checks.

attrs' ``__init__`` converts and validates every field, and ``attrs.evolve``
adds a generic copy on top. That is right wherever values come from outside.
A few bulk paths inside the library rebuild objects only from values that
were checked already: an attempt folding in a provider event (every new value
comes from the attempt or from a validated event), a send read back from the
document storage wrote, contacts and recipients read back from the columns
storage wrote, at dispatch the queued send, the receipt's event, the new
attempt with the receipt folded in and the outbound message (its checks made
inline) the runner builds from values it has just made, and the receipts the
simulated carrier makes. At a hundred
thousand receipts or sends the checks are most of the cost, so those paths
store the values as given.

Each use says why its values are valid, and is paired with a test that it
gives exactly what the checked constructor gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["builder", "evolver"]

T = TypeVar("T")


def _compile(cls: type[Any], name: str, source: str) -> Callable[..., Any]:
    """Compile generated code, as attrs does for ``__init__``, with a slot setter per field."""
    if "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} must be a slotted attrs class")
    if {"obj", "copy", "changes"} & set(_names(cls)):
        raise TypeError(f"{cls.__name__} has a field named like a local of the generated code")
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for field in attrs.fields(cls):
        scope[f"_set_{field.name}"] = getattr(cls, field.name).__set__
    exec(compile(source, f"<smscampaign {name} {cls.__qualname__}>", "exec"), scope)
    function: Callable[..., Any] = scope[name]
    return function


def _names(cls: type[Any]) -> list[str]:
    return [field.name for field in attrs.fields(cls)]


def builder(cls: type[T]) -> Callable[..., T]:
    """A constructor for ``cls`` taking every field by name and storing it as given.

    No converter, validator, default or ``__attrs_post_init__`` runs; every
    field must be given, ``init=False`` ones included.
    """
    names = _names(cls)
    source = "\n".join(
        [
            f"def build(*, {', '.join(names)}):",
            "    obj = _new(_cls)",
            *(f"    _set_{name}(obj, {name})" for name in names),
            "    return obj",
        ]
    )
    return _compile(cls, "build", source)


def evolver(cls: type[T]) -> Callable[..., T]:
    """``attrs.evolve(obj, **changes)`` for ``cls``, storing the changes as given.

    Fields not changed keep the object's values, ``init=False`` ones
    included: the caller changes what they derive from and what they hold
    together. An unknown name in ``changes`` is ignored.
    """
    names = _names(cls)
    source = "\n".join(
        [
            "def evolve(obj, **changes):",
            "    copy = _new(_cls)",
            *(
                f"    _set_{name}(copy, changes[{name!r}] if {name!r} in changes else obj.{name})"
                for name in names
            ),
            "    return copy",
        ]
    )
    return _compile(cls, "evolve", source)

"""A read-only, hashable mapping for the free-form fields of frozen objects."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

__all__ = ["FrozenMap", "freeze"]

V = TypeVar("V")


class FrozenMap(Mapping[str, V]):
    """An immutable ``str``-keyed mapping that hashes by content.

    Frozen domain objects hold custom fields and raw provider payloads; a plain
    ``dict`` would let callers mutate them behind the object's back and would
    make the object unhashable.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, V] | None = None) -> None:
        self._data: dict[str, V] = dict(data) if data else {}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """The value for ``key``, or ``default``."""
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def to_dict(self) -> dict[str, V]:
        """A plain ``dict`` copy (a C-level copy, unlike ``dict(frozen_map)``)."""
        return self._data.copy()

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset((k, _hashable(v)) for k, v in self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | FrozenMap):
        return frozenset((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value


def freeze(data: Mapping[str, V] | None) -> FrozenMap[V]:
    """Return ``data`` as a :class:`FrozenMap` (unchanged if it is one already)."""
    if isinstance(data, FrozenMap):
        return data
    return FrozenMap(data)

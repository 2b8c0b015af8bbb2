"""Small shims so the library runs on every supported Python (3.10 and newer)."""

from __future__ import annotations

import enum
import sys

__all__ = ["StrEnum"]

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - exercised only on Python 3.10

    class StrEnum(str, enum.Enum):
        """An enum whose members are also strings; ``str(member)`` is its value."""

        def __str__(self) -> str:
            return str(self.value)

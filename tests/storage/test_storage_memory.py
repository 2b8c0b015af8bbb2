"""The storage contract and agreement machine, run against InMemoryStorage."""

from __future__ import annotations

from pathlib import Path

from smscampaign.providers.base import Storage
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.testing.contracts import StorageContract


class TestInMemoryStorageContract(StorageContract):
    """InMemoryStorage meets the storage contract."""

    def make_storage(self, tmp_path: Path) -> Storage:
        """A fresh in-memory storage."""
        return InMemoryStorage()

"""Each adapter, driven by a Hypothesis state machine, answers as the reference does."""

from __future__ import annotations

from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.testing.contracts import storage_agreement

TestSQLiteAgreesWithReference = storage_agreement(lambda: SQLiteStorage(":memory:")).TestCase
TestSQLiteAgreesWithReference.__doc__ = "SQLiteStorage answers every call as InMemoryStorage does."

TestMemoryAgreesWithItself = storage_agreement(InMemoryStorage, max_examples=10).TestCase
TestMemoryAgreesWithItself.__doc__ = "The machine itself runs clean on two reference storages."

"""Adapters: where rows are kept (Storage) and how carriers are reached (Gateway).

The protocols live in :mod:`smscampaign.providers.base`. Storage adapters:
:class:`~smscampaign.providers.memory.InMemoryStorage` (the reference, for
tests), :class:`~smscampaign.providers.sqlite.SQLiteStorage` (the embedded
default) and :class:`~smscampaign.providers.postgres.PostgresStorage` (many
workers, one PostgreSQL). Import an adapter from its own module; this package
imports none, so importing it costs nothing and pulls in no driver.
"""

"""Tools for testing applications built on smscampaign.

``smscampaign.testing.strategies`` holds Hypothesis strategies for every domain
object; ``smscampaign.testing.contracts`` holds the conformance suites that a
storage or gateway adapter author runs; ``smscampaign.testing.postgres_server``
starts a throwaway PostgreSQL for tests and benchmarks. None is imported by
``smscampaign`` itself, so Hypothesis and pytest stay test-time dependencies.
"""

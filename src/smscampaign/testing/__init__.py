"""Tools for testing applications built on smscampaign.

``smscampaign.testing.strategies`` holds Hypothesis strategies for every domain
object; ``smscampaign.testing.contracts`` holds the conformance suites that a
storage or gateway adapter author runs. Neither is imported by ``smscampaign``
itself, so Hypothesis and pytest stay test-time dependencies.
"""

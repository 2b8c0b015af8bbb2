"""Test configuration: Hypothesis profiles and shared fixtures."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI runs a fixed, derandomized profile so a red build is reproducible;
# developers get the default profile, which explores new examples each run.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

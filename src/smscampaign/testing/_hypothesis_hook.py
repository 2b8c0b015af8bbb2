"""The ``hypothesis`` entry point: registers smscampaign's types when Hypothesis loads.

Hypothesis calls the hook while it is still initializing, possibly because
:mod:`smscampaign.testing.strategies` itself is importing Hypothesis. So the
hook only names the types, and each registered strategy is deferred: the
strategies module is looked up the first time a value is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REGISTERED_TYPES = (
    "Attempt",
    "Campaign",
    "Contact",
    "InboundMessage",
    "KeywordSet",
    "PhoneNumber",
    "Recipient",
    "ReplyClassification",
    "RetryPolicy",
    "Send",
    "StatusEvent",
    "Suppression",
)


def _hypothesis_setup_hook() -> None:
    from hypothesis import strategies as st

    from smscampaign import domain

    for name in REGISTERED_TYPES:
        type_ = getattr(domain, name)
        st.register_type_strategy(type_, st.deferred(_strategy_for(type_)))


def _strategy_for(type_: type) -> Callable[[], Any]:
    def definition() -> Any:
        from smscampaign.testing.strategies import type_strategies

        return type_strategies()[type_]

    return definition

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
    "smscampaign.providers.gateway:OutboundMessage",
    "smscampaign.providers.gateway:SendReceipt",
    "smscampaign.providers.gateway:WebhookRequest",
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

    for name in REGISTERED_TYPES:
        type_ = resolve(name)
        st.register_type_strategy(type_, st.deferred(_strategy_for(type_)))


def resolve(name: str) -> type:
    """The type ``name`` stands for: ``"module:Name"``, or a name in :mod:`smscampaign.domain`."""
    import importlib

    module, _, attr = name.rpartition(":")
    found: type = getattr(importlib.import_module(module or "smscampaign.domain"), attr)
    return found


def _strategy_for(type_: type) -> Callable[[], Any]:
    def definition() -> Any:
        from smscampaign.testing.strategies import type_strategies

        return type_strategies()[type_]

    return definition

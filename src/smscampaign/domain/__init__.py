"""Value objects and state machines of an SMS campaign; no I/O.

Everything here is re-exported from :mod:`smscampaign`.
"""

from smscampaign.domain.campaign import (
    Campaign,
    CampaignOptions,
    CampaignState,
    Step,
    StepKind,
    Template,
    TimelineAction,
    TimelineEntry,
)
from smscampaign.domain.contact import (
    DEFAULT_ACCOUNT,
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    ResponseStatus,
    Suppression,
    SuppressionCause,
)
from smscampaign.domain.delivery import (
    Attempt,
    DeliveryStatus,
    FailureReason,
    Permanence,
    RetryPolicy,
    Send,
    StatusEvent,
    derive_send_status,
)
from smscampaign.domain.phone import NumberKind, PhoneNumber
from smscampaign.domain.replies import (
    DEFAULT_KEYWORDS,
    InboundMessage,
    Keyword,
    KeywordSet,
    MatchRule,
    ReplyClassification,
    classify_reply,
)
from smscampaign.domain.segments import Encoding, SegmentInfo, analyze, count_segments

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_KEYWORDS",
    "Attempt",
    "Campaign",
    "CampaignOptions",
    "CampaignState",
    "Consent",
    "Contact",
    "ContactStatus",
    "DeliveryStatus",
    "Encoding",
    "FailureReason",
    "InboundMessage",
    "Keyword",
    "KeywordSet",
    "MatchRule",
    "NumberKind",
    "Permanence",
    "PhoneNumber",
    "Recipient",
    "ReplyClassification",
    "ResponseStatus",
    "RetryPolicy",
    "SegmentInfo",
    "Send",
    "StatusEvent",
    "Step",
    "StepKind",
    "Suppression",
    "SuppressionCause",
    "Template",
    "TimelineAction",
    "TimelineEntry",
    "analyze",
    "classify_reply",
    "count_segments",
    "derive_send_status",
]

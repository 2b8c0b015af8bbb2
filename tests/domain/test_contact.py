"""Contacts, recipients and suppression entries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscampaign import (
    ConfigurationError,
    Consent,
    Contact,
    ContactStatus,
    InvalidTransition,
    PhoneNumber,
    Recipient,
    ResponseStatus,
    Send,
    Suppression,
    SuppressionCause,
)
from smscampaign.domain._frozen import FrozenMap
from smscampaign.testing.strategies import contacts, recipients

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=timezone.utc)
PHONE = PhoneNumber.parse("(212) 555-0123", "US")


class TestContact:
    """A contact's fields are normalized, and its template values are complete."""

    def test_defaults_are_conservative(self) -> None:
        contact = Contact(id="1", phone=PHONE)
        assert contact.consent is Consent.PENDING_OPT_IN
        assert contact.account == "default"

    def test_custom_fields_are_normalized(self) -> None:
        contact = Contact(id="1", phone=PHONE, fields={"Survey Link": "https://x", "Team ": None})
        assert dict(contact.fields) == {"survey_link": "https://x", "team": ""}

    @given(
        st.dictionaries(
            st.sampled_from(["Survey Link", "survey_link", "Team ", "Prénom", "x"]),
            st.none() | st.text(max_size=4) | st.integers(),
            max_size=4,
        )
    )
    def test_a_frozen_map_of_fields_is_normalized_as_a_dict_is(
        self, fields: dict[str, object]
    ) -> None:
        """Fields given as a FrozenMap get the dict's treatment: no None, placeholder keys."""
        from_dict = Contact(id="1", phone=PHONE, fields=fields)
        from_map = Contact(id="1", phone=PHONE, fields=FrozenMap(fields))
        assert from_map.fields == from_dict.fields
        assert all(isinstance(v, str) for v in from_map.fields.values())
        recipient = Recipient(campaign_id="c1", contact=from_dict, fields=FrozenMap(fields))
        assert recipient.fields == from_dict.fields
        assert Contact(id="1", phone=PHONE, fields=from_dict.fields).fields is from_dict.fields

    def test_accented_column_names_become_plain_placeholders(self) -> None:
        contact = Contact(id="1", phone=PHONE, fields={"Prénom": "Zoë", "Código Postal": "1"})
        assert dict(contact.fields) == {"prenom": "Zoë", "codigo_postal": "1"}

    def test_standard_fields_win_over_custom_columns(self) -> None:
        contact = Contact(id="1", phone=PHONE, first_name="Tom", fields={"First Name": "Bob"})
        assert contact.template_values()["first_name"] == "Tom"

    def test_fields_are_read_only(self) -> None:
        contact = Contact(id="1", phone=PHONE, fields={"a": "1"})
        with pytest.raises(TypeError):
            contact.fields["a"] = "2"  # type: ignore[index]

    def test_empty_id_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="id"):
            Contact(id=" ", phone=PHONE)

    def test_unknown_zone_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="Nowhere/Land"):
            Contact(id="1", phone=PHONE, time_zone="Nowhere/Land")

    @given(contacts())
    def test_generated_contacts_are_hashable_and_equal_to_themselves(self, c: Contact) -> None:
        assert hash(c) == hash(c)
        assert c.template_values()["phone"] == c.phone.e164


class TestRecipient:
    """A recipient carries its sends; replacing a send keeps the others."""

    def recipient(self) -> Recipient:
        return Recipient(campaign_id="c1", contact=Contact(id="r1", phone=PHONE))

    def send(self, step: str = "invite") -> Send:
        return Send(campaign_id="c1", recipient_id="r1", step_id=step, to=PHONE.e164, created_at=T0)

    def test_with_send_adds_then_replaces(self) -> None:
        send = self.send()
        recipient = self.recipient().with_send(send)
        updated = send.start_attempt(at=T0 + timedelta(minutes=1))
        recipient = recipient.with_send(updated)
        assert recipient.sends == (updated,)
        assert recipient.latest_send("invite") == updated
        assert recipient.latest_send("r1") is None

    def test_send_of_another_recipient_refused(self) -> None:
        other = Send(campaign_id="c1", recipient_id="x", step_id="i", to="+1", created_at=T0)
        with pytest.raises(InvalidTransition, match="belongs"):
            self.recipient().with_send(other)

    def test_recipient_fields_overlay_contact(self) -> None:
        recipient = Recipient(
            campaign_id="c1",
            contact=Contact(id="r1", phone=PHONE, fields={"survey_link": "old"}),
            fields={"survey_link": "new"},
        )
        assert recipient.template_values()["survey_link"] == "new"

    def test_status_changes_return_new_objects(self) -> None:
        recipient = self.recipient()
        assert recipient.with_status(ContactStatus.INACTIVE).status is ContactStatus.INACTIVE
        assert recipient.with_response("complete").response is ResponseStatus.COMPLETE
        assert recipient.status is ContactStatus.ACTIVE

    @given(recipients())
    def test_generated_recipients_are_consistent(self, recipient: Recipient) -> None:
        for send in recipient.sends:
            assert send.recipient_id == recipient.id
            assert send.campaign_id == recipient.campaign_id


class TestSuppression:
    """Suppression entries are keyed by E.164 and say which causes an opt-in lifts."""

    def test_bad_number_refused(self) -> None:
        with pytest.raises(ValueError, match="e164"):
            Suppression(e164="2125550123", cause="manual", at=T0)

    def test_only_opt_outs_are_lifted_by_opt_in(self) -> None:
        assert SuppressionCause.STOP_WORD.lifted_by_opt_in
        assert not SuppressionCause.HARD_BOUNCE.lifted_by_opt_in
        assert not SuppressionCause.MANUAL.lifted_by_opt_in


class TestTypedErrors:
    """Bad values get an SmsCampaignError naming the field and value, never a bare ValueError."""

    @pytest.mark.parametrize(
        "make",
        [
            lambda: Contact(id="1", phone=PHONE, consent="maybe"),
            lambda: Contact(id="1", phone="+12125550123"),  # type: ignore[arg-type]
            lambda: Recipient(campaign_id="c", contact=Contact(id="1", phone=PHONE), status="gone"),
            lambda: Suppression(e164="12", cause="manual", at=T0),
            lambda: Suppression(e164="+12125550123", cause="because", at=T0),
        ],
    )
    def test_bad_values_raise_our_errors(self, make: object) -> None:
        from smscampaign import SmsCampaignError

        with pytest.raises(SmsCampaignError) as info:
            make()  # type: ignore[operator]
        assert isinstance(info.value, ValueError)

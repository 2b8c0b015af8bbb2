"""Every shipped strategy draws values that construct and validate."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from smscampaign.testing import strategies as S
from smscampaign.testing._hypothesis_hook import REGISTERED_TYPES, resolve


class TestRegistration:
    """The ``hypothesis`` entry point registers a strategy for every domain type."""

    def test_hook_names_every_type_with_a_strategy(self) -> None:
        assert set(S.type_strategies()) == {resolve(name) for name in REGISTERED_TYPES}

    @pytest.mark.parametrize("name", REGISTERED_TYPES)
    def test_from_type_draws_the_type(self, name: str) -> None:
        type_ = resolve(name)

        @settings(max_examples=10)
        @given(st.from_type(type_))
        def check(value: object) -> None:
            assert isinstance(value, type_)

        check()


class TestValuesValidate:
    """Drawn attrs values survive re-validation: rebuilding them from their fields works."""

    @pytest.mark.parametrize("name", REGISTERED_TYPES)
    def test_values_rebuild(self, name: str) -> None:
        type_ = resolve(name)
        if not attrs.has(type_):
            pytest.skip(f"{name} is not an attrs class")

        @settings(max_examples=15)
        @given(S.type_strategies()[type_])
        def check(value: object) -> None:
            attrs.validate(value)  # type: ignore[arg-type]
            init = {a.alias: getattr(value, a.name) for a in attrs.fields(type_) if a.init}
            assert type_(**init) == value

        check()


class TestBadArguments:
    """Strategies refuse arguments that make no sense, with InvalidArgument."""

    @pytest.mark.parametrize(
        "make",
        [
            lambda: S.contacts(consents=[]),
            lambda: S.campaigns(states=[]),
            lambda: S.steps(reminders=-1),
            lambda: S.status_events(statuses=[]),
            lambda: S.status_events(parts=0),
            lambda: S.sends(statuses=[]),
            lambda: S.attempts(number=0),
            lambda: S.send_histories(max_events=-1),
        ],
    )
    def test_invalid_argument(self, make: object) -> None:
        @given(st.data())
        def check(data: st.DataObject) -> None:
            data.draw(make())  # type: ignore[operator]

        with pytest.raises(InvalidArgument):
            check()

    def test_aware_bounds_required(self) -> None:
        import datetime as dt

        with pytest.raises(InvalidArgument):
            S.aware_datetimes(min_value=dt.datetime(2026, 1, 1))

"""The public surface of the package, pinned."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import smscampaign


class TestPublicSurface:
    """``smscampaign.__all__`` is sorted and names exactly what the package exposes."""

    def test_all_is_sorted(self) -> None:
        assert smscampaign.__all__ == sorted(smscampaign.__all__, key=_ruff_key)

    def test_all_matches_exposed_names(self) -> None:
        exposed = {
            name
            for name, value in vars(smscampaign).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        }
        assert set(smscampaign.__all__) - {"__version__"} == exposed

    def test_every_name_resolves(self) -> None:
        for name in smscampaign.__all__:
            assert getattr(smscampaign, name) is not None

    def test_importing_the_package_does_not_import_test_tools(self) -> None:
        code = (
            "import sys, smscampaign; "
            "heavy = ('hypothesis', 'pytest', 'smscampaign.testing'); "
            "print(','.join(m for m in heavy if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == ""


class TestErrors:
    """Every error derives from SmsCampaignError, and leaves mean their builtin."""

    def test_every_error_derives_from_the_root(self) -> None:
        errors = importlib.import_module("smscampaign.errors")
        for name in errors.__all__:
            assert issubclass(getattr(errors, name), smscampaign.SmsCampaignError)

    def test_leaves_subclass_the_builtin_they_mean(self) -> None:
        assert issubclass(smscampaign.InvalidPhoneNumber, ValueError)
        assert issubclass(smscampaign.NaiveDatetimeError, ValueError)
        assert issubclass(smscampaign.NotFound, LookupError)
        assert issubclass(smscampaign.MissingDependency, ImportError)
        assert issubclass(smscampaign.WebhookVerificationError, PermissionError)

    def test_errors_carry_the_value(self) -> None:
        error = smscampaign.ScheduleError("bad window 'mon 25:00'", value="mon 25:00")
        assert error.value == "mon 25:00"
        assert str(error) == "bad window 'mon 25:00'"


def _ruff_key(name: str) -> tuple[int, str]:
    # isort-style, as ruff's RUF022 sorts it: CONSTANTS, then Classes, then the rest.
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)

"""The runner where units of work run side by side: PostgreSQL, and SQLite across threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _runner_harness import NEW_YORK, World

from smscampaign.domain.contact import ContactStatus, ResponseStatus
from smscampaign.providers.sqlite import SQLiteStorage


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A storage several threads use at once, each in its own unit of work."""
    if request.param == "sqlite":
        storage = SQLiteStorage(tmp_path / "runner.db")
        yield storage
        storage.close()
    else:
        pytest.importorskip("psycopg", reason="needs the extra: pip install -e '.[postgres]'")
        yield request.getfixturevalue("make_postgres")(max_size=4)


def test_an_opt_out_during_a_response_update_is_kept(
    shared_storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A STOP that arrives while responses are being saved is not overwritten by them.

    The response update reads the recipient and waits before writing; the
    STOP comes in meanwhile. Both hold the campaign, so the STOP waits for
    the update to commit (SQLite: for its write lock) and then changes the
    recipient as updated: it ends
    unsubscribed with its response kept. Without the hold the update would
    write back the status it read, and the recipient would be active again.
    """
    storage = shared_storage
    world = World(storage)
    world.campaign(numbers=[NEW_YORK[0]])
    original = storage.get_recipients
    read, release = threading.Event(), threading.Event()

    def pausing(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        if threading.current_thread().name == "responses":
            read.set()
            release.wait(10)
        return found

    monkeypatch.setattr(storage, "get_recipients", pausing)
    errors: list[BaseException] = []

    def in_thread(work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        return run

    responses = threading.Thread(
        target=in_thread(
            lambda: world.runner.update_responses("c1", [("k0", ResponseStatus.COMPLETE)])
        ),
        name="responses",
    )
    responses.start()
    assert read.wait(10)
    reply = threading.Thread(target=in_thread(lambda: world.reply(NEW_YORK[0], "STOP")))
    reply.start()
    reply.join(0.5)
    assert reply.is_alive()  # waiting for the response update's unit of work
    release.set()
    responses.join(10)
    reply.join(10)
    assert errors == []
    recipient = storage.get_recipient("c1", "k0")
    assert recipient.status is ContactStatus.UNSUBSCRIBED
    assert recipient.response is ResponseStatus.COMPLETE
    assert storage.get_suppression(NEW_YORK[0]) is not None

"""Benchmark ``plan``: 10,000,000 recipients in 50 zone groups over a 30-day campaign.

The baseline is :func:`smscampaign.scheduling.simulate`, the message-by-message
reference the closed-form plan must equal, run in the same process on a slice
of the same groups (the same 50 groups, 1/500 of the recipients) and
extrapolated linearly to the full count: its cost is per message.

Run: ``.venv/bin/python bench/scheduling.py``
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, peak_mb, timed

from smscampaign.scheduling import Schedule, ZoneGroup, simulate

N = 10_000_000
SLICE = 500
TARGET_S = 0.020
TARGET_RATIO = 1000

_ZONES = (
    ("America/New_York", "US", None),
    ("America/New_York", "US", "FL"),
    ("America/New_York", "US", "MD"),
    ("America/New_York", "US", "CT"),
    ("America/Chicago", "US", None),
    ("America/Chicago", "US", "TX"),
    ("America/Chicago", "US", "OK"),
    ("America/Denver", "US", None),
    ("America/Los_Angeles", "US", None),
    ("America/Los_Angeles", "US", "WA"),
    ("Europe/Paris", "FR", None),
)


def groups(schedule: Schedule) -> list[ZoneGroup]:
    """Fifty distinct zone signatures: single zones, split area codes, legal keys."""
    out: list[ZoneGroup] = []
    for zone, region, state in _ZONES:
        out.append(schedule.group_for((zone,), region=region, subdivision=state))
    splits = (
        ("America/Boise", "America/Los_Angeles"),
        ("America/Denver", "America/North_Dakota/Center"),
        ("America/Chicago", "America/New_York"),
        ("America/Denver", "America/Phoenix"),
    )
    for pair in splits:
        out.append(schedule.group_for(pair, region="US"))
    extra = (
        "America/Anchorage", "Pacific/Honolulu", "America/Phoenix", "America/Detroit",
        "America/Indiana/Indianapolis", "America/Kentucky/Louisville", "America/Puerto_Rico",
        "Europe/London", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Lisbon",
        "Europe/Dublin", "Europe/Amsterdam", "Europe/Brussels", "Europe/Vienna",
        "Europe/Warsaw", "Europe/Athens", "Europe/Helsinki", "Europe/Stockholm",
        "Europe/Oslo", "Europe/Copenhagen", "Europe/Prague", "Europe/Zurich",
        "America/Toronto", "America/Vancouver", "America/Halifax", "America/Winnipeg",
        "America/Edmonton", "America/Regina", "America/St_Johns", "America/Mexico_City",
        "America/Sao_Paulo", "America/Bogota", "Australia/Sydney",
    )  # fmt: skip
    for zone in extra:
        out.append(schedule.group_for((zone,)))
    assert len(set(out)) == 50, len(set(out))
    return out


def main() -> None:
    paris = ZoneInfo("America/New_York")
    schedule_args = {
        "time_zone": "America/New_York",
        "window": "mon-fri 09:00-20:00; sat 10:00-16:00; in recipient zone",
        "throttle": "100/s; 300000/day",
        "starts_at": datetime(2026, 3, 2, tzinfo=paris),
        "ends_at": datetime(2026, 4, 1, tzinfo=paris),
    }
    probe = Schedule.from_spec(**schedule_args)  # type: ignore[arg-type]
    zone_groups = groups(probe)
    full = {g: N // len(zone_groups) for g in zone_groups}
    part = {g: N // len(zone_groups) // SLICE for g in zone_groups}

    def ours() -> object:
        # A fresh schedule each call, so no interval cache carries over.
        return Schedule.from_spec(**schedule_args).plan(full)  # type: ignore[arg-type]

    ours_s = timed(ours, repeat=7)
    start = time.perf_counter()
    sliced = simulate(Schedule.from_spec(**schedule_args), part)  # type: ignore[arg-type]
    slice_s = time.perf_counter() - start
    baseline_s = slice_s * N / sliced.requested
    result = Schedule.from_spec(**schedule_args).plan(full)  # type: ignore[arg-type]
    check = Schedule.from_spec(**schedule_args).plan(part)  # type: ignore[arg-type]
    assert check == sliced, "plan and simulate disagree on the slice"
    emit(
        "plan",
        n=N,
        ours_s=ours_s,
        baseline="simulate() per message on 1/500 slice, extrapolated",
        baseline_s=baseline_s,
        target=f"<= {TARGET_S * 1000:.0f} ms and >= {TARGET_RATIO}x naive",
        peak_mb=peak_mb(ours),
        groups=len(zone_groups),
        days=30,
        sent=result.sent,
        unreached=result.unreached,
        slots=len(result.slots),
        slice_n=sliced.requested,
        slice_s=round(slice_s, 4),
    )


if __name__ == "__main__":
    main()

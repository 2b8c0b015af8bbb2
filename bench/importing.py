"""Benchmark ``import``: a generated CSV recipient list imported into SQLiteStorage.

``ours_s`` is :func:`smscampaign.importing.import_recipients` reading a
100,000-row CSV (phone, first and last name, email, a survey link; a few
invalid and duplicate rows) into a fresh SQLite file, campaign recipients
included, in one unit of work. The baseline, measured in the same run over
the same rows, is the bare floor every importer pays: ``csv`` reading plus
``phonenumbers.parse`` + ``is_valid_number`` + ``format_number(E164)``.
Target: ours <= 1.3 x the floor (reported ``ratio`` = floor / ours >= 0.77).

``peak_mb`` is tracemalloc's peak while importing ``--peak-rows`` rows
(default 1,000,000; the target is <= 200 MB), run once after the timing.

Run: ``.venv/bin/python bench/importing.py [--rows N] [--peak-rows N]``
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phonenumbers
from _common import emit, peak_mb

from smscampaign.domain.phone import PhoneNumber
from smscampaign.importing import import_recipients
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.testing.contracts import make_campaign

TARGET = "ours <= 1.3 x floor (ratio >= 0.77); peak <= 200 MB at 1,000,000 rows"


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    """A recipient list like a CRM export: mostly valid US mobiles, some bad rows."""
    rng = random.Random(seed)
    area = [212, 312, 415, 617, 202, 305, 713, 206]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Phone (Mobile)", "First Name", "Last Name", "Email", "Survey Link"])
        for i in range(rows):
            roll = rng.random()
            if roll < 0.005:
                phone = "not a number"
            elif roll < 0.01:
                phone = f"({rng.choice(area)}) 555-01{i % 100:02d}"  # repeats: duplicates
            else:
                phone = f"({rng.choice(area)}) {rng.randint(201, 989)}-{rng.randint(0, 9999):04d}"
            w.writerow([phone, f"First{i}", "Last", f"p{i}@example.com", f"https://s.io/{i}"])


def ours(path: Path, workdir: Path) -> float:
    """Time one import into a fresh database."""
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    storage = SQLiteStorage(db)
    storage.add_campaign(make_campaign("bench"))
    start = time.perf_counter()
    summary = import_recipients(path, storage, campaign_id="bench")
    elapsed = time.perf_counter() - start
    assert summary.accounted == summary.rows
    storage.close()
    return elapsed


def floor(path: Path) -> float:
    """Time csv reading plus parse, is_valid and E.164 formatting of every phone cell."""
    start = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            try:
                number = phonenumbers.parse(row[0], "US")
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return time.perf_counter() - start


def main() -> None:
    """Measure and print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--peak-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "list.csv"
        write_csv(path, args.rows)
        PhoneNumber.parse("2125550123", "US")  # load the US metadata outside the timings
        floor(path)
        ours_s = min(ours(path, workdir) for _ in range(2))
        floor_s = min(floor(path) for _ in range(2))
        big = workdir / "big.csv"
        write_csv(big, args.peak_rows, seed=2)
        peak = peak_mb(lambda: ours(big, workdir))
    emit(
        "import",
        n=args.rows,
        ours_s=ours_s,
        baseline="csv reading + phonenumbers parse + is_valid_number + format E.164, same rows",
        baseline_s=floor_s,
        target=TARGET,
        peak_mb=peak,
        peak_rows=args.peak_rows,
        met=ours_s <= 1.3 * floor_s and peak <= 200,
    )


if __name__ == "__main__":
    main()

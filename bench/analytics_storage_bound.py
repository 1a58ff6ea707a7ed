#!/usr/bin/env python3
"""What SQLite alone can store, before any Swift runs: the ceiling the raw-event schema puts on analytics ingestion.

Writes EVENTS rows into a fresh SQLite file with the pragmas of the analytics writer (WAL, synchronous=FULL, a 64 MB
page cache, temp_store=MEMORY, a checkpoint every 8,000 pages), in transactions of GROUP rows (one group commit of
8 batches of 1000), with the time order of `bench/analytics-ingest ARRIVAL=ordered`: event times rise through 30
days, ids are random UUIDs and users random among 200,000. Every group's rows are built before its clock starts;
only `executemany` and the commit are timed, so the figures are SQLite's (Python's sqlite3 module calls the C
library directly, one prepared statement for the whole group).

Schemas (`--schema`, repeatable; all by default):
  current      the analytics_events table of AnalyticsMigrations: the text id as primary key (a unique index in
               random order), the by-user index (random order), the by-name and by-time indexes (time order)
  compact      the same indexes with compact keys: a 16-byte id in its own WITHOUT ROWID table, the user as an
               8-byte hash: smaller, still in random order
  time-ordered only the by-name and by-time indexes: every index grows at its end, as a log-structured store
               (memory table, sorted runs) would write the random-order ones

It prints rows/s per slice of the run and overall, and the file size. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
import uuid

PRAGMAS = [
    "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA cache_size=-65536", "PRAGMA temp_store=MEMORY",
    "PRAGMA wal_autocheckpoint=8000",
]
EVENTS = """CREATE TABLE analytics_events (
    event_id TEXT {key}, event_name TEXT NOT NULL, distinct_id TEXT NOT NULL, user_id TEXT, anonymous_id TEXT,
    occurred_at BIGINT NOT NULL, received_at BIGINT NOT NULL, source TEXT NOT NULL, properties BLOB{extra})"""
SCHEMAS = {
    "current": [
        EVENTS.format(key="PRIMARY KEY", extra=""),
        "CREATE INDEX analytics_events_by_user ON analytics_events (distinct_id, occurred_at, event_id)",
        "CREATE INDEX analytics_events_by_name ON analytics_events (event_name, occurred_at)",
        "CREATE INDEX analytics_events_by_time ON analytics_events (occurred_at)",
    ],
    "compact": [
        EVENTS.format(key="", extra=", user_key INTEGER NOT NULL"),
        "CREATE TABLE analytics_event_ids (event_key BLOB PRIMARY KEY) WITHOUT ROWID",
        "CREATE INDEX analytics_events_by_user ON analytics_events (user_key, occurred_at)",
        "CREATE INDEX analytics_events_by_name ON analytics_events (event_name, occurred_at)",
        "CREATE INDEX analytics_events_by_time ON analytics_events (occurred_at)",
    ],
    "time-ordered": [
        EVENTS.format(key="", extra=""),
        "CREATE INDEX analytics_events_by_name ON analytics_events (event_name, occurred_at)",
        "CREATE INDEX analytics_events_by_time ON analytics_events (occurred_at)",
    ],
}
SPAN_MICROS = 30 * 86_400 * 1_000_000
USERS = 200_000


def group_rows(rng: random.Random, oldest: int, width: int, size: int, now: int, compact: bool) -> tuple[list, list]:
    rows, keys = [], []
    properties = os.urandom(64)  # the size of a sealed small properties object
    for _ in range(size):
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        user = f"usr_{rng.randrange(USERS)}"
        row = (str(event_id), f"event_{rng.randrange(20):02d}", user, user, None, oldest + rng.randrange(width), now,
               "api", properties)
        if compact:
            row += (hash(user) & 0x7FFF_FFFF_FFFF_FFFF,)
            keys.append((event_id.bytes,))
        rows.append(row)
    return rows, keys


def run(schema: str, events: int, group: int, directory: str) -> None:
    path = os.path.join(directory, f"{schema}.sqlite")
    database = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        database.execute(pragma)
    for statement in SCHEMAS[schema]:
        database.execute(statement)
    compact = schema == "compact"
    insert = "INSERT INTO analytics_events VALUES (" + ",".join("?" * (10 if compact else 9)) + ")"
    rng = random.Random(7)
    now = int(time.time() * 1_000_000)
    groups = events // group
    width = SPAN_MICROS // groups
    timed = 0.0
    slice_timed, slice_rows, report_every = 0.0, 0, max(1, groups // 5)
    for index in range(groups):
        rows, keys = group_rows(rng, now - SPAN_MICROS + index * width, width, group, now, compact)
        started = time.perf_counter()
        database.execute("BEGIN IMMEDIATE")
        if compact:
            database.executemany("INSERT INTO analytics_event_ids VALUES (?)", keys)
        database.executemany(insert, rows)
        database.execute("COMMIT")
        elapsed = time.perf_counter() - started
        timed += elapsed
        slice_timed += elapsed
        slice_rows += group
        if (index + 1) % report_every == 0:
            print(f"  {schema}: rows {(index + 1) * group:>10,}: {slice_rows / slice_timed:>9,.0f} rows/s", flush=True)
            slice_timed, slice_rows = 0.0, 0
    database.close()
    size = sum(os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))
    print(f"{schema}: {groups * group:,} rows, {groups * group / timed:,.0f} rows/s overall, {size / 1e9:.2f} GB",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=int(os.environ.get("EVENTS", "2000000")))
    parser.add_argument("--group", type=int, default=8000, help="rows per transaction (one group commit)")
    parser.add_argument("--schema", action="append", choices=sorted(SCHEMAS))
    args = parser.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}, {args.events:,} rows in transactions of {args.group:,}", flush=True)
    with tempfile.TemporaryDirectory(prefix="meridian-storage-bound.") as directory:
        for schema in args.schema or ["current", "compact", "time-ordered"]:
            run(schema, args.events, args.group, directory)


if __name__ == "__main__":
    main()

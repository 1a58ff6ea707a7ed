#!/usr/bin/env python3
"""The load generator of bench/analytics-ingest: sends EVENTS product events in batches of 1000 to
`POST /api/analytics/events` with SENDERS concurrent keep-alive connections, reports events/s, then times the query
API over what was stored. Standard library only; TLS verified against SSL_CERT_FILE (the platform's CA).

Events: 20 names, 200,000 users, times over the last 30 days (`--span-hours`), a small `properties` object each.
With `--arrival spread` (the default) every batch's times are spread evenly over the whole span: the hard case for
the rollups, as each batch of 1000 touches about 5000 rollup rows (minute, hour and day, total and by plan) and as
many pages of each raw-event index. With `--arrival ordered` the batches arrive in time order, each covering its
own slice of the span, as a live deployment fills its database: the same 30 days of data at the end, written the
way a month of real traffic writes it. Ids (random UUIDs) and users are random in both.

Every request body is generated before the clock starts (in one process per core): Python made 30,000-70,000
events/s of JSON on this machine, below the server's target, so generating while sending would measure the
generator. The timed part only sends the prepared bodies and reads the answers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

BATCH = 1000
NAMES = [f"event_{index:02d}" for index in range(20)]
USERS = 200_000
SPAN_HOURS = 30 * 24


def token(gateway: str, password: str) -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return subprocess.check_output(
        [sys.executable, os.path.join(here, "sign_in.py"), gateway, "admin@meridian.local", password], text=True
    ).strip()


def connection(base: str) -> http.client.HTTPSConnection:
    parts = urllib.parse.urlsplit(base)
    return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=120)


def batch_body(rng: random.Random, newest: float, span: float) -> bytes:
    """A batch whose event times fall in the `span` seconds before `newest`."""
    events = []
    for _ in range(BATCH):
        stamp = datetime.fromtimestamp(newest - rng.random() * span, tz=timezone.utc).isoformat(timespec="milliseconds")
        events.append(
            '{"id":"%s","name":"%s","user_id":"usr_%d","timestamp":"%s","properties":{"plan":"%s","value":%d}}'
            % (uuid.UUID(int=rng.getrandbits(128), version=4), NAMES[rng.randrange(20)], rng.randrange(USERS),
               stamp.replace("+00:00", "Z"), ("free", "pro", "team")[rng.randrange(3)], rng.randrange(1000))
        )
    return ('{"events":[' + ",".join(events) + "]}").encode()


def batch_bodies(task: tuple[int, int, int, int, float, float, bool]) -> list[bytes]:
    """Bodies `first` to `first + count - 1` of `total`, from their own seeded generator (ids are random 128-bit
    UUIDs: no two batches repeat one). Ordered, body `n` covers the n-th slice of the span, oldest first."""
    seed, first, count, total, now, span, ordered = task
    rng = random.Random(seed)
    if not ordered:
        return [batch_body(rng, now, span) for _ in range(count)]
    slice_ = span / total
    return [batch_body(rng, now - span + (first + offset + 1) * slice_, slice_) for offset in range(count)]


def prepare(batches: int, span_hours: float, ordered: bool) -> list[bytes]:
    now = time.time()
    workers = max(1, os.cpu_count() or 1)
    chunk = 50
    tasks = [(1000 + index, start, min(chunk, batches - start), batches, now, span_hours * 3600, ordered)
             for index, start in enumerate(range(0, batches, chunk))]
    with multiprocessing.Pool(workers) as pool:
        return [body for bodies in pool.imap(batch_bodies, tasks) for body in bodies]


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time the server process has used (Linux /proc), or None when unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def ingest(args: argparse.Namespace, bearer: str) -> tuple[int, float, float | None]:
    batches = args.events // BATCH
    started = time.monotonic()
    bodies = prepare(batches, args.span_hours, args.arrival == "ordered")
    print(f"prepared {batches:,} request bodies in {time.monotonic() - started:.1f} s (not timed)", flush=True)
    work: queue.Queue[bytes | None] = queue.Queue()
    for body in bodies:
        work.put(body)
    del bodies
    for _ in range(args.senders):
        work.put(None)
    accepted = [0] * args.senders
    failures: list[str] = []

    current = [bearer]
    renewing = threading.Lock()

    def renew(stale: str) -> None:
        # Access tokens live 10 minutes; a long run signs in again when one expires.
        with renewing:
            if current[0] == stale:
                current[0] = token(args.gateway, args.password)

    def sender(index: int) -> None:
        conn = connection(args.analytics)
        while (body := work.get()) is not None:
            for _ in range(2):
                used = current[0]
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {used}"}
                conn.request("POST", "/api/analytics/events", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status == 401:
                    renew(used)
                    continue
                break
            if response.status != 200:
                failures.append(f"{response.status} {payload[:200]!r}")
                continue
            accepted[index] += json.loads(payload)["accepted"]

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(args.senders)]
    cpu_before = cpu_seconds(args.server_pid)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu_after = cpu_seconds(args.server_pid)
    if failures:
        print(f"{len(failures)} batches failed, first: {failures[0]}", file=sys.stderr)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return sum(accepted), elapsed, cpu


def timed_queries(args: argparse.Namespace, bearer: str) -> list[tuple[str, float, float, int]]:
    now = datetime.now(timezone.utc)
    iso = lambda moment: moment.isoformat(timespec="seconds").replace("+00:00", "Z")  # noqa: E731
    queries = {
        "metrics, 1 event, hourly, 7 days": {"path": "/api/analytics/metrics", "event": "event_03", "interval": "hour",
                                              "from": iso(now - timedelta(days=7)), "to": iso(now)},
        "metrics, 1 event, daily, 30 days": {"path": "/api/analytics/metrics", "event": "event_07", "interval": "day",
                                              "from": iso(now - timedelta(days=30)), "to": iso(now)},
        "metrics, by plan, daily, 30 days": {"path": "/api/analytics/metrics", "event": "event_11", "interval": "day",
                                              "breakdown": "plan", "from": iso(now - timedelta(days=30)), "to": iso(now)},
        "raw events of one user (page of 50)": {"path": "/api/analytics/events", "user_id": "usr_1234"},
        "funnel, 2 steps, 1 hour": {"path": "/api/analytics/funnels", "steps": "event_01,event_02", "window": "10m",
                                    "from": iso(now - timedelta(hours=1)), "to": iso(now)},
    }
    conn = connection(args.analytics)
    headers = {"Authorization": f"Bearer {bearer}"}
    results = []
    for label, params in queries.items():
        params = dict(params)
        path = params.pop("path") + "?" + urllib.parse.urlencode(params)
        samples = []
        for _ in range(args.query_runs):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            samples.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise SystemExit(f"{label}: {response.status}")
        samples.sort()
        results.append((label, statistics.median(samples), samples[int(len(samples) * 0.95) - 1], response.status))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--analytics", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--query-runs", type=int, default=100)
    parser.add_argument("--span-hours", type=float, default=SPAN_HOURS,
                        help="event times are spread evenly over this many hours before now (default 720: 30 days)")
    parser.add_argument("--arrival", choices=("spread", "ordered"), default="spread",
                        help="spread: every batch over the whole span; ordered: batches in time order, as live traffic")
    parser.add_argument("--database")
    parser.add_argument("--server-pid", type=int, help="the server's process id, to report the CPU time it used")
    args = parser.parse_args()

    bearer = token(args.gateway, args.password)
    accepted, elapsed, cpu = ingest(args, bearer)
    print(f"ingested {accepted:,} events in {elapsed:.1f} s: {accepted / elapsed:,.0f} events/s "
          f"(batches of {BATCH}, {args.senders} senders, times over {args.span_hours:g} h, {args.arrival} arrival, SQLite, concurrent batches committed together)")
    if cpu:
        # Independent of what else runs on the machine: what the server itself spent per event.
        print(f"server CPU time: {cpu:.1f} s, {accepted / cpu:,.0f} events per CPU-second "
              f"(load average {os.getloadavg()[0]:.1f} at the end)")
    if args.database and os.path.exists(args.database):
        size = sum(os.path.getsize(args.database + suffix) for suffix in ("", "-wal") if os.path.exists(args.database + suffix))
        print(f"analytics database: {size / 1e9:.2f} GB")
    bearer = token(args.gateway, args.password)
    print(f"\n| query over {accepted:,} raw events | p50 ms | p95 ms |\n|---|---|---|")
    for label, p50, p95, _ in timed_queries(args, bearer):
        print(f"| {label} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()

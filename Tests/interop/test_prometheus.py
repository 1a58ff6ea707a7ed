"""A real Prometheus (Debian's) scrapes every service of a running `meridian serve`, evaluates the recording rules
of deploy/observability, and the Grafana dashboards and rules refer only to metrics the services really export.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml

from conftest import Meridian

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "deploy" / "observability"
RULES = OBSERVABILITY / "rules" / "meridian.rules.yml"
SERVICES = ["gateway", "users", "orders", "notifications", "analytics"]
# PromQL words that look like metric names in an expression but are not.
PROMQL_WORDS = {
    "sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "and", "or", "unless", "on",
    "ignoring", "group_left", "group_right", "max", "min", "avg", "count", "topk", "bottomk", "clamp_min",
    "clamp_max", "abs", "time", "vector", "scalar", "label_replace", "delta", "deriv", "avg_over_time",
    "max_over_time", "min_over_time", "sum_over_time", "absent", "le", "bool", "offset", "quantile", "round",
    "count_over_time", "stddev", "changes", "resets", "sort_desc", "sort", "ceil", "floor", "last_over_time",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_urls(meridian: Meridian) -> dict[str, str]:
    """Each service's own base URL: the gateway's public one and the four internal ports after it."""
    scheme = meridian.url.split("://")[0]
    urls = {"gateway": meridian.url}
    for offset, service in enumerate(SERVICES[1:]):
        urls[service] = f"{scheme}://127.0.0.1:{meridian.internal_base + offset}"
    return urls


def ca_file(meridian: Meridian) -> str | None:
    return str(meridian.ca_path) if getattr(meridian, "ca_path", None) else None


def exported_metric_names(meridian: Meridian) -> set[str]:
    names: set[str] = set()
    verify = ca_file(meridian) or True
    for url in service_urls(meridian).values():
        text = requests.get(f"{url}/metrics", timeout=10, verify=verify).text
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                names.add(name)
                if kind.strip() == "histogram":
                    names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif line and not line.startswith("#"):
                names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def expressions_in_dashboards() -> Iterator[tuple[str, str]]:
    for path in sorted((OBSERVABILITY / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        panels = list(dashboard.get("panels", []))
        while panels:
            panel = panels.pop()
            panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield path.name, target["expr"]


def rule_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def metric_names_in(expression: str) -> set[str]:
    # Drop label matchers and strings, then keep identifiers not followed by "(" (functions) and not PromQL words.
    stripped = re.sub(r"\{[^}]*\}", "", re.sub(r'"[^"]*"', "", expression))
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", stripped)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        word = match.group(0)
        following = stripped[match.end():].lstrip()[:1]
        if word in PROMQL_WORDS or following == "(" or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def recorded_names() -> set[str]:
    return {rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule}


def make_traffic(meridian: Meridian) -> None:
    api = meridian.api
    for _ in range(5):
        assert api.get("/api/users").status_code == 200
        assert api.get("/api/orders").status_code == 200
    assert requests.get(f"{meridian.url}/api/orders", timeout=10, verify=ca_file(meridian) or True).status_code == 401


def test_dashboards_and_rules_use_only_exported_metrics(meridian: Meridian) -> None:
    make_traffic(meridian)
    exported = exported_metric_names(meridian)
    assert {"http_requests_total", "http_request_duration_seconds_bucket"} <= exported
    known = exported | recorded_names()
    expressions = list(expressions_in_dashboards())
    assert len(expressions) >= 10, "expected the dashboards' queries"
    for group in rule_groups():
        for rule in group["rules"]:
            expressions.append((RULES.name, rule["expr"]))
    unknown = {(where, name) for where, expression in expressions for name in metric_names_in(expression)
               if name not in known}
    assert not unknown, f"queries name metrics no service exports: {sorted(unknown)}"


def test_every_service_has_a_dashboard_and_the_overview_covers_them_all() -> None:
    dashboards = {path.stem: json.loads(path.read_text()) for path in (OBSERVABILITY / "dashboards").glob("*.json")}
    assert {"platform-overview", "slo", *SERVICES} <= set(dashboards)
    for name, dashboard in dashboards.items():
        assert dashboard["uid"] and dashboard["title"] and dashboard["panels"], name


@pytest.fixture
def prometheus(meridian: Meridian, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (scripts/test installs Debian's)"
    shutil.copy(RULES, tmp_path / "rules.yml")
    tls = {"ca_file": ca_file(meridian)} if ca_file(meridian) else {}
    scrape_configs = []
    for service, url in service_urls(meridian).items():
        scheme, address = url.split("://")
        scrape_configs.append({
            "job_name": service, "scheme": scheme, "tls_config": tls,
            "static_configs": [{"targets": [address], "labels": {"service": service}}],
        })
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": scrape_configs,
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("prometheus did not become ready: " + (tmp_path / "prometheus.log").read_text()[-2000:])
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def query(base: str, expression: str) -> list[dict]:
    answer = requests.get(f"{base}/api/v1/query", params={"query": expression}, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_alerts_cover_the_slos_and_what_they_do_not_see() -> None:
    alerts = {rule["alert"]: rule for group in rule_groups() for rule in group["rules"] if "alert" in rule}
    burn = [name for name in alerts if "BurnRate" in name]
    assert len([n for n in burn if n.startswith("Availability")]) >= 2, "multi-window availability burn-rate alerts"
    assert len([n for n in burn if n.startswith("Latency")]) >= 2, "multi-window latency burn-rate alerts"
    watched = {name: metric_names_in(rule["expr"]) for name, rule in alerts.items()}
    for metric in ("outbox_lag_seconds", "outbox_dead_total", "tls_certificate_expiry_timestamp_seconds",
                   "gateway_ratelimit_store_errors_total"):
        assert any(metric in names for names in watched.values()), f"no alert watches {metric}"
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_prometheus_scrapes_every_service_and_records_the_slo_series(meridian: Meridian, prometheus: str) -> None:
    deadline = time.monotonic() + 60
    healthy: set[str] = set()
    while time.monotonic() < deadline and len(healthy) < len(SERVICES):
        targets = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        healthy = {target["labels"]["service"] for target in targets if target["health"] == "up"}
        time.sleep(0.5)
    assert healthy == set(SERVICES), requests.get(f"{prometheus}/api/v1/targets", timeout=5).text[-3000:]

    # Traffic between scrapes so that rate() over the recorded window has two samples that differ.
    recorded: list[dict] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        make_traffic(meridian)
        recorded = query(prometheus, 'service:http_requests:rate5m{service="gateway"}')
        if recorded and float(recorded[0]["value"][1]) > 0:
            break
        time.sleep(1)
    assert recorded and float(recorded[0]["value"][1]) > 0, recorded
    # The rule's result equals the expression it records, evaluated by Prometheus itself.
    errors = query(prometheus, 'service:http_errors:ratio_rate5m{service="gateway"}')
    assert errors and float(errors[0]["value"][1]) == 0.0, errors

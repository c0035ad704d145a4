"""Every query of the Grafana dashboard and every alert of the PrometheusRule, as the chart renders
them, evaluated by `promtool test rules` on synthetic series: each returns what it should.

The expressions are read from the rendered chart, never copied here; the dashboard's template
variables are set to one tenant and one group, and the series hold other tenants, groups and
replicas that the queries must leave out or add up."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("helm_python", reason="helm-python-sdk (the Helm library for Python) is not installed")
if shutil.which("promtool") is None:
    pytest.skip("promtool not installed (Debian prometheus)", allow_module_level=True)

from tests.helm.chart import VALUE_FILES, alert_rules, dashboard, render

Labels = dict[str, str]
Samples = list[tuple[Labels, float]]

# What the dashboard's variables stand for in these tests: one tenant, one group, Grafana's
# rate interval at a 1m scrape.
VARIABLES = {"tenant": "t1", "group": "g1", "__rate_interval": "5m"}
VARIABLE = re.compile(r"\$\{?(\w+)\}?")
# Samples every minute for 30 minutes; queries are evaluated at minute 20.
EVAL_TIME = "20m"
T1_G1 = {"tenant": "t1", "environment": "default", "group": "g1"}


def per_second(rate: float) -> str:
    """promtool values of a counter that grows by `rate` per second, sampled every minute."""
    return f"0+{rate * 60:g}x30"


def constant(value: float) -> str:
    return f"{value:g}x30"


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def pool(tenant: str, group: str, free: int, allocated: int, disabled: int) -> list[dict[str, str]]:
    """dnis_pool_phones of one pool as both replicas export it (the same database snapshot)."""
    counts = {"free": free, "allocated": allocated, "disabled": disabled}
    return [series("dnis_pool_phones", constant(count), tenant=tenant, environment="default", group=group,
                   state=state, instance=instance)
            for state, count in counts.items() for instance in ("a", "b")]


def counters(name: str, keys: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[dict[str, str]]:
    """Counters from a table: each row is (rate per second, *the values of keys)."""
    return [series(name, per_second(rate), **dict(zip(keys, values, strict=True))) for rate, *values in rows]


def within(low: float, high: float, quantile: float) -> float:
    """A quantile of observations that all fall in one bucket, as histogram_quantile interpolates it
    (computed as Prometheus computes it, so that the floating-point results agree to the bit)."""
    return low + (high - low) * quantile


def histogram(name: str, le_zero: str, le_full: str, rate: float, **labels: str) -> list[dict[str, str]]:
    """A histogram whose observations all fall in the bucket (le_zero, le_full]."""
    return [series(f"{name}_bucket", per_second(0 if le == le_zero else rate), le=le, **labels)
            for le in (le_zero, le_full, "+Inf")]


# Two replicas (instance a and b); tenant t1 with groups g1 (the one selected) and g2; tenant t2.
WORLD = [
    *pool("t1", "g1", free=7, allocated=3, disabled=2),
    *pool("t1", "g2", free=1, allocated=9, disabled=0),
    *pool("t2", "g1", free=5, allocated=5, disabled=0),
    *counters("dnis_allocations_total", ("tenant", "group", "kind", "instance"), [
        (1, "t1", "g1", "phone", "a"), (0.5, "t1", "g1", "phone", "b"), (0.25, "t1", "", "dtmf", "a"),
        (2, "t1", "g2", "phone", "a"), (3, "t2", "g1", "phone", "a")]),
    *counters("dnis_allocation_failures_total", ("tenant", "group", "reason", "instance"), [
        (0.5, "t1", "g1", "exhausted", "a"), (0.25, "t1", "g1", "exhausted", "b"), (0.125, "t1", "g1", "invalid", "a"),
        (1, "t2", "g1", "exhausted", "a")]),
    *histogram("dnis_allocation_hold_seconds", "30", "60", 1, tenant="t1", kind="phone", instance="a"),
    *histogram("dnis_allocation_hold_seconds", "1", "5", 1, tenant="t2", kind="phone", instance="a"),
    *[series("dnis_pool_offered_load_erlangs", constant(load), tenant=tenant, environment="default", group="g1",
             instance=instance) for tenant, load in (("t1", 4.5), ("t2", 20)) for instance in ("a", "b")],
    *[series("dnis_pool_recommended_phones", constant(phones), tenant=tenant, environment="default", group="g1",
             instance=instance) for tenant, phones in (("t1", 12), ("t2", 30)) for instance in ("a", "b")],
    *counters("dnis_http_requests_total", ("method", "route", "status", "instance"), [
        (10, "POST", "/allocate/new", "200", "a"), (5, "POST", "/allocate/new", "200", "b"),
        (1, "POST", "/allocate/new", "503", "a"), (2, "GET", "/allocate/get/{phone}", "200", "a")]),
    *histogram("dnis_http_request_duration_seconds", "0.005", "0.01", 4, method="POST", route="/allocate/new",
               status="200", instance="a"),
    *histogram("dnis_http_request_duration_seconds", "0.005", "0.01", 2, method="POST", route="/allocate/new",
               status="503", instance="b"),
    *histogram("dnis_http_request_duration_seconds", "0.001", "0.0025", 2, method="GET",
               route="/allocate/get/{phone}", status="200", instance="a"),
    *histogram("dnis_sweep_duration_seconds", "0.5", "1", 1, instance="a"),
    *histogram("dnis_sweep_duration_seconds", "0.5", "1", 1, instance="b"),
    *[series("dnis_sms_outbox_pending", constant(4), instance=instance) for instance in ("a", "b")],
    *counters("dnis_sms_delivery_attempts_total", ("outcome", "instance"), [
        (0.5, "delivered", "a"), (0.25, "delivered", "b"), (0.25, "failed", "a")]),
]

# What each query of the dashboard returns on WORLD, by (panel title, refId).
PANELS: dict[tuple[str, str], Samples] = {
    ("Phones by state", "A"): [(T1_G1 | {"state": "free"}, 7), (T1_G1 | {"state": "allocated"}, 3),
                               (T1_G1 | {"state": "disabled"}, 2)],
    ("Pool utilisation", "A"): [(T1_G1, 0.3)],
    ("Allocations per second", "A"): [({"tenant": "t1", "group": "g1", "kind": "phone"}, 1.5)],
    ("Refusals per second", "A"): [({"tenant": "t1", "group": "g1", "reason": "exhausted"}, 0.75),
                                   ({"tenant": "t1", "group": "g1", "reason": "invalid"}, 0.125)],
    ("Hold time", "A"): [({"tenant": "t1", "kind": "phone"}, within(30, 60, 0.5))],
    ("Hold time", "B"): [({"tenant": "t1", "kind": "phone"}, within(30, 60, 0.9))],
    ("Hold time", "C"): [({"tenant": "t1", "kind": "phone"}, within(30, 60, 0.99))],
    ("Offered load and pool size", "A"): [(T1_G1, 4.5)],
    ("Offered load and pool size", "B"): [(T1_G1, 12)],
    ("Offered load and pool size", "C"): [(T1_G1, 10)],
    ("HTTP requests per second", "A"): [({"method": "POST", "route": "/allocate/new"}, 16),
                                        ({"method": "GET", "route": "/allocate/get/{phone}"}, 2)],
    ("HTTP requests per second", "B"): [({"method": "POST", "route": "/allocate/new"}, 1)],
    ("HTTP p99 latency", "A"): [({"method": "POST", "route": "/allocate/new"}, within(0.005, 0.01, 0.99)),
                                ({"method": "GET", "route": "/allocate/get/{phone}"}, within(0.001, 0.0025, 0.99))],
    ("Release job sweep duration", "A"): [({}, within(0.5, 1, 0.5))],
    ("Release job sweep duration", "B"): [({}, within(0.5, 1, 0.99))],
    ("SMS outbox", "A"): [({}, 4)],
    ("SMS delivery attempts per second", "A"): [({"outcome": "delivered"}, 0.75), ({"outcome": "failed"}, 0.25)],
}

# The values each template variable offers on WORLD (label_values(selector, label)).
VARIABLE_VALUES = {"tenant": ["t1", "t2"], "group": ["g1", "g2"]}
LABEL_VALUES = re.compile(r"label_values\((.+), (\w+)\)")


def promql(expr: str) -> str:
    """A dashboard expression with its template variables set as VARIABLES says."""
    return VARIABLE.sub(lambda match: VARIABLES[match[1]], expr)


def samples(expected: Samples) -> list[dict[str, Any]]:
    return [{"labels": "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}
            for labels, value in expected]


def promtool_test(tmp_path: Path, rules: dict[str, Any], tests: list[dict[str, Any]]) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    run = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def expression_test(expr: str, expected: Samples) -> dict[str, Any]:
    return {"interval": "1m", "input_series": WORLD,
            "promql_expr_test": [{"expr": expr, "eval_time": EVAL_TIME, "exp_samples": samples(expected)}]}


@pytest.fixture(scope="module")
def all_on() -> list[dict[str, Any]]:
    return render(VALUE_FILES["all-on"])


@pytest.fixture(scope="module")
def queries(all_on) -> dict[tuple[str, str], str]:
    return {(panel["title"], target["refId"]): target["expr"]
            for panel in dashboard(all_on)["panels"] for target in panel["targets"]}


def test_every_dashboard_query_has_its_expected_answer(queries) -> None:
    assert set(queries) == set(PANELS)


@pytest.mark.parametrize("query", list(PANELS), ids=" ".join)
def test_dashboard_query_returns_what_it_should(queries, query: tuple[str, str], tmp_path: Path) -> None:
    promtool_test(tmp_path, {"groups": []}, [expression_test(promql(queries[query]), PANELS[query])])


@pytest.mark.parametrize("name", list(VARIABLE_VALUES))
def test_dashboard_variable_offers_the_values_in_the_series(all_on, name: str, tmp_path: Path) -> None:
    [variable] = [v for v in dashboard(all_on)["templating"]["list"] if v["name"] == name]
    selector, label = LABEL_VALUES.fullmatch(variable["definition"]).groups()  # type: ignore[union-attr]
    expected = [({label: value}, 1) for value in VARIABLE_VALUES[name]]
    promtool_test(tmp_path, {"groups": []}, [expression_test(f"group by ({label}) ({promql(selector)})", expected)])


def alert_test(
    input_series: list[dict[str, str]], name: str, firing: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """A promtool test of one alert: at each eval time, exactly these alerts fire (none: an empty list)."""
    return {"interval": "1m", "input_series": input_series,
            "alert_rule_test": [{"alertname": name, "eval_time": at, "exp_alerts": alerts}
                                for at, alerts in firing.items()]}


def alert(summary: str, **labels: str) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary}}


# For each alert (at the chart's default thresholds): series on which it fires once its `for` has
# passed, for the pool or job at fault only; and, where the expression spans replicas, series on
# which it must stay silent.
ALERTS: dict[str, list[dict[str, Any]]] = {
    "DnisPoolNearlyExhausted": [alert_test(
        # g1 has 95 % of its enabled phones allocated (its disabled ones do not count); g2 exactly 90 %.
        [*pool("t1", "g1", free=1, allocated=19, disabled=10), *pool("t1", "g2", free=1, allocated=9, disabled=0)],
        "DnisPoolNearlyExhausted",
        {"5m": [], "15m": [alert("DNIS pool t1/g1 is nearly exhausted", severity="warning", **T1_G1)]},
    )],
    "DnisAllocationFailures": [alert_test(
        # 0.0625 refusals per second in each of two replicas: 0.125 in all, over the 0.1 threshold;
        # refusals of invalid input do not count.
        [series("dnis_allocation_failures_total", per_second(0.0625), tenant="t1", group="g1", reason="exhausted",
                instance=instance) for instance in ("a", "b")]
        + [series("dnis_allocation_failures_total", per_second(1), tenant="t1", group="g2", reason="invalid",
                  instance="a")],
        "DnisAllocationFailures",
        {"3m": [], "15m": [alert("Allocations are refused for want of a phone (t1/g1)", severity="critical",
                                 tenant="t1", group="g1")]},
    )],
    "DnisReleaseJobStalled": [
        # The only replica's release job stops after 10 minutes ...
        alert_test(
            [series("dnis_sweep_duration_seconds_count", "0+60x10 600x20", instance="a")],
            "DnisReleaseJobStalled",
            {"12m": [], "25m": [alert("The DNIS release job has not run for 5 minutes: expired numbers are not "
                                      "being released", severity="critical")]},
        ),
        # ... while another replica's still runs: expired numbers are released.
        alert_test(
            [series("dnis_sweep_duration_seconds_count", "0+60x10 600x20", instance="a"),
             series("dnis_sweep_duration_seconds_count", per_second(1), instance="b")],
            "DnisReleaseJobStalled",
            {"25m": []},
        ),
    ],
}


def test_every_alert_has_its_cases(all_on) -> None:
    assert {rule["alert"] for group in alert_rules(all_on)["groups"] for rule in group["rules"]} == set(ALERTS)


@pytest.mark.parametrize("name", list(ALERTS))
def test_alert_fires_when_it_should_and_only_then(all_on, name: str, tmp_path: Path) -> None:
    promtool_test(tmp_path, alert_rules(all_on), ALERTS[name])

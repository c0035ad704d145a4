"""The chart rendered by the real Helm library (helm-python-sdk), for the chart and PromQL tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "dnis-service"
VALUE_FILES = {
    name: yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()) for name in ("default", "all-on")
}
DASHBOARD_KEY = "dnis-service.json"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = helm.Chart.load(str(CHART)).render(values, name="dnis", namespace="contact", is_install=True)
    objects = []
    for path, text in manifests.items():
        if path.endswith(".yaml"):
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of this kind (and name, where the kind has several)."""
    [found] = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def dashboard_config_map(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == "ConfigMap" and DASHBOARD_KEY in o.get("data", {})]
    return found


def dashboard(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Grafana dashboard as the chart ships it, parsed."""
    parsed: dict[str, Any] = json.loads(dashboard_config_map(objects)["data"][DASHBOARD_KEY])
    return parsed


def alert_rules(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The PrometheusRule's spec: a Prometheus rule file."""
    spec: dict[str, Any] = one(objects, "PrometheusRule")["spec"]
    return spec

"""The Helm chart, checked offline: rendered and strictly linted by the real Helm library
(helm-python-sdk), every object validated against the Kubernetes schemas (kubernetes-validate,
strict, 1.29 and 1.31), and what matters in it asserted."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (the Helm library for Python) is not installed")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")

from tests.helm.chart import (  # noqa: E402
    CHART,
    DASHBOARD_KEY,
    ROOT,
    VALUE_FILES,
    alert_rules,
    dashboard,
    dashboard_config_map,
    one,
    render,
)

KUBERNETES = ["1.29.0", "1.31.0"]
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
SETTINGS = "dnis-dnis-service"  # the ConfigMap of DNIS_* settings (the dashboard has one of its own)


@pytest.fixture(scope="module", params=list(VALUE_FILES))
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(VALUE_FILES[request.param])


def container(objects: list[dict[str, Any]], kind: str = "Deployment") -> dict[str, Any]:
    spec = one(objects, kind)["spec"]["template"]["spec"]
    [main] = spec["containers"]
    return main


@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_chart_passes_strict_lint(values: str) -> None:
    report = helm.lint(str(CHART), VALUE_FILES[values], strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert (report["errors"], problems) == ([], [])


@pytest.mark.parametrize("version", KUBERNETES)
def test_every_built_in_object_passes_strict_kubernetes_validation(objects, version: str) -> None:
    for obj in objects:
        if obj["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_custom_resources_have_their_required_fields(objects) -> None:
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert obj["spec"]["selector"]["matchLabels"]
            assert all({"port", "path"} <= set(e) for e in obj["spec"]["endpoints"])
        if obj["kind"] == "PrometheusRule":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            for group in obj["spec"]["groups"]:
                assert group["name"] and all({"alert", "expr"} <= set(r) for r in group["rules"])


def test_all_on_values_render_every_optional_part() -> None:
    kinds = {o["kind"] for o in render(VALUE_FILES["all-on"])}
    assert kinds >= {"Deployment", "Service", "ConfigMap", "Job", "ServiceAccount", "Ingress",
                     "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor",
                     "PrometheusRule"}


def test_probes_hit_the_health_endpoints(objects) -> None:
    main = container(objects)
    assert main["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert main["readinessProbe"]["httpGet"]["path"] == "/health/ready"


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_containers_run_as_non_root_read_only_without_capabilities(objects, kind: str) -> None:
    security = container(objects, kind)["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_database_url_and_admin_token_come_from_a_secret(objects) -> None:
    env = {e["name"]: e for e in container(objects)["env"]}
    for name in ("DNIS_DATABASE_URL", "DNIS_ADMIN_TOKEN"):
        assert "secretKeyRef" in env[name]["valueFrom"]
    config = one(objects, "ConfigMap", SETTINGS)["data"]
    assert not {"DNIS_DATABASE_URL", "DNIS_ADMIN_TOKEN"} & set(config)
    assert "postgresql://" not in yaml.safe_dump(config)


def test_config_map_holds_settings_the_service_reads_and_accepts(objects) -> None:
    from dnis_service.config import Settings

    config = one(objects, "ConfigMap", SETTINGS)["data"]
    read = set(re.findall(r'"(DNIS_[A-Z_]+)"', (ROOT / "dnis_service" / "config.py").read_text()))
    assert set(config) <= read
    Settings.from_env(config)  # a value it refuses would stop every pod at start-up


# Read from the Secret, or meaningless in a pod (the embedded PostgreSQL's folder).
NOT_IN_THE_CONFIG_MAP = {"DNIS_DATABASE_URL", "DNIS_ADMIN_TOKEN", "DNIS_DATA_DIR"}


def test_every_setting_the_service_reads_can_be_set_through_the_chart() -> None:
    config = one(render(VALUE_FILES["all-on"]), "ConfigMap", SETTINGS)["data"]
    read = set(re.findall(r'"(DNIS_[A-Z_]+)"', (ROOT / "dnis_service" / "config.py").read_text()))
    assert read - NOT_IN_THE_CONFIG_MAP - set(config) == set()


def test_existing_secret_is_used_instead_of_a_chart_secret() -> None:
    objects = render(VALUE_FILES["all-on"])
    assert not [o for o in objects if o["kind"] == "Secret"]
    env = {e["name"]: e for e in container(objects)["env"]}
    assert env["DNIS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "dnis-service-secrets"


def test_migrations_run_in_a_pre_install_and_pre_upgrade_hook_with_a_deletion_policy(objects) -> None:
    job = one(objects, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert annotations["helm.sh/hook-delete-policy"]
    assert container(objects, "Job")["args"] == ["migrate"]
    assert one(objects, "ConfigMap", SETTINGS)["data"]["DNIS_MIGRATE_ON_START"] == "false"


def test_rolling_updates_keep_pods_available(objects) -> None:
    strategy = one(objects, "Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_service_monitor_scrapes_metrics() -> None:
    monitor = one(render(VALUE_FILES["all-on"]), "ServiceMonitor")
    assert [e["path"] for e in monitor["spec"]["endpoints"]] == ["/metrics"]


def test_alerts_cover_pool_utilisation_failures_and_a_stalled_release_job() -> None:
    rules = alert_rules(render(VALUE_FILES["all-on"]))["groups"][0]["rules"]
    by_alert = {rule["alert"]: rule["expr"] for rule in rules}
    assert re.search(r'dnis_pool_phones\{state="allocated"\}.*> 0\.9', by_alert["DnisPoolNearlyExhausted"], re.S)
    assert "dnis_allocation_failures_total" in by_alert["DnisAllocationFailures"]
    assert "dnis_sweep_duration_seconds_count" in by_alert["DnisReleaseJobStalled"]


@pytest.mark.parametrize("bad", [{"replicaCount": "two"}, {"image": {"repository": 7}}, {"replicas": 3},
                                 {"config": {"logLevel": "LOUD"}}])
def test_values_schema_rejects_wrong_types_and_unknown_keys(bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        helm.Chart.load(str(CHART)).validate_schema(VALUE_FILES["default"] | bad)


def test_values_schema_accepts_the_shipped_value_files() -> None:
    for values in VALUE_FILES.values():
        helm.Chart.load(str(CHART)).validate_schema(values)


def test_dockerfile_final_stage_holds_only_the_venv_and_runs_serve_as_uid_10001() -> None:
    # The image itself is built and run as the chart runs it by scripts/image-check.sh (in CI).
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile, re.M)
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(stages) >= 2 and set(stages) == {"${BASE_IMAGE}"}
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    assert re.findall(r"^COPY .*", final, re.M) == ["COPY --from=build /opt/venv /opt/venv"]
    assert "PYTHONPATH" not in final and not re.search(r"apt-get install|gcc|build-essential", final)
    assert re.search(r"^USER 10001", final, re.M) and "DNIS_HOST=0.0.0.0" in final
    assert 'ENTRYPOINT ["dnis-service"]' in final and 'CMD ["serve"]' in final


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian prometheus)")
def test_alert_rules_pass_promtool(tmp_path: Path) -> None:
    rules = alert_rules(render(VALUE_FILES["all-on"]))
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_chart_defaults_pass_strict_lint() -> None:
    report = helm.lint(str(CHART), None, strict=True)
    assert (report["errors"], [m for m in report["messages"] if m["severity"] >= 2]) == ([], [])


def test_rendering_without_a_database_is_refused_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmError, match=r"secret.databaseUrl \(or existingSecret\) is required"):
        render({})


# The Grafana dashboard: metrics.grafanaDashboard renders dashboards/dnis-service.json in a ConfigMap.

GRID_COLUMNS = 24
GRAFANA_BUILT_INS = {"__rate_interval", "__interval", "__range", "__all"}
VARIABLE = re.compile(r"\$\{?(\w+)")


@pytest.fixture(scope="module")
def shipped_dashboard() -> dict[str, Any]:
    return dashboard(render(VALUE_FILES["all-on"]))


def test_dashboard_is_off_unless_asked_for() -> None:
    assert not [o for o in render(VALUE_FILES["default"]) if DASHBOARD_KEY in o.get("data", {})]


def test_dashboard_config_map_is_labelled_for_the_grafana_sidecar() -> None:
    config_map = dashboard_config_map(render(VALUE_FILES["all-on"]))
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "DNIS"}
    assert config_map["metadata"]["namespace"] == "contact"


def test_dashboard_label_and_namespace_are_configurable() -> None:
    values = VALUE_FILES["default"] | {"metrics": {"grafanaDashboard": {
        "enabled": True, "label": "example.com/dashboard", "labelValue": "dnis", "namespace": "monitoring"}}}
    metadata = dashboard_config_map(render(values))["metadata"]
    assert metadata["labels"]["example.com/dashboard"] == "dnis" and "grafana_dashboard" not in metadata["labels"]
    assert metadata["namespace"] == "monitoring" and "annotations" not in metadata


def test_dashboard_config_map_holds_the_charts_dashboard_file(shipped_dashboard) -> None:
    assert shipped_dashboard == json.loads((CHART / "dashboards" / DASHBOARD_KEY).read_text())


def test_dashboard_panel_ids_are_unique(shipped_dashboard) -> None:
    ids = [panel["id"] for panel in shipped_dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_has_a_datasource_and_queries(shipped_dashboard) -> None:
    for panel in shipped_dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["expr"].strip(), panel["title"]


def test_dashboard_offers_tenant_and_group_variables(shipped_dashboard) -> None:
    variables = {variable["name"]: variable for variable in shipped_dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("tenant", "group"):
        assert variables[name]["type"] == "query" and variables[name]["multi"] and variables[name]["includeAll"]
        assert re.fullmatch(rf"label_values\(dnis_pool_phones\b.*, {name}\)", variables[name]["definition"])


def test_every_variable_a_query_uses_exists(shipped_dashboard) -> None:
    defined = {variable["name"] for variable in shipped_dashboard["templating"]["list"]} | GRAFANA_BUILT_INS
    used = set(VARIABLE.findall(json.dumps([shipped_dashboard["panels"], shipped_dashboard["templating"]])))
    assert {"tenant", "group", "datasource"} <= used <= defined


def test_dashboard_panels_fit_the_grid_without_overlapping(shipped_dashboard) -> None:
    boxes = {panel["title"]: panel["gridPos"] for panel in shipped_dashboard["panels"]}
    for title, box in boxes.items():
        assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0, title
        assert box["x"] + box["w"] <= GRID_COLUMNS, title
    for (one_title, a), (other_title, b) in combinations(boxes.items(), 2):
        apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                 or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
        assert apart, f"{one_title} overlaps {other_title}"


def test_every_metric_the_dashboard_and_alerts_use_is_one_the_service_exports(shipped_dashboard) -> None:
    from dnis_service import metrics

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    exported = {family.name + suffix for family in metrics.REGISTRY.collect() for suffix in suffixes[family.type]}
    rules = yaml.safe_dump([o for o in render(VALUE_FILES["all-on"]) if o["kind"] == "PrometheusRule"])
    expressions = [t["expr"] for panel in shipped_dashboard["panels"] for t in panel["targets"]]
    used = set(re.findall(r"\bdnis_[a-z_]+", " ".join(expressions) + rules))
    assert used - exported == set()

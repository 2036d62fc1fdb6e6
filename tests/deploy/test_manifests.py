"""Consistency between the Dockerfile, the Kubernetes manifests and the settings.

Each file is valid on its own (.ci/deploy-checks runs hadolint and the Kubernetes schemas);
these tests catch the mistakes that only show when the files disagree: a probe on the wrong
port, a grace period shorter than the drain, a pod UID the image does not own, a manifest
that `kubectl apply -k` would silently leave out.
"""

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from src.infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _kustomization() -> dict[str, Any]:
    kustomization: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return kustomization


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object the kustomization applies, by (kind, name)."""
    objects = {}
    for name in _kustomization()["resources"]:
        for document in yaml.safe_load_all((K8S / name).read_text()):
            objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def _pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = _objects()[(kind, name)]["spec"]["template"]["spec"]
    return spec


def _api_container() -> dict[str, Any]:
    container: dict[str, Any]
    (container,) = _pod_spec("Deployment", "orchestrator")["containers"]
    return container


def _config() -> dict[str, str]:
    data: dict[str, str] = _objects()[("ConfigMap", "orchestrator-config")]["data"]
    return data


def _first_group(pattern: str, text: str) -> str:
    match = re.search(pattern, text, flags=re.MULTILINE)
    assert match, f"nothing matches {pattern!r}"
    return match.group(1)


def test_kustomization_applies_every_manifest_and_only_existing_ones() -> None:
    listed = set(_kustomization()["resources"])
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_probes_reach_the_health_endpoints_on_the_port_the_app_serves() -> None:
    container = _api_container()
    (port,) = container["ports"]
    assert port["containerPort"] == int(_config()["PORT"])
    assert port["containerPort"] == int(_first_group(r"^EXPOSE (\d+)$", DOCKERFILE))
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/api/health/live", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/api/health/ready",
        "port": port["name"],
    }
    (service_port,) = _objects()[("Service", "orchestrator")]["spec"]["ports"]
    assert service_port["port"] == 80
    assert service_port["targetPort"] == port["name"]


def test_grace_period_outlasts_the_prestop_pause_plus_the_drain() -> None:
    command = " ".join(_api_container()["lifecycle"]["preStop"]["exec"]["command"])
    pause = int(_first_group(r"time\.sleep\((\d+)\)", command))
    drain = int(_config()["SHUTDOWN_GRACE_S"])
    grace = _pod_spec("Deployment", "orchestrator")["terminationGracePeriodSeconds"]
    assert pause >= 1
    assert grace > pause + drain


@pytest.mark.parametrize(
    ("kind", "name"), [("Deployment", "orchestrator"), ("Job", "orchestrator-migrate")]
)
def test_pods_run_as_the_unprivileged_user_the_image_creates(kind: str, name: str) -> None:
    uid = int(_first_group(r"--uid (\d+)", DOCKERFILE))
    assert int(_first_group(r"^USER (\d+)", DOCKERFILE)) == uid
    pod = _pod_spec(kind, name)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {mount["mountPath"] for mount in container["volumeMounts"]} >= {"/tmp"}


def test_only_the_job_migrates_and_its_command_is_installed_by_the_package() -> None:
    assert _config()["RUN_MIGRATIONS_ON_START"] == "false"
    (container,) = _pod_spec("Job", "orchestrator-migrate")["containers"]
    executable = container["command"][0]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {})
    assert executable in scripts, f"pyproject.toml declares no console script {executable!r}"


def test_configmap_values_are_settings_the_app_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings ignores unknown variables, so a misspelt key would be dropped without a word.
    unknown = {key for key in _config() if key.lower() not in Settings.model_fields}
    assert not unknown, f"not settings: {sorted(unknown)}"
    for key, value in _config().items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.run_migrations_on_start is False


def test_every_variable_given_to_the_pods_is_documented_in_env_example() -> None:
    env_example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", env_example, flags=re.MULTILINE))
    provider_keys = _objects()[("Secret", "orchestrator-secrets")]["stringData"]
    missing = (set(_config()) | set(provider_keys)) - documented
    assert not missing, f"not in .env.example: {sorted(missing)}"

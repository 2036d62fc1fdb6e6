"""The container and the manifests listen on every interface, so they must bring the
operator's key: from the Secret, to the API pods, by name (SPEC §7)."""

from __future__ import annotations

import re

from tests.deploy.test_manifests import DOCKERFILE, _api_container, _config, _objects


def test_the_image_and_the_pods_listen_on_every_interface() -> None:
    assert re.search(r"^\s+HOST=0\.0\.0\.0 \\$", DOCKERFILE, flags=re.MULTILINE)
    assert _config()["HOST"] == "0.0.0.0"


def test_the_api_pods_take_the_admin_key_from_the_secret() -> None:
    (entry,) = [e for e in _api_container()["env"] if e["name"] == "ADMIN_API_KEY"]
    reference = entry["valueFrom"]["secretKeyRef"]
    assert reference["name"] == "orchestrator-secrets"
    assert reference["key"] == "ADMIN_API_KEY"
    assert not reference.get("optional", False)
    secret = _objects()[("Secret", "orchestrator-secrets")]["stringData"]
    assert "ADMIN_API_KEY" in secret
    assert "ADMIN_API_KEY" not in _config()  # never in a ConfigMap

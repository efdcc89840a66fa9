"""deploy/check.py catches what it claims to: it must fail on broken files, not only pass."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "deploy" / "check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_check"] = module
    spec.loader.exec_module(module)
    return module


check = _load()


def test_the_production_overlay_renders_the_release_image_and_patches() -> None:
    resources = check.render(ROOT / "deploy" / "k8s" / "overlays" / "production")
    by_key = {(r["kind"], r["metadata"]["name"]): r for r in resources}
    api = by_key[("Deployment", "fte-api")]
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/fte:0.1.0"
    assert container["args"] == ["serve", "--workers", "2"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"  # kept from base
    assert by_key[("HorizontalPodAutoscaler", "fte-worker")]["spec"]["minReplicas"] == 3
    assert {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"} == {
        "fte"
    }
    metrics = by_key[("HorizontalPodAutoscaler", "fte-worker")]["spec"]["metrics"]
    assert {m["type"] for m in metrics} == {"Resource", "External"}


def test_strict_schema_validation_rejects_an_unknown_field() -> None:
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "a", "image": "b", "livenessprobe": {}}]},
            },
        },
    }
    with pytest.raises(check.CheckError, match="livenessprobe"):
        check.validate_resources([bad], "test")


def test_a_service_that_selects_no_pod_is_an_error() -> None:
    resources = check.render(ROOT / "deploy" / "k8s" / "base")
    service = next(r for r in resources if r["kind"] == "Service")
    service["spec"]["selector"] = {"app.kubernetes.io/name": "fte-apj"}
    with pytest.raises(check.CheckError, match="selects no pod"):
        check.check_references(resources, {"fte-secrets"}, "test")


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [missing.yaml]\n", "does not exist"),
        ("resources: []\ncommonLabels: {a: b}\n", "does not render"),
    ],
)
def test_the_renderer_refuses_what_it_cannot_honour(
    tmp_path: Path, kustomization: str, message: str
) -> None:
    (tmp_path / "kustomization.yaml").write_text(kustomization)
    with pytest.raises(check.CheckError, match=message):
        check.render(tmp_path)


def test_runbook_anchors_follow_github() -> None:
    assert check.anchors("## API not responding\n### `make run` does not start\n") == {
        "api-not-responding",
        "make-run-does-not-start",
    }


def test_in_ci_a_missing_promtool_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(check.CheckError, match="promtool not found"):
        check.check_promtool()
    monkeypatch.setenv("CI", "false")
    assert "NOT checked" in check.check_promtool()[0]


def test_the_worker_leaves_intake_room_on_a_shared_node() -> None:
    resources = check.render(ROOT / "deploy" / "k8s" / "overlays" / "production")
    by_key = {(r["kind"], r["metadata"]["name"]): r for r in resources}
    worker = by_key[("Deployment", "fte-worker")]["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    # A backlog takes at most its two embedding processes' cores, never the API's.
    assert container["resources"]["limits"]["cpu"] == "2"
    (preferred,) = worker["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    selector = preferred["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "fte-api"}

"""Validate everything under deploy/ offline: `make deploy-check`.

- Kubernetes: every kustomization is rendered (a small renderer for the subset of kustomize
  these files use, refusing any field it does not implement; when `kubectl` is on PATH its
  built-in kustomize renders too and must agree), every resource is validated against the
  Kubernetes OpenAPI schemas (kubernetes-validate, strict), and references between resources
  (selectors, config maps, secrets, scale targets) must resolve.
- Compose: the compose-spec JSON schema (check-jsonschema), plus depends_on and bind mounts.
- Prometheus: `promtool check config`, `promtool check rules`, `promtool test rules`; every
  alert has a P1/P2/P3 severity, a runbook link to a heading that exists, and a unit test.
  promtool is required when CI=true (make promtool installs it), skipped with a warning else.
- Grafana: the dashboard is JSON and every metric it and the alerts use is in the contract
  (docs/architecture.md, "Metrics").
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes release these manifests promise to work on
Resource = dict[str, Any]
KUSTOMIZE_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}


class CheckError(Exception):
    """One problem found; the message names the file."""


# ---- kustomize subset ---------------------------------------------------------------------


def _load_all(path: Path) -> list[Resource]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _key(r: Resource) -> tuple[str, str]:
    return r["kind"], r["metadata"]["name"]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as these patches use it: maps merge, lists of named maps merge by
    name (containers, ports), any other list is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    named = isinstance(base, list) and isinstance(patch, list)
    if named and all(isinstance(x, dict) and "name" in x for x in base + patch):
        merged = [copy.deepcopy(x) for x in base]
        index = {x["name"]: i for i, x in enumerate(merged)}
        for item in patch:
            if item["name"] in index:
                merged[index[item["name"]]] = _merge(merged[index[item["name"]]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _containers(node: Any) -> list[dict[str, Any]]:
    """Every container of a resource, wherever its pod template sits (Deployment, Job,
    CronJob's jobTemplate, ...)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found += value
            else:
                found += _containers(value)
    elif isinstance(node, list):
        for item in node:
            found += _containers(item)
    return found


def _set_image(r: Resource, images: list[dict[str, str]]) -> None:
    for c in _containers(r.get("spec", {})):
        for image in images:
            if c["image"].split(":")[0] == image["name"]:
                name = image.get("newName", image["name"])
                c["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name


def render(directory: Path) -> list[Resource]:
    """The resources `kustomize build directory` produces, for the fields we use."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise CheckError(f"{directory}: no kustomization.yaml")
    spec = yaml.safe_load(path.read_text())
    unknown = set(spec) - KUSTOMIZE_FIELDS
    if unknown:
        raise CheckError(f"{path}: fields this check does not render: {sorted(unknown)}")
    out: list[Resource] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            out += render(target)
        elif target.is_file():
            out += _load_all(target)
        else:
            raise CheckError(f"{path}: resource {entry} does not exist")
    by_key = {_key(r): r for r in out}
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise CheckError(f"{path}: only `patches: - path: FILE` is rendered here")
        for doc in _load_all(directory / patch["path"]):
            if _key(doc) not in by_key:
                raise CheckError(f"{path}: patch {patch['path']} targets missing {_key(doc)}")
            merged = _merge(by_key[_key(doc)], doc)
            by_key[_key(doc)].clear()
            by_key[_key(doc)].update(merged)
    for image in spec.get("images", []):
        used = [r for r in out if image["name"] in json.dumps(r)]
        if not used:
            raise CheckError(f"{path}: image {image['name']} is used by no resource")
    for r in out:
        _set_image(r, spec.get("images", []))
        if "namespace" in spec and r["kind"] != "Namespace":
            r["metadata"]["namespace"] = spec["namespace"]
    return out


def kubectl_render(directory: Path) -> list[Resource] | None:
    """kubectl's own kustomize, when kubectl is installed (no cluster is contacted)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CheckError(f"kubectl kustomize {directory}: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


# ---- Kubernetes checks ----------------------------------------------------------------------


def validate_resources(resources: list[Resource], where: str) -> None:
    for r in resources:
        try:
            kubernetes_validate.validate(r, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise CheckError(f"{where}: {r['kind']}/{r['metadata']['name']}: {exc}") from exc


def _pod_spec(r: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = r["spec"]["template"]["spec"]
    return spec


def check_references(resources: list[Resource], secrets: set[str], where: str) -> None:
    """Selectors select, and everything a pod or an autoscaler names exists."""
    by_kind: dict[str, dict[str, Resource]] = {}
    for r in resources:
        by_kind.setdefault(r["kind"], {})[r["metadata"]["name"]] = r
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("Job", {})}
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads.values()]

    def selects(selector: dict[str, str]) -> bool:
        return any(selector.items() <= labels.items() for labels in pod_labels)

    for name, d in by_kind.get("Deployment", {}).items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        if not d["spec"]["selector"]["matchLabels"].items() <= labels.items():
            raise CheckError(f"{where}: Deployment {name}: selector does not match its pods")
    for kind in ("Service", "PodDisruptionBudget"):
        for name, r in by_kind.get(kind, {}).items():
            sel = r["spec"]["selector"]
            if not selects(sel.get("matchLabels", sel)):
                raise CheckError(f"{where}: {kind} {name} selects no pod")
    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        target = hpa["spec"]["scaleTargetRef"]
        if target["name"] not in by_kind.get(target["kind"], {}):
            raise CheckError(f"{where}: HPA {name} scales a missing {target['kind']}")
    for name, w in {**workloads, **by_kind.get("CronJob", {})}.items():
        pod = _pod_spec(w) if w["kind"] != "CronJob" else _pod_spec(w["spec"]["jobTemplate"])
        sa = pod.get("serviceAccountName")
        if sa and sa not in by_kind.get("ServiceAccount", {}):
            raise CheckError(f"{where}: {name} uses a missing ServiceAccount {sa}")
        for volume in pod.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in by_kind.get("PersistentVolumeClaim", {}):
                raise CheckError(f"{where}: {name} mounts a missing claim {claim}")
        for c in pod["containers"]:
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    if source["configMapRef"]["name"] not in by_kind.get("ConfigMap", {}):
                        raise CheckError(f"{where}: {name} reads a missing ConfigMap")
                elif source["secretRef"]["name"] not in secrets:
                    raise CheckError(f"{where}: {name} reads a Secret with no example")
            if "resources" not in c:
                raise CheckError(f"{where}: {name}/{c['name']} has no resource requests")


def check_kubernetes() -> list[str]:
    done = []
    example = _load_all(K8S / "secret.example.yaml")
    validate_resources(example, "secret.example.yaml")
    secrets = {r["metadata"]["name"] for r in example if r["kind"] == "Secret"}
    for path in sorted(K8S.rglob("kustomization.yaml")):
        directory = path.parent
        where = str(directory.relative_to(ROOT))
        ours = render(directory)
        validate_resources(ours, where)
        check_references(ours, secrets, where)
        theirs = kubectl_render(directory)
        note = "kubectl kustomize not available"
        if theirs is not None:
            canon = sorted(json.dumps(r, sort_keys=True) for r in theirs)
            if sorted(json.dumps(r, sort_keys=True) for r in ours) != canon:
                raise CheckError(f"{where}: this renderer and kubectl kustomize disagree")
            note = "identical to kubectl kustomize"
        done.append(f"{where}: {len(ours)} resources valid for Kubernetes {K8S_VERSION} ({note})")
    return done


# ---- Compose ----------------------------------------------------------------------------------


def check_compose() -> list[str]:
    path = DEPLOY / "compose.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise CheckError(f"{path.name} against the compose spec:\n{done.stdout}{done.stderr}")
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            if dep not in services:
                raise CheckError(f"{path.name}: {name} depends on a missing service {dep}")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and not (DEPLOY / source).exists():
                raise CheckError(f"{path.name}: {name} mounts missing {source}")
            if not source.startswith((".", "/")) and source not in compose.get("volumes", {}):
                raise CheckError(f"{path.name}: {name} uses an undeclared volume {source}")
    return [f"deploy/compose.yaml: {len(services)} services valid against the compose spec"]


# ---- Prometheus, Grafana, the metric contract ------------------------------------------------


# The rule files Prometheus loads (prometheus.yml), each with its unit tests beside it as
# <name>.test.yml: the alerts on thresholds, and the SLOs' recording rules and burn-rate alerts.
RULE_FILES = ("alerts.yml", "slo.yml")


def metric_contract() -> set[str]:
    """The metric names docs/architecture.md promises under its "Metrics" heading."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Metrics", 1)
    if len(section) != 2:
        raise CheckError("docs/architecture.md has no '## Metrics' section")
    body = section[1].split("\n## ", 1)[0]
    return set(re.findall(r"`((?:fte|process)_[a-z_]+)`", body))


def _metrics_in(expr: str) -> set[str]:
    names = set(re.findall(r"\b((?:fte|process)_[a-z_]+)", expr))
    # A histogram's series carry these suffixes; the contract names the histogram.
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings."""
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def check_alerts(contract: set[str]) -> list[str]:
    prom = DEPLOY / "prometheus"
    groups = [g for f in RULE_FILES for g in yaml.safe_load((prom / f).read_text())["groups"]]
    tests = "".join((prom / f.replace(".yml", ".test.yml")).read_text() for f in RULE_FILES)
    runbook_text = (ROOT / "docs" / "runbook.md").read_text()
    runbook = anchors(runbook_text)
    for link in re.findall(r"\]\(#([^)]+)\)", runbook_text):
        if link not in runbook:
            raise CheckError(f"docs/runbook.md links to a missing heading #{link}")
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    for rule in alerts:
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in {"P1", "P2", "P3"}:
            raise CheckError(f"alerts.yml: {name} has no severity P1, P2 or P3")
        url = rule.get("annotations", {}).get("runbook_url", "")
        if "docs/runbook.md#" not in url or url.rsplit("#", 1)[1] not in runbook:
            raise CheckError(f"alerts.yml: {name}: runbook_url {url!r} names no runbook heading")
        if f"alertname: {name}\n" not in tests:
            raise CheckError(f"no unit test (alerts.test.yml, slo.test.yml) for {name}")
        missing = _metrics_in(rule["expr"]) - contract
        if missing:
            raise CheckError(f"alerts.yml: {name} uses metrics outside the contract: {missing}")
    return [f"deploy/prometheus/{', '.join(RULE_FILES)}: {len(alerts)} alerts, each with severity, "
            "runbook link and unit test"]  # fmt: skip


def check_dashboard(contract: set[str]) -> list[str]:
    path = DEPLOY / "grafana" / "fte.json"
    dashboard = json.loads(path.read_text())
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    for panel in panels:
        if not panel.get("targets"):
            raise CheckError(f"fte.json: panel {panel.get('title')!r} has no query")
        for target in panel["targets"]:
            missing = _metrics_in(target["expr"]) - contract
            if missing:
                raise CheckError(f"fte.json: {panel['title']!r} uses unknown metrics {missing}")
    return [f"deploy/grafana/fte.json: {len(panels)} panels over contract metrics"]


def promtool() -> str | None:
    tool = shutil.which("promtool")
    if tool is None and os.environ.get("CI") == "true":
        raise CheckError("promtool not found (CI=true): run `make promtool` first")
    return tool


def check_promtool() -> list[str]:
    tool = promtool()
    if tool is None:
        return ["promtool not installed: rules NOT checked or unit-tested (run `make promtool`)"]
    prom = DEPLOY / "prometheus"
    for args in (
        # Syntax only: the API's token file exists inside the Prometheus container alone (a
        # Compose secret); the rules it names are checked just below.
        ["check", "config", "--syntax-only", "prometheus.yml"],
        ["check", "rules", *RULE_FILES],
        ["test", "rules", *(f.replace(".yml", ".test.yml") for f in RULE_FILES)],
    ):
        done = subprocess.run([tool, *args], cwd=prom, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CheckError(f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}")
    return ["promtool check config, check rules and test rules: passed"]


def check_dockerfile() -> list[str]:
    """What a build would trip over first: sources it copies, stages, the user it runs as."""
    path = DEPLOY / "Dockerfile"
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    stages = [ln for ln in lines if ln.startswith("FROM ")]
    for line in lines:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if not (ROOT / source).exists():
                    raise CheckError(f"Dockerfile copies {source}, which does not exist")
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    if len(stages) < 2 or not users or users[-1].split(":")[0] in ("root", "0"):
        raise CheckError("Dockerfile: expected a multi-stage build ending as a non-root USER")
    return [f"deploy/Dockerfile: {len(stages)} stages, runs as {users[-1]}"]


def main() -> int:
    try:
        contract = metric_contract()
        lines = check_dockerfile() + check_kubernetes() + check_compose()
        lines += check_alerts(contract) + check_dashboard(contract) + check_promtool()
        lines.append(_syntax_check(DEPLOY / "k8s" / "rollout.sh"))
    except (CheckError, yaml.YAMLError, json.JSONDecodeError, KeyError, OSError) as exc:
        print(f"deploy check FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"ok  {line}")
    return 0


def _syntax_check(script: Path) -> str:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CheckError(f"{script.name}: {done.stderr.strip()}")
    return f"{script.relative_to(ROOT)}: bash syntax"


if __name__ == "__main__":
    sys.exit(main())

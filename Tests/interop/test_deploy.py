"""The deployment package (deploy/): Kubernetes manifests valid against the Kubernetes schemas, the specification's
allocations exactly, hardened pods, a default-deny network, and no failed checkov check.

The kustomizations are rendered with `kubectl kustomize` (what `kubectl apply -k` applies), so every check sees
the objects a cluster would receive, not the patches they are made of.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33.0"
# The platform specification, section 5: CPU, memory, replicas.
SPEC_ALLOCATIONS = {
    "gateway": ("2", "4Gi", 3),
    "users": ("1", "2Gi", 2),
    "orders": ("2", "4Gi", 3),
    "notifications": ("500m", "1Gi", 2),
    "analytics": ("4", "8Gi", 2),
}
# Kinds from operators (cert-manager, the Prometheus Operator): not in the Kubernetes schemas.
CUSTOM_KINDS = {("cert-manager.io/v1", "Issuer"), ("cert-manager.io/v1", "Certificate"),
                ("monitoring.coreos.com/v1", "ServiceMonitor")}
KUSTOMIZATIONS = ["base", "overlays/trial", "overlays/production"]


def render(kustomization: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomizations (scripts/test installs kubernetes-client)"
    result = subprocess.run([kubectl, "kustomize", str(KUBERNETES / kustomization)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_every_object_is_valid_against_the_kubernetes_schemas(rendered: tuple[str, list[dict]]) -> None:
    name, docs = rendered
    assert docs, f"{name} renders nothing"
    for doc in docs:
        assert doc["metadata"].get("namespace", "meridian") == "meridian" or doc["kind"] == "Namespace", doc
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            assert doc["metadata"]["name"] and doc.get("spec"), f"{name}: {doc['kind']} without a spec"
            continue
        # Strict: an unknown field (a typo) is an error, not silently dropped by the API server.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("kustomization", ["base", "overlays/production"])
def test_allocations_and_replicas_are_the_specifications(kustomization: str) -> None:
    docs = render(kustomization)
    deployments = by_kind(docs, "Deployment")
    autoscalers = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(deployments) == set(SPEC_ALLOCATIONS)
    for service, (cpu, memory, replicas) in SPEC_ALLOCATIONS.items():
        deployment = deployments[service]
        assert deployment["spec"]["replicas"] == replicas, service
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        resources = container["resources"]
        # Requests equal limits: Guaranteed QoS, the allocation is what the pod gets, no more, no less.
        assert resources["requests"] == {"cpu": cpu, "memory": memory}, service
        assert resources["limits"] == {"cpu": cpu, "memory": memory}, service
        assert autoscalers[service]["spec"]["minReplicas"] == replicas, service
        assert autoscalers[service]["spec"]["maxReplicas"] >= replicas, service


def test_pods_are_hardened_and_probed(rendered: tuple[str, list[dict]]) -> None:
    name, docs = rendered
    workloads = list(by_kind(docs, "Deployment").values()) + list(by_kind(docs, "Job").values())
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        label = f"{name}: {workload['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, label
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", label
        assert pod["automountServiceAccountToken"] is False, label
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, label
            assert security["allowPrivilegeEscalation"] is False, label
            assert security["capabilities"]["drop"] == ["ALL"], label
            # Secrets arrive as files: no secret in the environment.
            for variable in container.get("env", []):
                assert "secretKeyRef" not in variable.get("valueFrom", {}), label
            if workload["kind"] == "Deployment":
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", label
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", label
                assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS", label
        if workload["kind"] == "Deployment":
            service = workload["metadata"]["name"]
            assert {"PodDisruptionBudget", "Service", "ServiceAccount", "HorizontalPodAutoscaler"} <= {
                doc["kind"] for doc in docs if doc["metadata"]["name"] == service}, label


def test_the_network_denies_by_default_and_only_the_gateway_is_public(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:
                # An ingress rule without `from` admits anyone: only the gateway may have one.
                assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "gateway"}}, policy
    # Orders is reached by the gateway alone.
    callers = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
               for rule in policies["orders-ingress"]["spec"]["ingress"] for peer in rule["from"]]
    assert callers == ["gateway"]


def checkov() -> str:
    path = REPO / ".venv-checkov" / "bin" / "checkov"
    found = str(path) if path.is_file() else shutil.which("checkov")
    assert found, "checkov not installed: scripts/test installs it into .venv-checkov"
    return found


def test_checkov_finds_no_failed_check(tmp_path: Path) -> None:
    files = []
    for kustomization in KUSTOMIZATIONS:
        target = tmp_path / (kustomization.replace("/", "-") + ".yaml")
        target.write_text(yaml.safe_dump_all(render(kustomization)))
        files += ["-f", str(target)]
    dockerfile = REPO / "deploy" / "docker" / "Dockerfile"
    environment = dict(os.environ, BC_SKIP_MAPPING="TRUE")
    result = subprocess.run(
        [checkov(), *files, "-f", str(dockerfile), "--framework", "kubernetes", "dockerfile", "--compact",
         "--quiet", "--skip-download", "--output", "cli"],
        capture_output=True, text=True, timeout=600, env=environment)
    summary = re.findall(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", result.stdout)
    assert summary, result.stdout[-3000:] + result.stderr[-3000:]
    assert all(int(failed) == 0 for _, failed, _ in summary), result.stdout[-6000:]
    assert sum(int(passed) for passed, _, _ in summary) > 500
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_checkov_exception_says_why() -> None:
    skips = []
    for path in list((REPO / "deploy").rglob("*.yaml")) + [REPO / "deploy" / "docker" / "Dockerfile"]:
        for line in path.read_text().splitlines():
            if "checkov" in line and "skip" in line:
                skips.append((path.name, line))
    assert skips, "expected the documented image-digest exception"
    for name, line in skips:
        assert re.search(r"CKV_[A-Z0-9_]+\s*[=:]\s*\S.{10,}", line), f"{name}: exception without a reason: {line}"

"""deploy/ checked offline: Helm values against the official chart's schema, EKS/Karpenter against our
schemas, Kubernetes manifests with kubernetes-validate --strict, Dockerfiles by parsing, and the GPU /
CPU step pod specs rendered by dagster-k8s itself."""

import json
import re

import pytest
import yaml

from av_assets.platform.gpu import CPU_NODE_SELECTOR, GPU_NODE_SELECTOR, GPU_TOLERATION, POOL_LABEL, gpu_step
from av_resources.env import CPU_STEP_K8S_CONFIG, PROD_ENV_SECRET, PROD_SERVICE_ACCOUNT
from av_resources.k8s_local import validate_strict
from tests.k8s import EKS_VERSION
from tests.k8s.schemas import (
    CHART_DIR,
    DEPLOY,
    chart_validator,
    chart_values,
    errors,
    load_yaml_docs,
    own_schema,
    parse_dockerfile,
)

VALUES = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
INSTANCE = yaml.safe_load((DEPLOY / "instance" / "dagster.prod.yaml").read_text())
CLUSTER = yaml.safe_load((DEPLOY / "eks" / "cluster.yaml").read_text())
KARPENTER = load_yaml_docs(DEPLOY / "eks" / "karpenter-nodepools.yaml")


def _by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in KARPENTER if d["kind"] == kind}


# ----------------------------------------------------------------------------- Helm values
def test_k8s_helm_values_validate_against_the_charts_own_schema():
    """The chart's values.schema.json (1.10.4) over the chart defaults merged with ours, its 1.18
    Kubernetes `$ref`s served by kubernetes-validate's (non-strict, as kubernetesjsonschema.dev's were)
    definitions for the EKS version we run. (The strict definitions reject the chart's own default
    `startupProbe: {enabled: false}`, so they are not what the chart means.)"""
    assert yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["version"] == "1.10.4"
    validator, retrieved = chart_validator(EKS_VERSION)
    assert errors(validator, chart_values(VALUES)) == []
    assert retrieved and all("kubernetesjsonschema.dev/v1.18.0/_definitions.json" in u for u in retrieved)


def test_k8s_helm_schema_catches_mistakes_including_inside_kubernetes_refs():
    validator, _ = chart_validator(EKS_VERSION)
    typo = json.loads(json.dumps(VALUES))
    typo["runLauncher"]["config"]["k8sRunLauncher"]["jobNamspace"] = "av-platform"
    assert any("jobNamspace" in e for e in errors(validator, chart_values(typo)))
    bad_ref = json.loads(json.dumps(VALUES))  # resolved through the remote $ref (Tolerations)
    bad_ref["dagsterDaemon"]["tolerations"] = [{"key": "nvidia.com/gpu", "effect": 7}]
    assert errors(validator, chart_values(bad_ref)), "a remote $ref was not followed"
    bad_res = json.loads(json.dumps(VALUES))  # ResourceRequirements through the remote $ref
    bad_res["dagsterDaemon"]["resources"] = {"requests": {"cpu": ["1"]}}
    assert errors(validator, chart_values(bad_res))


def test_k8s_helm_values_say_what_production_needs():
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert deployment["codeServerArgs"] == ["-m", "av_assets.definitions"]
    assert deployment["image"]["tag"] not in ("", "latest", None)
    assert {"name": PROD_ENV_SECRET} in deployment["envSecrets"]
    assert {"name": "AV_ENV", "value": "prod"} in deployment["env"]

    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["jobNamespace"] == "av-platform" and launcher["loadInclusterConfig"] is True
    assert {"name": PROD_ENV_SECRET} in launcher["envSecrets"]
    assert launcher["runK8sConfig"]["podSpecConfig"]["nodeSelector"] == CPU_NODE_SELECTOR

    assert VALUES["postgresql"]["enabled"] is False and VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["postgresql"]["postgresqlHost"].endswith(".rds.amazonaws.com")
    assert VALUES["global"]["postgresqlSecretName"]

    sa = VALUES["serviceAccount"]
    assert sa["name"] == VALUES["global"]["serviceAccountName"] == PROD_SERVICE_ACCOUNT
    role = sa["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", role)

    clm = VALUES["computeLogManager"]
    assert clm["type"] == "S3ComputeLogManager" and clm["config"]["s3ComputeLogManager"]["bucket"]

    daemon = VALUES["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    limits = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert {"key": "team", "value": {"applyLimitPerUniqueValue": True}, "limit": 10} in limits
    assert daemon["runMonitoring"]["enabled"] is True
    # Karpenter launching a GPU node and pulling the CUDA image takes minutes, not the default 300 s.
    assert daemon["runMonitoring"]["startTimeoutSeconds"] >= 900
    for image in (VALUES["dagsterWebserver"]["image"], daemon["image"]):
        assert image["tag"] == "1.13.27", "webserver/daemon must run the dagster version the code pins"


def test_k8s_helm_values_and_the_prod_instance_yaml_agree():
    """The chart renders its own dagster.yaml from values; deploy/instance/dagster.prod.yaml is the same
    instance for non-Helm use and for the kmock run. They must not drift."""
    daemon = VALUES["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert INSTANCE["concurrency"]["runs"]["max_concurrent_runs"] == queued["maxConcurrentRuns"]
    assert INSTANCE["concurrency"]["runs"]["tag_concurrency_limits"] == queued["tagConcurrencyLimits"]
    assert INSTANCE["concurrency"]["pools"] == VALUES["additionalInstanceConfig"]["concurrency"]["pools"]
    monitoring = INSTANCE["run_monitoring"]
    assert monitoring["start_timeout_seconds"] == daemon["runMonitoring"]["startTimeoutSeconds"]
    assert monitoring["poll_interval_seconds"] == daemon["runMonitoring"]["pollIntervalSeconds"]
    assert INSTANCE["run_retries"]["max_retries"] == daemon["runRetries"]["maxRetries"]
    s3 = VALUES["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert INSTANCE["compute_logs"]["class"] == "S3ComputeLogManager"
    assert INSTANCE["compute_logs"]["config"]["prefix"] == s3["prefix"]
    launcher = INSTANCE["run_launcher"]["config"]
    assert launcher["service_account_name"] == VALUES["serviceAccount"]["name"]
    assert launcher["dagster_home"] == VALUES["global"]["dagsterHome"]
    assert launcher["env_secrets"] == [
        s["name"] for s in VALUES["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    ]


# ----------------------------------------------------------------------------- EKS + Karpenter
def test_k8s_eks_cluster_and_karpenter_validate_against_our_schemas():
    assert errors(own_schema("eksctl-clusterconfig.schema.json"), CLUSTER) == []
    nodepool, nodeclass = (
        own_schema("karpenter-nodepool.schema.json"),
        own_schema("karpenter-ec2nodeclass.schema.json"),
    )
    kinds = sorted(d["kind"] for d in KARPENTER)
    assert kinds == ["EC2NodeClass", "EC2NodeClass", "NodePool", "NodePool"]
    for doc in KARPENTER:
        assert errors(nodepool if doc["kind"] == "NodePool" else nodeclass, doc) == [], doc["metadata"][
            "name"
        ]


def test_k8s_our_schemas_reject_what_eksctl_and_karpenter_reject():
    nodepool, nodeclass = (
        own_schema("karpenter-nodepool.schema.json"),
        own_schema("karpenter-ec2nodeclass.schema.json"),
    )
    gpu = json.loads(json.dumps(_by_kind("NodePool")["gpu"]))
    gpu["spec"]["disruption"]["consolidationPolicy"] = "WhenUnderutilized"  # v1beta1 spelling
    assert errors(nodepool, gpu)
    gpu = json.loads(json.dumps(_by_kind("NodePool")["gpu"]))
    gpu["spec"]["template"]["spec"]["requirements"].append(
        {"key": "karpenter.sh/nodepool", "operator": "Exists"}
    )
    assert errors(nodepool, gpu)
    cls = json.loads(json.dumps(_by_kind("EC2NodeClass")["gpu"]))
    cls["spec"]["amiSelectorTerms"] = [{"alias": "al2023@latest", "id": "ami-0123"}]
    assert errors(nodeclass, cls)
    cls["spec"]["amiSelectorTerms"] = [{"alias": "al2023@latest"}]
    cls["spec"]["instanceProfile"] = "both-role-and-profile"
    assert errors(nodeclass, cls)
    cluster = json.loads(json.dumps(CLUSTER))
    cluster["managedNodeGroups"][0]["instancetypes"] = ["m6i.large"]
    assert errors(own_schema("eksctl-clusterconfig.schema.json"), cluster)


def test_k8s_gpu_step_matches_the_gpu_node_pool_and_cpu_steps_the_cpu_pool():
    pools = _by_kind("NodePool")
    gpu_pool, cpu_pool = pools["gpu"]["spec"]["template"], pools["cpu"]["spec"]["template"]
    k8s = gpu_step()["op_tags"]["dagster-k8s/config"]
    selector = k8s["pod_spec_config"]["node_selector"]
    assert (
        selector == GPU_NODE_SELECTOR and gpu_pool["metadata"]["labels"][POOL_LABEL] == selector[POOL_LABEL]
    )
    (taint,) = gpu_pool["spec"]["taints"]
    toleration = k8s["pod_spec_config"]["tolerations"][0]
    assert toleration == GPU_TOLERATION
    assert taint["key"] == toleration["key"] and taint["effect"] == toleration["effect"]
    assert "nvidia.com/gpu" in pools["gpu"]["spec"]["limits"]
    families = next(r for r in gpu_pool["spec"]["requirements"] if r["key"].endswith("instance-family"))
    assert all(f[0] in "gp" for f in families["values"]), "GPU pool must only offer GPU instance families"
    # CPU steps land on the CPU pool, which has no GPU taint (so no toleration is needed).
    assert CPU_STEP_K8S_CONFIG["pod_spec_config"]["node_selector"] == CPU_NODE_SELECTOR
    assert cpu_pool["metadata"]["labels"][POOL_LABEL] == CPU_NODE_SELECTOR[POOL_LABEL]
    assert not cpu_pool["spec"].get("taints")
    nodeclasses = _by_kind("EC2NodeClass")
    for pool in pools.values():
        assert pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] in nodeclasses
    discovery = CLUSTER["metadata"]["tags"]["karpenter.sh/discovery"]
    for cls in nodeclasses.values():
        assert cls["spec"]["subnetSelectorTerms"][0]["tags"]["karpenter.sh/discovery"] == discovery


def test_k8s_cluster_targets_our_eks_version_and_irsa_matches_helm():
    assert CLUSTER["metadata"]["version"] == EKS_VERSION
    (sa,) = CLUSTER["iam"]["serviceAccounts"]
    assert sa["metadata"]["name"] == VALUES["serviceAccount"]["name"]
    assert sa["metadata"]["namespace"] == VALUES["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"]
    assert VALUES["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        "/" + sa["roleName"]
    )
    assert CLUSTER["iam"]["withOIDC"] is True


# ----------------------------------------------------------------------------- Kubernetes manifests
@pytest.mark.parametrize("path", sorted((DEPLOY / "k8s").glob("*.yaml")), ids=lambda p: p.name)
def test_k8s_our_manifests_validate_strict(path):
    docs = load_yaml_docs(path)
    assert docs
    for doc in docs:
        assert validate_strict(doc, EKS_VERSION) == EKS_VERSION


def _render_step_job(k8s_config: dict, step_key: str) -> dict:
    """The Job dagster-k8s builds for a step with these op tags on top of the prod executor defaults."""
    import kubernetes
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job

    merged = json.loads(json.dumps(CPU_STEP_K8S_CONFIG))
    for section, value in k8s_config.items():  # deep merge, as the executor does (merge_behavior DEEP)
        merged[section] = _deep_merge(merged.get(section, {}), value)
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(
            job_image="123456789012.dkr.ecr.us-west-2.amazonaws.com/av-platform:0.1.0",
            dagster_home="/opt/dagster/dagster_home",
            image_pull_policy="IfNotPresent",
            service_account_name=PROD_SERVICE_ACCOUNT,
            env_secrets=[PROD_ENV_SECRET],
            instance_config_map="dagster-instance",
        ),
        args=["dagster", "api", "execute_step"],
        job_name=f"dagster-step-{step_key}",
        pod_name=f"dagster-step-{step_key}",
        component="step_worker",
        user_defined_k8s_config=UserDefinedDagsterK8sConfig.from_dict(merged),
        labels={"dagster/op": step_key},
    )
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


def _deep_merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return {**a, **{k: _deep_merge(a.get(k), v) if k in a else v for k, v in b.items()}}
    return b


def test_k8s_rendered_gpu_and_cpu_step_jobs_are_valid_and_differ_only_as_intended():
    gpu_job = _render_step_job(gpu_step()["op_tags"]["dagster-k8s/config"], "gpu")
    cpu_job = _render_step_job({}, "cpu")
    for job in (gpu_job, cpu_job):
        validate_strict(job, EKS_VERSION)
    gpu_spec, cpu_spec = gpu_job["spec"]["template"]["spec"], cpu_job["spec"]["template"]["spec"]
    (gpu_c,), (cpu_c,) = gpu_spec["containers"], cpu_spec["containers"]
    assert (
        gpu_c["resources"]["requests"]["nvidia.com/gpu"]
        == gpu_c["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    assert gpu_c["resources"]["requests"]["memory"] == gpu_c["resources"]["limits"]["memory"]
    assert gpu_spec["nodeSelector"] == GPU_NODE_SELECTOR and GPU_TOLERATION in gpu_spec["tolerations"]
    assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in gpu_spec["volumes"])
    assert "nvidia.com/gpu" not in json.dumps(cpu_c["resources"])
    assert cpu_spec["nodeSelector"] == CPU_NODE_SELECTOR and not cpu_spec.get("tolerations")


def test_k8s_gpu_step_rejects_zero_gpus():
    with pytest.raises(ValueError):
        gpu_step(gpus=0)


# ----------------------------------------------------------------------------- Dockerfiles
def _env(instructions) -> dict[str, str]:
    env: dict[str, str] = {}
    for cmd, value, _ in instructions:
        if cmd != "ENV":
            continue
        if len(value) == 1:
            env.update(dict(part.split("=", 1) for part in value[0].split()))
        else:
            env.update(dict(zip(value[::2], value[1::2], strict=True)))
    return env


def _final_stage(instructions):
    starts = [i for i, (cmd, _, _) in enumerate(instructions) if cmd == "FROM"]
    return instructions[starts[-1] :]


def _resolved_bases(instructions) -> list[str]:
    args = {}
    for cmd, value, _ in instructions:
        if cmd == "FROM":
            break
        if cmd == "ARG":
            name, _, default = value[0].partition("=")
            args[name] = default
    stages, bases = set(), []
    for cmd, value, _ in instructions:
        if cmd == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], value[0])
            if len(value) >= 3 and value[1].upper() == "AS":
                stages.add(value[2])
            bases.append(image)
    return [b for b in bases if b not in stages]


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_k8s_dockerfiles_lint(name):
    instructions = parse_dockerfile((DEPLOY / name).read_text())
    bases = _resolved_bases(instructions)
    assert bases
    for base in bases:
        assert "@sha256:" in base or re.search(r":[\w.-]*\d[\w.-]*$", base), f"{base}: pin a versioned tag"
        assert not base.endswith(":latest")
    final = _final_stage(instructions)
    users = [v[0] for c, v, _ in final if c == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    (cmd,) = [v for c, v, _ in final if c == "CMD"]
    assert list(cmd[:3]) == ["dagster", "code-server", "start"] and list(cmd[-2:]) == [
        "-m",
        "av_assets.definitions",
    ]
    assert [c for c, _, _ in instructions].count("ADD") == 0, "COPY, not ADD"
    env = _env(final)
    assert env["DAGSTER_HOME"] == INSTANCE["run_launcher"]["config"]["dagster_home"]
    assert env["AV_ENV"] == "prod"
    workdirs = [v[0] for c, v, _ in final if c == "WORKDIR"]
    assert workdirs and all(w.startswith("/") for w in workdirs)
    copied = {v[0] for c, v, _ in instructions if c == "COPY" and not v[0].startswith("--")}
    copied |= {v[1] for c, v, _ in instructions if c == "COPY" and v[0].startswith("--chown")}
    for src in copied - {"/uv", "/opt/venv", "/opt/python"}:
        assert (DEPLOY.parent / src).exists(), f"COPY {src}: not in the build context"
    runs = " ".join(v[0] for c, v, _ in instructions if c == "RUN")
    assert "torch==2.13.0" in runs, "torch is pinned as in pyproject.toml"
    if name.endswith(".gpu"):
        assert bases[-1].startswith("nvidia/cuda:") and "download.pytorch.org/whl/cu" in runs
    else:
        assert "download.pytorch.org/whl/cpu" in runs
    ignore = (DEPLOY / f"{name}.dockerignore").read_text().split()
    assert ".venv" in ignore and ".git" in ignore

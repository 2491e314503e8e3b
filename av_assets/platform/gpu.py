"""One place that says how a GPU step runs: `@dg.asset(**gpu_step(), ...)`.

In-process (local, ci) these tags are inert and the step runs on CPU; under `k8s_job_executor`
(AV_ENV=prod) they become the step pod's GPU request, node selector, toleration and shared memory.
The node selector and taint match the Karpenter `gpu` NodePool in deploy/eks/karpenter-gpu.yaml
(tests/k8s checks the two agree), and `pool="gpu"` caps concurrent GPU steps across runs
(`dagster instance concurrency set gpu N`).
"""

from __future__ import annotations

import os
from typing import Any

GPU_POOL = "gpu"
# Label every node of the Karpenter `gpu` NodePool carries (spec.template.metadata.labels).
POOL_LABEL = "av-platform/pool"
GPU_NODE_SELECTOR = {POOL_LABEL: "gpu"}
CPU_NODE_SELECTOR = {POOL_LABEL: "cpu"}
# Taint of the `gpu` NodePool (and of the EKS GPU AMIs' device plugin convention).
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
# The image with CUDA (deploy/Dockerfile.gpu), same code as the CPU image. Read when definitions load;
# the code server and every run worker get it from the av-platform-env secret. Unset (local, ci):
# the executor's image.
GPU_IMAGE_ENV = "AV_GPU_IMAGE"


def gpu_step(gpus: int = 1, cpu: str = "6", memory: str = "40Gi", shm: str = "16Gi") -> dict[str, Any]:
    """Keyword arguments for `@dg.asset`: `op_tags` for dagster-k8s and `pool="gpu"`.

    Defaults fit one A10G/L4 node slot (g5/g6 .2xlarge: 1 GPU, 8 vCPU, 32 GiB) minus system
    reserve when memory is lowered; the defaults target g6e.2xlarge (1 L40S, 8 vCPU, 64 GiB).
    GPU, CPU and memory requests equal their limits (Guaranteed-ish for GPU and memory; CPU request
    only, so the step may burst). `/dev/shm` is a memory-backed volume for DataLoader workers.
    """
    if gpus < 1:
        raise ValueError("gpu_step needs at least one GPU; plain assets run on CPU pods")
    container: dict[str, Any] = {
        "resources": {
            "requests": {"nvidia.com/gpu": str(gpus), "cpu": cpu, "memory": memory},
            "limits": {"nvidia.com/gpu": str(gpus), "memory": memory},
        },
        "volume_mounts": [{"name": "dshm", "mount_path": "/dev/shm"}],
        "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}, {"name": "AV_STEP_KIND", "value": "gpu"}],
    }
    image = os.environ.get(GPU_IMAGE_ENV)
    if image:
        container["image"] = image
    k8s_config = {
        "container_config": container,
        "pod_template_spec_metadata": {
            # A GPU step must not be evicted by Karpenter consolidation half way through.
            "annotations": {"karpenter.sh/do-not-disrupt": "true"},
            "labels": {"av-platform/step-kind": "gpu"},
        },
        "pod_spec_config": {
            "node_selector": dict(GPU_NODE_SELECTOR),
            "tolerations": [dict(GPU_TOLERATION)],
            "volumes": [{"name": "dshm", "empty_dir": {"medium": "Memory", "size_limit": shm}}],
        },
    }
    return {"op_tags": {"dagster-k8s/config": k8s_config, "av/step": "gpu"}, "pool": GPU_POOL}

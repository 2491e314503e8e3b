"""One place that says how a GPU step runs: `@dg.asset(**gpu_step(), ...)`.

In-process (local, ci) these tags are inert and the step runs on CPU; under `k8s_job_executor`
they become the step pod's GPU request, node selector, toleration and shared memory.
"""

from __future__ import annotations

from typing import Any

GPU_POOL = "gpu"
GPU_NODE_SELECTOR = {"av-platform/pool": "gpu"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def gpu_step(gpus: int = 1, cpu: str = "4", memory: str = "24Gi", shm: str = "8Gi") -> dict[str, Any]:
    """Keyword arguments for `@dg.asset`: `op_tags` for dagster-k8s and `pool="gpu"`."""
    k8s_config = {
        "container_config": {
            "resources": {
                "requests": {"nvidia.com/gpu": str(gpus), "cpu": cpu, "memory": memory},
                "limits": {"nvidia.com/gpu": str(gpus), "memory": memory},
            },
            "volume_mounts": [{"name": "dshm", "mount_path": "/dev/shm"}],
        },
        "pod_spec_config": {
            "node_selector": dict(GPU_NODE_SELECTOR),
            "tolerations": [dict(GPU_TOLERATION)],
            "volumes": [{"name": "dshm", "empty_dir": {"medium": "Memory", "size_limit": shm}}],
        },
    }
    return {"op_tags": {"dagster-k8s/config": k8s_config, "av/step": "gpu"}, "pool": GPU_POOL}

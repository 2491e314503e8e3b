"""A Kubernetes API on loopback for tests: `kmock` plus a small process kubelet.

No real API server can run on these machines (no Docker, no kind). `kmock`'s `KubernetesEmulator` is an
in-memory API server over HTTP; it stores what clients POST and PATCH, serves list/get/watch, and
validates nothing. `ProcessKubelet` plays the node: it picks up every Job created in the watched
namespaces, creates the Job's Pod, runs the pod's (single) container command as a local subprocess
with the container's environment (env, envFrom secrets/config maps, secretKeyRef, fieldRef), and
patches Pod and Job status to what a real kubelet + Job controller would report.

With it, `dagster-k8s`'s real `K8sRunLauncher` and `k8s_job_executor` run end to end: the run worker
and every step worker really execute, talking to the real instance (PostgreSQL) and to this API.

Known gaps against a real cluster (the tests validate every captured manifest with
`kubernetes-validate --strict` to cover the first): kmock validates nothing, ignores label and field
selectors, answers `pods/log` with the Pod JSON, and answers 404 when listing a kind never used. The
kubelet ignores images, resources, node selectors, tolerations and volumes (it records them; the
tests assert on them), and maps the container's `DAGSTER_HOME` to the test's instance home.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTAINER_DAGSTER_HOME = "/opt/dagster/dagster_home"


def _now() -> str:
    return _dt.datetime.now(tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeApiError(RuntimeError):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status


class KmockServer:
    """kmock's KubernetesEmulator served on 127.0.0.1 from a background event-loop thread."""

    def __init__(self) -> None:
        self.url: str = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="kmock", daemon=True)

    def _serve(self) -> None:
        import kmock

        async def main() -> None:
            self._stop = asyncio.Event()
            async with kmock.KubernetesEmulator() as handler, kmock.Server(handler, host="127.0.0.1") as srv:
                self.url = str(srv.url).rstrip("/")
                self._ready.set()
                await self._stop.wait()

        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    def start(self) -> KmockServer:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"kmock did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    # --- a tiny JSON client (the tests and the kubelet use it; dagster-k8s uses the real client) ---
    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = (
                "application/merge-patch+json" if method == "PATCH" else "application/json"
            )
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise KubeApiError(exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def list(self, path: str) -> list[dict[str, Any]]:
        """Items of a list; kmock answers 404 for a kind nobody has used yet: that is an empty list."""
        try:
            return list(self.request("GET", path).get("items", []))
        except KubeApiError as exc:
            if exc.status == 404:
                return []
            raise

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        import yaml

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "kmock", "user": {"token": "kmock-test-token"}}],
            "contexts": [
                {"name": "kmock", "context": {"cluster": "kmock", "user": "kmock", "namespace": namespace}}
            ],
            "current-context": "kmock",
        }
        path.write_text(yaml.safe_dump(config))
        return path


@dataclass
class PodRun:
    job_name: str
    pod_name: str
    namespace: str
    argv: list[str]
    log_path: Path
    returncode: int | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None


class ProcessKubelet:
    """Runs each Job created in `namespaces` as a local subprocess and reports status like a node."""

    def __init__(
        self,
        api: KmockServer,
        namespaces: list[str],
        *,
        workdir: Path,
        dagster_home: Path,
        cwd: Path,
        base_env: dict[str, str] | None = None,
        container_dagster_home: str = CONTAINER_DAGSTER_HOME,
        node_name: str = "process-kubelet",
        poll_seconds: float = 0.2,
    ) -> None:
        self.api = api
        self.namespaces = list(namespaces)
        self.workdir = Path(workdir)
        self.dagster_home = Path(dagster_home)
        self.cwd = Path(cwd)
        self.container_dagster_home = container_dagster_home
        self.node_name = node_name
        self.poll_seconds = poll_seconds
        self.base_env = dict(base_env or {})
        self.created_jobs: dict[str, dict[str, Any]] = {}  # job name -> the Job exactly as created
        self.runs: dict[str, PodRun] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="process-kubelet", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ProcessKubelet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:  # only the processes this kubelet started
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for t in self._threads:
            t.join(timeout=10)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every pod started so far has exited (a run is SUCCESS before its worker exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.runs and all(r.returncode is not None for r in list(self.runs.values())):
                time.sleep(2 * self.poll_seconds)  # the final status patches follow the exit
                return True
            time.sleep(self.poll_seconds)
        return False

    def logs(self, job_name: str) -> str:
        run = self.runs.get(job_name)
        return run.log_path.read_text(errors="replace") if run and run.log_path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(
            f"===== {name} (rc={r.returncode}) =====\n{self.logs(name)}" for name, r in self.runs.items()
        )

    # ------------------------------------------------------------------ the node loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            for ns in self.namespaces:
                try:
                    jobs = self.api.list(f"/apis/batch/v1/namespaces/{ns}/jobs")
                except Exception as exc:  # keep the node alive; the test sees the error
                    self.errors.append(f"list jobs in {ns}: {exc!r}")
                    continue
                for job in jobs:
                    name = job.get("metadata", {}).get("name")
                    if name and name not in self.created_jobs:
                        self.created_jobs[name] = json.loads(json.dumps(job))
                        try:
                            self._admit(ns, job)
                        except Exception as exc:
                            self.errors.append(f"admit {name}: {exc!r}")
            self._stop.wait(self.poll_seconds)

    def _admit(self, ns: str, job: dict[str, Any]) -> None:
        job_name = job["metadata"]["name"]
        job_uid = str(uuid.uuid4())
        now = _now()
        # What the API server and the Job controller add on creation.
        self.api.request(
            "PATCH",
            f"/apis/batch/v1/namespaces/{ns}/jobs/{job_name}",
            {"metadata": {"uid": job_uid, "creationTimestamp": now, "generation": 1}},
        )
        self.api.request(
            "PATCH",
            f"/apis/batch/v1/namespaces/{ns}/jobs/{job_name}/status",
            {
                "status": {
                    "startTime": now,
                    "active": 1,
                    "ready": 0,
                    "terminating": 0,
                    "uncountedTerminatedPods": {},
                }
            },
        )
        template = job["spec"]["template"]
        pod_name = f"{job_name}-{uuid.uuid4().hex[:5]}"
        labels = dict(template.get("metadata", {}).get("labels") or {})
        labels.update(
            {
                "job-name": job_name,
                "batch.kubernetes.io/job-name": job_name,
                "controller-uid": job_uid,
                "batch.kubernetes.io/controller-uid": job_uid,
            }
        )
        metadata: dict[str, Any] = {
            "name": pod_name,
            "namespace": ns,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": job_name,
                    "uid": job_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if template.get("metadata", {}).get("annotations"):
            metadata["annotations"] = dict(template["metadata"]["annotations"])
        spec = json.loads(json.dumps(template["spec"]))
        spec["nodeName"] = self.node_name
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        self.api.request("POST", f"/api/v1/namespaces/{ns}/pods", pod)

        containers = spec.get("containers") or []
        if len(containers) != 1:
            raise ValueError(
                f"{job_name}: the process kubelet runs exactly one container, got {len(containers)}"
            )
        container = containers[0]
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        if not argv:
            raise ValueError(
                f"{job_name}: container has neither command nor args (the image entrypoint is unknown here)"
            )
        env = self._container_env(ns, pod, container)
        log_path = self.workdir / f"{pod_name}.log"
        run = PodRun(job_name=job_name, pod_name=pod_name, namespace=ns, argv=argv, log_path=log_path)
        self.runs[job_name] = run
        t = threading.Thread(target=self._run_pod, args=(run, env), name=f"pod-{pod_name}", daemon=True)
        self._threads.append(t)
        t.start()

    def _container_env(self, ns: str, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOSTNAME": pod["metadata"]["name"],
        }
        env.update(self.base_env)
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                env.update({prefix + k: v for k, v in self._secret(ns, source["secretRef"]["name"]).items()})
            if "configMapRef" in source:
                env.update(
                    {prefix + k: v for k, v in self._config_map(ns, source["configMapRef"]["name"]).items()}
                )
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = var["value"]
            elif "valueFrom" in var:
                vf = var["valueFrom"]
                if "secretKeyRef" in vf:
                    env[var["name"]] = self._secret(ns, vf["secretKeyRef"]["name"])[vf["secretKeyRef"]["key"]]
                elif "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    env[var["name"]] = self._config_map(ns, ref["name"])[ref["key"]]
                elif "fieldRef" in vf:
                    env[var["name"]] = self._field(pod, vf["fieldRef"]["fieldPath"])
            else:
                env[var["name"]] = ""
        # The container's DAGSTER_HOME (the image's path) is the test's instance home here.
        for key, value in list(env.items()):
            if value == self.container_dagster_home or value.startswith(self.container_dagster_home + "/"):
                env[key] = str(self.dagster_home) + value[len(self.container_dagster_home) :]
        return env

    def _secret(self, ns: str, name: str) -> dict[str, str]:
        # A missing secret is a pod that never starts on a real cluster (CreateContainerConfigError).
        obj = self.api.request("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")
        out = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        out.update(obj.get("stringData") or {})
        return out

    def _config_map(self, ns: str, name: str) -> dict[str, str]:
        return dict(self.api.request("GET", f"/api/v1/namespaces/{ns}/configmaps/{name}").get("data") or {})

    def _field(self, pod: dict[str, Any], path: str) -> str:
        simple = {
            "metadata.name": pod["metadata"]["name"],
            "metadata.namespace": pod["metadata"]["namespace"],
            "metadata.uid": pod["metadata"]["uid"],
            "spec.nodeName": self.node_name,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        if path.startswith("metadata.labels['"):
            return pod["metadata"].get("labels", {}).get(path[len("metadata.labels['") : -2], "")
        return ""

    def _run_pod(self, run: PodRun, env: dict[str, str]) -> None:
        ns, pod_path = run.namespace, f"/api/v1/namespaces/{run.namespace}/pods/{run.pod_name}"
        job_path = f"/apis/batch/v1/namespaces/{ns}/jobs/{run.job_name}"
        started = _now()
        try:
            self.api.request(
                "PATCH",
                pod_path + "/status",
                {
                    "status": {
                        "phase": "Running",
                        "startTime": started,
                        "hostIP": "127.0.0.1",
                        "podIP": "127.0.0.1",
                        "conditions": [
                            {"type": "Ready", "status": "True", "lastTransitionTime": started},
                            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                        ],
                    }
                },
            )
            self.api.request("PATCH", job_path + "/status", {"status": {"ready": 1}})
            with open(run.log_path, "wb") as log:
                proc = subprocess.Popen(run.argv, env=env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
                with self._lock:
                    self._procs[run.pod_name] = proc
                rc = proc.wait()
        except Exception as exc:
            self.errors.append(f"run {run.pod_name}: {exc!r}")
            rc = 128
        run.returncode, run.finished = rc, time.monotonic()
        done = _now()
        ok = rc == 0
        try:
            self.api.request(
                "PATCH",
                pod_path + "/status",
                {
                    "status": {
                        "phase": "Succeeded" if ok else "Failed",
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "False",
                                "lastTransitionTime": done,
                                "reason": "PodCompleted",
                            },
                            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                        ],
                        "containerStatuses": [
                            {
                                "name": "dagster",
                                "image": "process-kubelet",
                                "imageID": "",
                                "ready": False,
                                "restartCount": 0,
                                "started": False,
                                "state": {
                                    "terminated": {
                                        "exitCode": rc,
                                        "reason": "Completed" if ok else "Error",
                                        "startedAt": started,
                                        "finishedAt": done,
                                    }
                                },
                            }
                        ],
                    }
                },
            )
            conditions = (
                [
                    {
                        "type": "SuccessCriteriaMet",
                        "status": "True",
                        "lastTransitionTime": done,
                        "lastProbeTime": done,
                    },
                    {"type": "Complete", "status": "True", "lastTransitionTime": done, "lastProbeTime": done},
                ]
                if ok
                else [
                    {
                        "type": "FailureTarget",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                        "lastTransitionTime": done,
                        "lastProbeTime": done,
                    },
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                        "lastTransitionTime": done,
                        "lastProbeTime": done,
                    },
                ]
            )
            status: dict[str, Any] = {"active": 0, "ready": 0, "conditions": conditions}
            status.update({"succeeded": 1, "completionTime": done} if ok else {"failed": 1})
            self.api.request("PATCH", job_path + "/status", {"status": status})
        except Exception as exc:
            self.errors.append(f"status {run.pod_name}: {exc!r}")


class LocalKubernetes:
    """kmock + process kubelet as one context manager: `with LocalKubernetes(...) as k8s: ...`."""

    def __init__(
        self,
        workdir: Path,
        *,
        namespace: str,
        dagster_home: Path,
        cwd: Path,
        base_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.namespace = namespace
        self.api = KmockServer()
        self._kubelet_args = {"dagster_home": dagster_home, "cwd": cwd, "base_env": base_env}
        self.kubelet: ProcessKubelet | None = None
        self.kubeconfig: Path | None = None

    def __enter__(self) -> LocalKubernetes:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api.start()
        self.kubeconfig = self.api.write_kubeconfig(self.workdir / "kubeconfig.yaml", self.namespace)
        self.kubelet = ProcessKubelet(
            self.api, [self.namespace], workdir=self.workdir / "pods", **self._kubelet_args
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kubelet is not None:
            self.kubelet.stop()
        self.api.stop()

    # ------------------------------------------------------------------ helpers for tests
    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create one namespaced core/v1 or apps/batch object (Namespace, Secret, ConfigMap, ...)."""
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        if kind == "Namespace":  # kmock cannot parse POST /api/v1/namespaces; namespaces are implicit
            return manifest
        plural = kind.lower() + ("es" if kind.lower().endswith("s") else "s")
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        ns = manifest.get("metadata", {}).get("namespace")
        path = f"{base}/namespaces/{ns}/{plural}" if ns and kind != "Namespace" else f"{base}/{plural}"
        return self.api.request("POST", path, manifest)

    def jobs(self) -> list[dict[str, Any]]:
        return self.api.list(f"/apis/batch/v1/namespaces/{self.namespace}/jobs")

    def pods(self) -> list[dict[str, Any]]:
        return self.api.list(f"/api/v1/namespaces/{self.namespace}/pods")


def validate_strict(manifest: dict[str, Any], kubernetes_version: str) -> str:
    """`kubernetes-validate --strict` on one object; returns the schema version used, raises on error."""
    import kubernetes_validate

    return kubernetes_validate.validate(manifest, kubernetes_version, strict=True)

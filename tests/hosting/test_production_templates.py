"""The production templates of instances/production/, tried on this machine.

- The systemd units pass `systemd-analyze verify`, and the backup unit's own command line
  writes an encrypted backup that `fedicoop restore` reads back (old ones pruned).
- Debian's nginx, with `nginx.conf` as shipped (only names, ports and certificate paths
  changed), and Debian's Caddy, with the `Caddyfile` as shipped (only a global block for its
  local CA and test ports added), each serve a production (https) instance over TLS:
  discovery hands out https URLs, a signed inbox POST passes through with its signature intact,
  a tampered one is refused, a 5 MB body reaches fedicoop, plain http redirects to https.
  A missing nginx is a loud skip, and fails the run under CI=true; a missing Caddy or
  systemd-analyze is a loud skip only.
- fedicoop's outbound client trusts a local CA given by SSL_CERT_FILE, and refuses the same
  server without it: production TLS checks are not weakened.
- Two production instances behind one nginx, on https with a local CA, federate: one admin
  finds the other by handle (WebFinger, signed actor fetch), follows (signed Follow, Accept),
  and the other's post reaches her home timeline. Production instances refuse loopback peers
  (SSRF guard) and fedicoop.toml has no `trusted_networks` setting yet, so `two_coops.py`
  serves both with the fetcher such a setting would build (trusting 127.0.0.0/8); TLS is
  verified as in production, the CA coming in through SSL_CERT_FILE.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedicoop.activitypub.documents import ACTIVITY_JSON
from fedicoop.storage.database import open_database
from tests.activitypub.remote import add_remote_actor
from tests.servers import ServerProcess, fedicoop, free_port, query

TEMPLATES = Path(__file__).resolve().parents[2] / "instances" / "production"
VENV = Path(sys.executable).parent.parent
DOMAIN = "coop-a.test"


def need(tool: str, *, required_in_ci: bool = True) -> str:
    """Return a tool's path; skip loudly without it, but fail under CI=true when required."""
    found = shutil.which(tool) or next(
        (str(p) for p in (Path("/usr/sbin") / tool, Path("/sbin") / tool) if p.exists()), None
    )
    if found is None:
        message = f"{tool} is not installed (Debian: apt-get install {tool})"
        if required_in_ci and os.environ.get("CI") == "true":
            pytest.fail(f"{message}: under CI=true this must not pass as a skip")
        pytest.skip(f"!!! {message}: hosting test SKIPPED !!!")
    return found


def unit_with_local_paths(name: str, replacements: dict[str, str]) -> str:
    text = (TEMPLATES / name).read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


# --- systemd --------------------------------------------------------------------------------------


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # Given the three units, pointed at this checkout's venv (verify checks the binary exists)
    analyze = need("systemd-analyze", required_in_ci=False)  # absent from most container images
    paths = []
    for name in ("fedicoop.service", "fedicoop-backup.service", "fedicoop-backup.timer"):
        target = tmp_path / name
        target.write_text(unit_with_local_paths(name, {"/opt/fedicoop/venv": str(VENV)}))
        paths.append(str(target))
    # When systemd checks them, Then it finds nothing to complain about
    result = subprocess.run(
        [analyze, "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


def _unit_command(unit: str, key: str) -> list[str]:
    """Return one Exec line of a unit as argv: continuations joined, %% unescaped."""
    text = unit.replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith(f"{key}="))
    return shlex.split(line.removeprefix(f"{key}=").replace("%%", "%"))


def test_the_backup_units_command_writes_an_encrypted_backup_that_restores(
    tmp_path: Path,
) -> None:
    # Given an instance, a passphrase file, and a backup folder holding a 20-day-old backup
    instance = tmp_path / "coop"
    fedicoop("init", str(instance), "--domain", "coop.example", "--name", "Backup Coop")
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    backups = tmp_path / "backups"
    backups.mkdir()
    stale = backups / "coop-20000101T000000Z.fcb"
    stale.write_bytes(b"old")
    old = time.time() - 20 * 86400
    os.utime(stale, (old, old))
    unit = unit_with_local_paths(
        "fedicoop-backup.service",
        {
            "/opt/fedicoop/venv": str(VENV),
            "/var/lib/fedicoop/coop": str(instance),
            "/var/backups/fedicoop": str(backups),
            "/etc/fedicoop/backup-passphrase": str(passphrase),
        },
    )
    # When the unit's ExecStart and ExecStartPost run as systemd would run them
    for key in ("ExecStart", "ExecStartPost"):
        result = subprocess.run(
            _unit_command(unit, key), capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, (key, result.stdout, result.stderr)
    # Then one fresh backup is there, private, encrypted; the stale one is gone
    written = sorted(backups.glob("coop-*.fcb"))
    assert [p.name for p in written] != [stale.name] and len(written) == 1, written
    backup = written[0]
    assert re.fullmatch(r"coop-\d{8}T\d{6}Z\.fcb", backup.name)
    assert backup.stat().st_mode & 0o077 == 0
    assert b"PRIVATE KEY" not in backup.read_bytes()
    # And it restores with the passphrase
    restored = tmp_path / "restored"
    fedicoop("restore", "--passphrase-file", str(passphrase), str(backup), str(restored))
    assert (restored / "fedicoop.toml").exists()


# --- nginx with TLS ------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue_certificates(directory: Path, *hosts: str) -> tuple[Path, Path, Path]:
    """Make a local CA and a server certificate for `hosts`; return (ca, cert, key) paths."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("fedicoop test CA"))
        .issuer_name(_name("fedicoop test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host) for host in hosts]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    # nginx serves the chain: the leaf, then the CA (as fullchain.pem from certbot does)
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def render_site(
    directory: Path,
    *,
    backend: int,
    http_port: int,
    tls_port: int,
    cert: Path,
    key: Path,
    domain: str = DOMAIN,
    name: str = "fedicoop",
) -> Path:
    """Our nginx.conf with only names, ports, certificate paths and IPv6 listens changed.

    `name` renames the file's nginx-wide names (upstream, map variable, TLS cache), so that
    two copies, one per instance, can live in one nginx.
    """
    site = (TEMPLATES / "nginx.conf").read_text()
    replacements = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{backend};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{tls_port} ssl http2;",
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
        "/etc/letsencrypt/live/coop.example/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/coop.example/privkey.pem": str(key),
        "/var/www/letsencrypt": str(directory / "acme"),
        "coop.example": domain,
        "upstream fedicoop {": f"upstream {name} {{",
        "proxy_pass http://fedicoop;": f"proxy_pass http://{name};",
        "$fedicoop_connection": f"${name}_connection",
        "shared:fedicoop_tls:": f"shared:{name}_tls:",
    }
    for old, new in replacements.items():
        assert old in site, f"nginx.conf no longer contains {old!r}: update this test"
        site = site.replace(old, new)
    path = directory / f"{name}-site.conf"
    path.write_text(site)
    return path


def render_main(directory: Path, *sites: Path) -> Path:
    """A minimal nginx.conf around the sites, everything under `directory`."""
    temp = directory / "temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read our 0700 temp dirs
    main = (
        f"{user}worker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log;\nevents {{ worker_connections 128; }}\n"
        "http {\n"
        f"  access_log {directory}/access.log;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n"
        + "".join(f"  include {site};\n" for site in sites)
        + "}\n"
    )
    path = directory / "nginx.conf"
    path.write_text(main)
    return path


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


class Front:
    """An https instance behind a reverse proxy, as the test reaches it."""

    def __init__(
        self, proxy: str, directory: Path, tls_port: int, http_port: int, ca: Path
    ) -> None:
        self.proxy = proxy
        self.directory = directory
        self.tls_port = tls_port
        self.http_port = http_port
        self.ca = ca
        self.ssl = ssl.create_default_context(cafile=str(ca))

    @property
    def origin(self) -> str:
        return f"https://{DOMAIN}:{self.tls_port}"

    async def request(
        self, method: str, path: str, *, tls: bool = True, **options: Any
    ) -> tuple[int, dict[str, str], bytes]:
        """Send a request to 127.0.0.1 with the instance's name in Host and SNI."""
        port = self.tls_port if tls else self.http_port
        headers = {"Host": f"{DOMAIN}:{port}", **options.pop("headers", {})}
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}"
        extra: dict[str, Any] = {"ssl": self.ssl, "server_hostname": DOMAIN} if tls else {}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, url, headers=headers, allow_redirects=False, **extra, **options
            ) as response,
        ):
            return response.status, dict(response.headers), await response.read()


def start_nginx(
    directory: Path, backend: int, http_port: int, tls_port: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """Run Debian's nginx with our nginx.conf and a locally issued certificate."""
    nginx = need("nginx")
    ca, cert, key = issue_certificates(directory, DOMAIN)
    site = render_site(
        directory, backend=backend, http_port=http_port, tls_port=tls_port, cert=cert, key=key
    )
    main = render_main(directory, site)
    checked = subprocess.run(
        [nginx, "-t", "-p", str(directory), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [nginx, "-p", str(directory), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "nginx.out").open("wb"),
    )
    return process, ca


def start_caddy(
    directory: Path, backend: int, http_port: int, tls_port: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """Run Caddy with our Caddyfile, its certificates from Caddy's own local CA."""
    caddy = need("caddy", required_in_ci=False)  # nginx is the proxy CI must have
    # Only a global options block is added: local CA instead of Let's Encrypt, our ports,
    # no admin endpoint, state under the test's directory.
    options = (
        "{\n\tlocal_certs\n\tskip_install_trust\n\tadmin off\n"
        f"\thttp_port {http_port}\n\thttps_port {tls_port}\n"
        f"\tstorage file_system {directory / 'caddy-data'}\n}}\n\n"
    )
    caddyfile = directory / "Caddyfile"
    caddyfile.write_text(options + (TEMPLATES / "Caddyfile").read_text())
    env = {
        **os.environ,
        "FEDICOOP_DOMAIN": f"{DOMAIN}:{tls_port}",
        "FEDICOOP_UPSTREAM": f"127.0.0.1:{backend}",
        "HOME": str(directory),
        "XDG_DATA_HOME": str(directory / "xdg-data"),
        "XDG_CONFIG_HOME": str(directory / "xdg-config"),
    }
    checked = subprocess.run(
        [caddy, "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    process = subprocess.Popen(
        [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "caddy.out").open("wb"),
        env=env,
    )
    root = directory / "caddy-data" / "pki" / "authorities" / "local" / "root.crt"
    deadline = time.monotonic() + 30
    while not root.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return process, root


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def front(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Front]:
    """A production instance (no --dev) on SQLite, behind nginx or Caddy with TLS on loopback."""
    proxy_name = str(request.param)
    starter = start_nginx if proxy_name == "nginx" else start_caddy
    need(proxy_name, required_in_ci=proxy_name == "nginx")
    tmp_path = tmp_path_factory.mktemp(proxy_name)
    backend, http_port, tls_port = free_port(), free_port(), free_port()
    instance = tmp_path / "coop"
    fedicoop("init", str(instance), "--domain", f"{DOMAIN}:{tls_port}", "--name", "Front Coop")
    server = ServerProcess(instance, backend).start()
    proxy: subprocess.Popen[bytes] | None = None
    try:
        proxy, ca = starter(tmp_path, backend, http_port, tls_port)
        wait_for_port(tls_port)
        front = Front(proxy_name, instance, tls_port, http_port, ca)
        wait_for_tls(front)
        yield front
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        server.stop()


def wait_for_tls(front: Front, timeout: float = 30.0) -> None:
    """Wait until the proxy completes a TLS handshake (Caddy issues its certificate first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with (
                socket.create_connection(("127.0.0.1", front.tls_port), timeout=2) as raw,
                front.ssl.wrap_socket(raw, server_hostname=DOMAIN),
            ):
                return
        except (OSError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# Real processes (a proxy, fedicoop serve): left out of `make quick` with the other slow ones.
behind_a_proxy = pytest.mark.federation


@behind_a_proxy
async def test_discovery_through_nginx_hands_out_https_urls(front: Front) -> None:
    # Given a production instance behind nginx, When a server looks a member up over https
    resource = f"acct:admin@{DOMAIN}:{front.tls_port}"
    status, _, body = await front.request("GET", f"/.well-known/webfinger?resource={resource}")
    # Then the links are the instance's https URLs, with the port nginx listens on
    assert status == 200, body
    links = json.loads(body)["links"]
    actor_url = next(link["href"] for link in links if link["rel"] == "self")
    assert actor_url == f"{front.origin}/users/admin"
    # And the actor document it names is served through nginx with that id and an https inbox
    status, headers, body = await front.request(
        "GET", "/users/admin", headers={"Accept": ACTIVITY_JSON}
    )
    assert status == 200 and headers["Content-Type"].startswith(ACTIVITY_JSON)
    actor = json.loads(body)
    assert actor["id"] == actor_url and actor["inbox"].startswith(f"{front.origin}/")


# nginx only: Caddy redirects http to https by itself only for sites on the default ports,
# and the test's sites listen on free ports (a case that could only ever be skipped).
@behind_a_proxy
@pytest.mark.parametrize("front", ["nginx"], indirect=True)
async def test_plain_http_is_redirected_to_https(front: Front) -> None:
    status, headers, _ = await front.request("GET", "/users/admin", tls=False)
    assert status == 301 and headers["Location"].startswith(f"https://{DOMAIN}")


async def _remote_sender(front: Front) -> Any:
    db = await open_database(f"sqlite:///{front.directory / 'fedicoop.db'}")
    try:
        return await add_remote_actor(db, "http://remote.test/users/rosa")
    finally:
        await db.close()


@behind_a_proxy
async def test_a_signed_post_keeps_its_signature_through_nginx(front: Front) -> None:
    # Given a remote actor the instance knows, and an activity signed for its https inbox
    rosa = await _remote_sender(front)
    activity = rosa.create(rosa.note("<p>over TLS</p>"))
    body = json.dumps(activity).encode()
    headers = rosa.signed_headers(f"{front.origin}/inbox", body)
    # When it goes through nginx, Then Host and request target arrive as signed: 202
    status, _, answer = await front.request("POST", "/inbox", data=body, headers=headers)
    assert status == 202, answer
    rows = query(front.directory, "SELECT activity_uri FROM inbox")
    assert (activity["id"],) in rows
    # And a body changed on the way is still refused by fedicoop behind the proxy
    tampered = json.dumps({**activity, "id": rosa.new_id()}).encode()
    status, headers_back, answer = await front.request(
        "POST", "/inbox", data=tampered, headers=headers
    )
    assert status == 401 and headers_back["Content-Type"].startswith("application/json"), answer


@behind_a_proxy
async def test_a_5_mb_body_reaches_fedicoop(front: Front) -> None:
    # Given a 5 MB POST (nginx's default limit is 1 MB: media uploads need more)
    body = b"x" * (5 * 1024 * 1024)
    status, headers, answer = await front.request(
        "POST", "/inbox", data=body, headers={"Content-Type": ACTIVITY_JSON}
    )
    # Then it is fedicoop that answers (its JSON 413 for an inbox body), not nginx's HTML page
    assert status == 413, answer[:200]
    assert headers["Content-Type"].startswith("application/json"), answer[:200]


FETCH_SCRIPT = """
import asyncio, socket, sys
from aiohttp.abc import AbstractResolver
from fedicoop.activitypub.fetch import SafeFetcher

class Loopback(AbstractResolver):
    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]
    async def close(self):
        pass

async def main():
    fetcher = SafeFetcher(dev=False, user_agent="hosting-test", resolver=Loopback(),
                          trusted_networks=["127.0.0.1/32"])
    try:
        document = await fetcher.get_activity(sys.argv[1])
        print(document.data["id"])
    finally:
        await fetcher.close()

asyncio.run(main())
"""


@behind_a_proxy
async def test_outbound_fetches_trust_a_local_ca_from_ssl_cert_file_only(front: Front) -> None:
    # Given fedicoop's own fetcher in production mode, run as a server process would be
    url = f"{front.origin}/users/admin"
    base_env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}

    def fetch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", FETCH_SCRIPT, url],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )

    # When it fetches our actor over https with the local CA in SSL_CERT_FILE
    trusted, untrusted = await asyncio.gather(
        asyncio.to_thread(fetch, {**base_env, "SSL_CERT_FILE": str(front.ca)}),
        asyncio.to_thread(fetch, base_env),
    )
    # Then the certificate verifies and the document comes back
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.strip() == url
    # And without it the same server is refused: verification stays on
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr.lower() or "ssl" in untrusted.stderr.lower()


# --- two instances federating through nginx over https ---------------------------------------


class Coops:
    """Two production instances behind one nginx, each on its own https port."""

    def __init__(self, ca: Path, ports: dict[str, int], directories: dict[str, Path]) -> None:
        self.ssl = ssl.create_default_context(cafile=str(ca))
        self.ports = ports
        self.directories = directories

    def domain(self, name: str) -> str:
        return f"{name}.test:{self.ports[name]}"

    async def call(
        self, name: str, method: str, path: str, token: str | None = None, **options: Any
    ) -> tuple[int, Any]:
        """Call one instance's API through nginx, as a client app would."""
        headers = {"Host": self.domain(name)}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                f"https://127.0.0.1:{self.ports[name]}{path}",
                headers=headers,
                ssl=self.ssl,
                server_hostname=f"{name}.test",
                **options,
            ) as response,
        ):
            body = await response.read()
            return response.status, json.loads(body) if body else None

    async def token(self, name: str, password: str) -> str:
        status, app = await self.call(
            name,
            "POST",
            "/api/v1/apps",
            json={
                "client_name": "hosting test",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": "read write follow",
            },
        )
        assert status == 200, app
        status, token = await self.call(
            name,
            "POST",
            "/oauth/token",
            json={
                "grant_type": "password",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "username": "admin",
                "password": password,
                "scope": "read write follow",
            },
        )
        assert status == 200, token
        return str(token["access_token"])


PASSWORD = "correct horse battery staple"


@pytest.fixture
def two_coops(tmp_path: Path) -> Iterator[Coops]:
    """coop-a.test and coop-b.test, production mode, behind nginx with one local CA."""
    nginx = need("nginx")
    names = ("coop-a", "coop-b")
    ports = {name: free_port() for name in names}
    backends = {name: free_port() for name in names}
    directories = {name: tmp_path / name for name in names}
    for name in names:
        fedicoop(
            "init",
            str(directories[name]),
            "--domain",
            f"{name}.test:{ports[name]}",
            "--name",
            name.replace("-", " ").title(),
            "--admin-password",
            PASSWORD,
        )
    ca, cert, key = issue_certificates(tmp_path, *(f"{name}.test" for name in names))
    sites = [
        render_site(
            tmp_path,
            backend=backends[name],
            http_port=free_port(),
            tls_port=ports[name],
            cert=cert,
            key=key,
            domain=f"{name}.test",
            name=name.replace("-", "_"),
        )
        for name in names
    ]
    main = render_main(tmp_path, *sites)
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    log = (tmp_path / "coops.log").open("wb")
    servers = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.hosting.two_coops",
            *(f"{directories[name]}:{backends[name]}" for name in names),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SSL_CERT_FILE": str(ca), "PYTHONUNBUFFERED": "1"},
    )
    proxy = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "nginx.out").open("wb"),
    )
    try:
        for name in names:
            wait_for_port(backends[name], timeout=30)
            wait_for_port(ports[name])
        yield Coops(ca, ports, directories)
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        servers.terminate()
        servers.wait(timeout=20)
        print((tmp_path / "coops.log").read_text()[-3000:])


async def eventually_async(check: Any, what: str) -> Any:
    """Poll `check` for up to 30 s (delivery between the instances is asynchronous)."""
    for _ in range(100):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@behind_a_proxy
async def test_two_instances_behind_nginx_federate_a_follow_and_a_post(two_coops: Coops) -> None:
    # Given two production co-ops behind nginx over https, and their admins logged in
    alice = await two_coops.token("coop-a", PASSWORD)
    bob = await two_coops.token("coop-b", PASSWORD)
    # When coop-a's admin finds coop-b's admin by handle (WebFinger and actor over https)
    handle = f"admin@{two_coops.domain('coop-b')}"
    status, found = await two_coops.call(
        "coop-a", "GET", "/api/v2/search", alice, params={"q": handle, "resolve": "true"}
    )
    assert status == 200 and found["accounts"], found
    remote_id = found["accounts"][0]["id"]
    # And follows them (a signed Follow delivered through nginx, answered with an Accept)
    status, relation = await two_coops.call(
        "coop-a", "POST", f"/api/v1/accounts/{remote_id}/follow", alice
    )
    assert status == 200, relation

    async def followed() -> bool:
        _, relations = await two_coops.call(
            "coop-a", "GET", "/api/v1/accounts/relationships", alice, params={"id[]": remote_id}
        )
        return bool(relations and relations[0]["following"])

    await eventually_async(followed, "coop-b's Accept of the Follow")
    # And coop-b's admin posts
    status, post = await two_coops.call(
        "coop-b", "POST", "/api/v1/statuses", bob, json={"status": "Hello over TLS"}
    )
    assert status == 200, post

    # Then the post reaches coop-a's home timeline (a signed Create through nginx)
    async def arrived() -> bool:
        _, timeline = await two_coops.call("coop-a", "GET", "/api/v1/timelines/home", alice)
        return any("Hello over TLS" in status["content"] for status in timeline or [])

    await eventually_async(arrived, "the post on coop-a's home timeline")

"""An instance's configuration: DIR/fedicoop.toml, read and written."""

import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from fedicoop.errors import Invalid, NotFound

CONFIG_NAME = "fedicoop.toml"
SQLITE_NAME = "fedicoop.db"

# A DNS name of labels, or an IPv4 literal, optionally with a port. Hosts reach URLs,
# WebFinger handles and signatures, so anything odd here breaks federation later.
_HOST_RE = re.compile(
    r"^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(:(?P<port>[0-9]{1,5}))?$"
)
_HANDLE_RE = re.compile(r"^[a-z0-9_]{1,30}$")


def validate_domain(domain: str) -> str:
    """Return the domain lowercased, or raise Invalid saying what a domain looks like."""
    candidate = domain.strip().lower()
    match = _HOST_RE.match(candidate)
    if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
        raise Invalid(f"invalid domain {domain!r}: expected HOST or HOST:PORT, e.g. coop.example")
    return candidate


def validate_handle(handle: str) -> str:
    """Return a valid username/handle or raise Invalid."""
    if not _HANDLE_RE.match(handle):
        raise Invalid(
            f"invalid name {handle!r}: use 1-30 lowercase letters, digits or underscores",
            field="username",
        )
    return handle


def slugify(name: str) -> str:
    """Make a handle from a co-op's name ("Vélo Coop Lyon" → "velo_coop_lyon")."""
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return slug[:30] or "coop"


# Requests per 5 minutes, as Mastodon allows per account and per address on its API.
RATE_LIMIT_DEFAULTS = {"api": 300, "ip": 1500, "inbox": 10_000}
# --dev instances are local test networks: hundreds of requests a second from one address.
DEV_RATE_FACTOR = 100


@dataclass
class InstanceConfig:
    """Everything an instance needs to start, as stored in DIR/fedicoop.toml."""

    directory: Path
    domain: str
    name: str
    handle: str
    database: str
    dev: bool = False
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    language: str = "en"
    max_body_bytes: int = 262_144
    # Rides: the co-op's cost-sharing cap per km (a decimal), its currency, and its geocoder
    # ("gazetteer", "nominatim:URL" or "photon:URL").
    ride_rate_per_km: str = "0.15"
    currency: str = "EUR"
    geocoder: str = "gazetteer"
    # Days after a trip when its exact pickup, drop-off and route are erased for good.
    ride_exact_retention_days: int = 30
    # Requests per 5 minutes (None: the default; --dev multiplies defaults by DEV_RATE_FACTOR).
    api_rate_limit: int | None = None  # client API and OAuth, per access token (account)
    ip_rate_limit: int | None = None  # client API and OAuth, per client address
    inbox_rate_limit: int | None = None  # inbox POSTs, per client address
    # Proxies whose X-Forwarded-For names the client (nginx, Caddy in front of the server).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    def rate_limit(self, kind: str) -> int:
        """Return the requests allowed per 5 minutes for `api`, `ip` or `inbox`."""
        explicit = getattr(self, f"{kind}_rate_limit")
        if explicit is not None:
            return int(explicit)
        return RATE_LIMIT_DEFAULTS[kind] * (DEV_RATE_FACTOR if self.dev else 1)

    @property
    def scheme(self) -> str:
        """Return http in dev mode (loopback federation), https otherwise."""
        return "http" if self.dev else "https"

    @property
    def base_url(self) -> str:
        """Return the origin every local URL starts with."""
        return f"{self.scheme}://{self.domain}"

    @property
    def media_dir(self) -> Path:
        """Return where uploaded media files live."""
        return self.directory / "media"

    @property
    def config_path(self) -> Path:
        """Return the path of the TOML file."""
        return self.directory / CONFIG_NAME

    def save(self) -> None:
        """Write the config file (mode 0600: it holds the instance secret)."""
        lines = [
            "# fedicoop instance configuration",
            f"domain = {_toml_str(self.domain)}",
            f"name = {_toml_str(self.name)}",
            f"handle = {_toml_str(self.handle)}",
            f"database = {_toml_str(self.database)}",
            f"dev = {'true' if self.dev else 'false'}",
            f"secret = {_toml_str(self.secret)}",
            f"language = {_toml_str(self.language)}",
            f"max_body_bytes = {self.max_body_bytes}",
            f"ride_rate_per_km = {_toml_str(self.ride_rate_per_km)}",
            f"currency = {_toml_str(self.currency)}",
            f"geocoder = {_toml_str(self.geocoder)}",
            f"ride_exact_retention_days = {self.ride_exact_retention_days}",
            *(
                f"{kind}_rate_limit = {value}"
                for kind, value in (
                    ("api", self.api_rate_limit),
                    ("ip", self.ip_rate_limit),
                    ("inbox", self.inbox_rate_limit),
                )
                if value is not None
            ),
            "trusted_proxies = [" + ", ".join(_toml_str(p) for p in self.trusted_proxies) + "]",
        ]
        path = self.config_path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _toml_str(value: str) -> str:
    """Quote a string for TOML (basic string with escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def default_sqlite_url(directory: Path) -> str:
    """Return the SQLite URL of the database file inside an instance directory."""
    return f"sqlite:///{(directory / SQLITE_NAME).resolve()}"


def load_config(directory: str | Path) -> InstanceConfig:
    """Read DIR/fedicoop.toml, or raise NotFound naming what to run first."""
    base = Path(directory).resolve()
    path = base / CONFIG_NAME
    if not path.is_file():
        raise NotFound(f"no fedicoop instance in {base} (run: fedicoop init {directory} ...)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return InstanceConfig(
            directory=base,
            domain=validate_domain(str(raw["domain"])),
            name=str(raw["name"]),
            handle=str(raw["handle"]),
            database=str(raw["database"]),
            dev=bool(raw.get("dev", False)),
            secret=str(raw["secret"]),
            language=str(raw.get("language", "en")),
            max_body_bytes=int(raw.get("max_body_bytes", 262_144)),
            ride_rate_per_km=str(raw.get("ride_rate_per_km", "0.15")),
            currency=str(raw.get("currency", "EUR")),
            geocoder=str(raw.get("geocoder", "gazetteer")),
            ride_exact_retention_days=int(raw.get("ride_exact_retention_days", 30)),
            api_rate_limit=_optional_int(raw.get("api_rate_limit")),
            ip_rate_limit=_optional_int(raw.get("ip_rate_limit")),
            inbox_rate_limit=_optional_int(raw.get("inbox_rate_limit")),
            trusted_proxies=tuple(str(p) for p in raw.get("trusted_proxies", ("127.0.0.1", "::1"))),
        )
    except (tomllib.TOMLDecodeError, KeyError, ValueError) as error:
        raise Invalid(f"{path} is not a valid fedicoop config: {error}") from error

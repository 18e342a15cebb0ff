"""A co-op export is signed: a forged or altered one is refused, and nothing is written.

The instance is created and exported with the real CLI; imports run with `--trust-archive`
(the key inside the export, as when the old host is gone) except where the test is about
reaching the old host.
"""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedicoop.activitypub import integrity
from tests.servers import fedicoop, free_port, init_instance, query


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("export")
    directory = base / "velo"
    init_instance(directory, "Vélo", "--handle", "velo")
    fedicoop("user", "add", str(directory), "alice", "--password", "long enough pw")
    file = base / "velo.coop"
    fedicoop("export-coop", str(directory), str(file))
    return file


def members(file: Path) -> dict[str, bytes]:
    with tarfile.open(file, "r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]


def repack(files: dict[str, bytes], target: Path) -> Path:
    with tarfile.open(target, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return target


def refused(file: Path, target: Path, *extra: str) -> str:
    result = fedicoop(
        "import-coop", str(file), str(target), "--domain", "velo.coop", *extra, check=False
    )
    assert result.returncode != 0, result.stdout
    # Then nothing was written
    assert not (target / "fedicoop.toml").exists()
    return result.stderr.strip()


def test_an_untouched_export_imports_under_the_new_domain(export: Path, tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = fedicoop(
        "import-coop", str(export), str(target), "--domain", "velo.coop", "--trust-archive"
    )
    assert "every kind of data matches the export" in result.stdout
    uris = {row[0] for row in query(target, "SELECT uri FROM actors WHERE local = 1")}
    assert "https://velo.coop/users/alice" in uris
    aliases = query(target, "SELECT also_known_as FROM actors WHERE uri LIKE '%/users/alice'")
    assert json.loads(aliases[0][0])[0].endswith("/users/alice")
    assert "velo.coop" in (target / "fedicoop.toml").read_text()


def test_an_altered_row_is_refused(export: Path, tmp_path: Path) -> None:
    files = members(export)
    # Given someone changes a password hash and fixes the archive's own checksum
    rows = files["db/accounts.jsonl"].decode().replace('"member"', '"admin"').encode()
    files["db/accounts.jsonl"] = rows
    manifest = json.loads(files["manifest.json"])
    manifest["sha256"]["db/accounts.jsonl"] = integrity_sha(rows)
    files["manifest.json"] = json.dumps(manifest).encode()
    forged = repack(files, tmp_path / "altered.coop")
    # Then the import says the export was altered
    message = refused(forged, tmp_path / "new", "--trust-archive")
    assert "altered" in message


def test_a_statement_signed_with_another_key_is_refused(export: Path, tmp_path: Path) -> None:
    files = members(export)
    statement = json.loads(files["coop-export.json"])
    method = statement["proof"]["verificationMethod"]
    del statement["proof"]
    resigned = integrity.sign_object(statement, Ed25519PrivateKey.generate(), method)
    files["coop-export.json"] = json.dumps(resigned).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["sha256"]["coop-export.json"] = integrity_sha(files["coop-export.json"])
    files["manifest.json"] = json.dumps(manifest).encode()
    forged = repack(files, tmp_path / "forged.coop")
    message = refused(forged, tmp_path / "new", "--trust-archive")
    assert "does not verify" in message


def test_an_unreachable_old_host_is_named_with_what_to_do(export: Path, tmp_path: Path) -> None:
    message = refused(export, tmp_path / "new", "--dev")
    assert "--trust-archive" in message


def test_the_same_domain_is_refused(export: Path, tmp_path: Path) -> None:
    toml = members(export)["fedicoop.toml"].decode()
    domain = toml.split('domain = "', 1)[1].split('"', 1)[0]
    result = fedicoop(
        "import-coop",
        str(export),
        str(tmp_path / "same"),
        "--domain",
        domain,
        "--dev",
        "--trust-archive",
        check=False,
    )
    assert result.returncode != 0 and "fedicoop restore" in result.stderr


def test_a_backup_is_not_a_coop_export(tmp_path: Path) -> None:
    directory = tmp_path / "coop"
    init_instance(directory, "Pain", "--handle", "pain")
    backup = tmp_path / "pain.backup"
    fedicoop("backup", str(directory), str(backup))
    message = refused(backup, tmp_path / "new", "--trust-archive")
    assert "unknown archive format" in message


def test_move_coop_refuses_a_host_that_does_not_answer(export: Path, tmp_path: Path) -> None:
    directory = tmp_path / "velo"
    init_instance(directory, "Vélo", "--handle", "velo")
    result = fedicoop("move-coop", str(directory), "--to", f"127.0.0.1:{free_port()}", check=False)
    assert result.returncode != 0
    # Then nothing moved and nothing redirects
    assert not query(directory, "SELECT 1 FROM settings WHERE key = 'moved_to_origin'")
    assert not query(directory, "SELECT 1 FROM actors WHERE moved_to IS NOT NULL")


def integrity_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.postgres
def test_a_sqlite_coop_imports_onto_postgresql(
    export: Path, tmp_path: Path, pg_database: str
) -> None:
    target = tmp_path / "on-pg"
    result = fedicoop(
        "import-coop",
        str(export),
        str(target),
        "--domain",
        "velo.coop",
        "--trust-archive",
        "--database",
        pg_database,
    )
    assert "every kind of data matches the export" in result.stdout, result.stdout
    listed = fedicoop("inventory", str(target), "--json")
    assert json.loads(listed.stdout)["actors"]["count"] >= 4

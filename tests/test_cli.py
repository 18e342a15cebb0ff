"""The CLI contract of the foundation: init, serve, user add/list, db upgrade, errors."""

import json
import urllib.request
from pathlib import Path

from tests.servers import ServerProcess, fedicoop, init_instance


def test_init_prints_admin_and_refuses_to_overwrite(tmp_path: Path) -> None:
    # Given a fresh directory, When init runs
    result = fedicoop(
        "init", str(tmp_path / "c"), "--domain", "coop.example", "--name", "Boulangerie Coop"
    )
    # Then it names the Group (slug of the name), the admin and a password
    assert "@boulangerie_coop@coop.example" in result.stdout
    assert "@admin@coop.example" in result.stdout
    assert "password:" in result.stdout
    assert (tmp_path / "c" / "fedicoop.toml").stat().st_mode & 0o777 == 0o600
    # When init runs again on the same directory, Then it refuses in one line
    again = fedicoop(
        "init", str(tmp_path / "c"), "--domain", "x.example", "--name", "X", check=False
    )
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "refusing to overwrite" in again.stderr


def test_bad_input_gets_one_line_errors(tmp_path: Path) -> None:
    cases = [
        ("user", "list", str(tmp_path / "missing")),
        ("init", str(tmp_path / "d"), "--domain", "not a domain", "--name", "X"),
        ("init", str(tmp_path / "e"), "--domain", "a.example", "--name", "X", "--handle", "Bad!"),
        (
            "init",
            str(tmp_path / "f"),
            "--domain",
            "a.example",
            "--name",
            "X",
            "--database",
            "postgresql://nobody@127.0.0.1:1/none",
        ),
        (
            "init",
            str(tmp_path / "g"),
            "--domain",
            "a.example",
            "--name",
            "X",
            "--database",
            "mysql://x",
        ),
    ]
    for args in cases:
        result = fedicoop(*args, check=False)
        assert result.returncode != 0, args
        assert result.stderr.startswith("fedicoop: error: "), (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_user_add_list_and_duplicate(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    fedicoop("init", str(directory), "--domain", "coop.example", "--name", "Velo")
    added = fedicoop("user", "add", str(directory), "alice")
    assert "password:" in added.stdout
    fedicoop("user", "add", str(directory), "bob", "--password", "correct horse", "--admin")
    duplicate = fedicoop("user", "add", str(directory), "alice", check=False)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    listing = fedicoop("user", "list", str(directory)).stdout
    assert "@admin@coop.example" in listing and "admin" in listing
    assert "@alice@coop.example" in listing and "member" in listing
    assert "@bob@coop.example" in listing
    upgrade = fedicoop("db", "upgrade", str(directory))
    assert "newest schema" in upgrade.stdout


def test_help_documents_every_command() -> None:
    top = fedicoop("--help").stdout
    for command in ("init", "serve", "user", "db"):
        assert command in top
        assert fedicoop(command, "--help").returncode == 0


def test_serve_health_stop_restart_keeps_data(tmp_path: Path) -> None:
    # Given an initialised instance with a member
    directory = tmp_path / "coop"
    port, _ = init_instance(directory, "Restart Coop")
    fedicoop("user", "add", str(directory), "carol")
    server = ServerProcess(directory, port).start()
    # When /health is asked, Then the database answers
    with urllib.request.urlopen(f"{server.base_url}/health") as answer:
        assert json.load(answer)["status"] == "ok"
    # When it is stopped with SIGTERM, Then it exits cleanly
    assert server.stop() == 0
    # And after a restart the member is still there
    server.start()
    try:
        assert "@carol@" in fedicoop("user", "list", str(directory)).stdout
    finally:
        server.stop()

"""Session fixtures: one co-op served by a real fedicoop process, and the independent peers."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.peers import BovineHerd, Pasture
from tests.servers import ApiClient, ServerProcess, fedicoop, init_instance


@dataclass
class Coop:
    """A fedicoop instance on loopback with members carol and dan, and its Group `velo`."""

    directory: Path
    server: ServerProcess

    @property
    def origin(self) -> str:
        return self.server.base_url

    @property
    def domain(self) -> str:
        return self.origin.removeprefix("http://")

    def uri(self, username: str) -> str:
        return f"{self.origin}/users/{username}"

    def act(self, user: str, *args: str) -> str:
        return fedicoop("act", str(self.directory), user, *args).stdout.strip()

    def api(self, username: str) -> ApiClient:
        return ApiClient(self.origin, username)


@pytest.fixture(scope="session")
def coop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coop]:
    directory = tmp_path_factory.mktemp("interop") / "coop"
    port, _ = init_instance(directory, "Vélo Lyon", "--handle", "velo")
    for user in ("carol", "dan"):
        fedicoop("user", "add", str(directory), user, "--password", "long enough pw")
    server = ServerProcess(directory, port).start()
    yield Coop(directory, server)
    server.stop()


@pytest.fixture(scope="session")
def bovine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BovineHerd]:
    herd = BovineHerd(tmp_path_factory.mktemp("bovine")).start()
    yield herd
    herd.stop()


@pytest.fixture(scope="session")
def pasture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pasture]:
    peer = Pasture(tmp_path_factory.mktemp("pasture")).start()
    yield peer
    peer.stop()

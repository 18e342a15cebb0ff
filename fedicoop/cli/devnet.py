"""`fedicoop devnet`: three example co-ops on loopback, partnered, until Ctrl-C."""

import argparse
import asyncio
import os
import signal
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from fedicoop.accounts.service import add_account
from fedicoop.cli.federation_commands import federation_for
from fedicoop.config import CONFIG_NAME
from fedicoop.coops import partnership
from fedicoop.errors import Invalid, Unavailable
from fedicoop.instance import open_instance
from fedicoop.social import publishing

TEMPLATES = Path(__file__).resolve().parents[2] / "instances" / "devnet"


@dataclass
class Node:
    """One co-op of the development network."""

    template: dict[str, Any]
    directory: Path
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def group(self) -> str:
        return f"{self.template['handle']}@{self.domain}"


def register(commands: Any) -> None:
    """Add the devnet command."""
    devnet = commands.add_parser(
        "devnet",
        help="start three example co-ops on loopback, partnered, until Ctrl-C",
        description="Start the example co-ops of instances/devnet/ as separate --dev processes "
        "on 127.0.0.1, partner them, and keep them running until Ctrl-C.",
    )
    devnet.add_argument("--base-port", type=int, default=8001, help="first port (8001)")
    devnet.add_argument("--dir", default="var/devnet", help="where the instances live")
    devnet.add_argument(
        "--templates", default=str(TEMPLATES), help="folder of co-op templates (*.toml)"
    )
    devnet.set_defaults(run=run_devnet)


def _say(message: str) -> None:
    print(f"devnet: {message}", flush=True)


async def run_devnet(args: argparse.Namespace) -> int:
    """Create (once), start, partner, and wait."""
    templates = sorted(Path(args.templates).glob("*.toml"))
    if not templates:
        raise Invalid(f"no co-op templates (*.toml) in {args.templates}")
    base = Path(args.dir)
    nodes = [
        Node(tomllib.loads(path.read_text(encoding="utf-8")), base / path.stem, args.base_port + i)
        for i, path in enumerate(templates)
    ]
    for step, node in enumerate(nodes, start=1):
        _say(f"[{step}/{len(nodes)}] preparing {node.template['name']} on {node.domain}")
        await _prepare(node)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        for node in nodes:
            await _start(node)
        _say("all co-ops answer; partnering them")
        await _partner(nodes)
        await _await_partnerships(nodes)
        _print_summary(nodes)
        await stop.wait()
    finally:
        _say("stopping")
        for node in nodes:
            if node.process and node.process.returncode is None:
                node.process.send_signal(signal.SIGTERM)
        for node in nodes:
            if node.process:
                await node.process.wait()
    return 0


async def _prepare(node: Node) -> None:
    if (node.directory / CONFIG_NAME).exists():
        return
    from fedicoop.bootstrap import init_instance

    node.directory.parent.mkdir(parents=True, exist_ok=True)
    result = await init_instance(
        node.directory,
        domain=node.domain,
        name=node.template["name"],
        handle=node.template["handle"],
        dev=True,
    )
    lines = [f"@{result.admin_username}@{node.domain}\t{result.admin_password}\tadmin"]
    instance = await open_instance(node.directory)
    try:
        for username in node.template.get("members", []):
            account, password = await add_account(instance, username)
            lines.append(f"@{account.username}@{node.domain}\t{password}\tmember")
    finally:
        await instance.close()
    credentials = node.directory.parent / f"{node.directory.name}.credentials"
    fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


async def _start(node: Node) -> None:
    log = (node.directory.parent / f"{node.directory.name}.log").open("ab")
    node.process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fedicoop",
        "serve",
        str(node.directory),
        "--port",
        str(node.port),
        stdout=log,
        stderr=log,
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if node.process.returncode is not None:
                raise Unavailable(f"{node.template['name']} stopped; see {log.name}")
            try:
                async with session.get(f"http://{node.domain}/health") as answer:
                    if answer.status == 200:
                        _say(f"{node.template['name']} is up at http://{node.domain}/")
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise Unavailable(f"{node.template['name']} did not start; see {log.name}")


async def _partner(nodes: list[Node]) -> None:
    for node in nodes:
        async with federation_for(str(node.directory)) as federation:
            group = await federation.group_actor()
            for other in nodes:
                if other is node:
                    continue
                state = await partnership.add_partner(federation, other.group)
                target = await federation.resolver.actor_by_handle(other.group)
                await publishing.follow(federation, group, target)
                _say(f"{node.group} → {other.group}: partnership {state}, following")


async def _await_partnerships(nodes: list[Node], patience: float = 30.0) -> None:
    """Wait until every co-op sees every other as an active partner (deliveries take a moment)."""
    deadline = asyncio.get_running_loop().time() + patience
    while asyncio.get_running_loop().time() < deadline:
        active = 0
        for node in nodes:
            async with federation_for(str(node.directory)) as federation:
                active += len(await partnership.active_partner_groups(federation))
        if active == len(nodes) * (len(nodes) - 1):
            _say(f"all {active} partnerships are active")
            return
        await asyncio.sleep(0.5)
    _say("some partnerships are still pending; `fedicoop partner list DIR` shows them")


def _print_summary(nodes: list[Node]) -> None:
    print("\nfedicoop devnet is running (Ctrl-C to stop):", flush=True)
    for node in nodes:
        credentials = node.directory.parent / f"{node.directory.name}.credentials"
        print(f"\n  {node.template['name']}  http://{node.domain}/  group @{node.group}")
        if credentials.exists():
            for line in credentials.read_text(encoding="utf-8").splitlines():
                print("    " + line.replace("\t", "  "))
    print(flush=True)

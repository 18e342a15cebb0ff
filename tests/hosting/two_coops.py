"""Serve two production (https) instances in one process, for the federation-behind-nginx test.

    SSL_CERT_FILE=ca.pem python -m tests.hosting.two_coops DIR_A:PORT_A DIR_B:PORT_B

Each instance is served exactly as `fedicoop serve` serves it (the same app, inbox processor
and delivery loop), with one change: its fetcher trusts 127.0.0.0/8 and resolves the test's
names (coop-a.test, coop-b.test) to 127.0.0.1, which is what a `trusted_networks` setting in
fedicoop.toml would do. Production instances otherwise refuse loopback peers (SSRF guard).
TLS is verified as in production: the test's CA comes in through SSL_CERT_FILE, read by the
default SSL context when aiohttp is imported.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from fedicoop.activitypub.fetch import SafeFetcher
from fedicoop.instance import open_instance
from fedicoop.web.app import create_app
from fedicoop.web.keys import FEDERATION


class Loopback(AbstractResolver):
    """Resolve every *.test name to 127.0.0.1, like the test machine's hosts file would."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not host.endswith(".test"):
            raise OSError(f"NXDOMAIN {host}")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


async def serve(specs: list[str]) -> None:
    runners = []
    for spec in specs:
        directory, port = spec.rsplit(":", 1)
        instance = await open_instance(directory)
        app = create_app(instance)
        federation = app[FEDERATION]
        fetcher = SafeFetcher(
            dev=False,
            user_agent=f"fedicoop (+{instance.config.base_url}/)",
            signer=federation._sign_fetch,
            trusted_networks=["127.0.0.0/8"],
            resolver=Loopback(),
        )
        federation.fetcher = federation.resolver.fetcher = federation.deliverer.fetcher = fetcher
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(port)).start()
        runners.append(runner)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1:]))

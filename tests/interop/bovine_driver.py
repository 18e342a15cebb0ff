"""Drive one bovine actor as its owner, through bovine's own client (Moo-Auth-1).

Runs inside the bovine-herd virtual environment, never the project's: it imports only bovine.
Usage: python bovine_driver.py DOMAIN SECRET COMMAND [JSON]; prints one JSON document.
  whoami          the actor document, as its owner sees it
  send ACTIVITY   POST the activity to the outbox; print the stored activity (ids assigned)
  inbox           every item of the inbox, resolved, newest first
  get URL         fetch a document through the actor's proxyUrl (signed by bovine)
"""

import asyncio
import json
import sys
from typing import Any

from bovine import BovineClient


async def inbox_items(client: BovineClient) -> list[Any]:
    items = []
    async for item in client.inbox(resolve=False):
        if isinstance(item, str):
            item = await client.proxy(item)
        items.append(item)
    return items


async def run(domain: str, secret: str, command: str, argument: str | None) -> Any:
    async with BovineClient(domain=domain, secret=secret) as client:
        await client.init(session=client.session)
        if command == "whoami":
            return client.information
        if command == "send":
            activity = json.loads(argument or "{}")
            activity.setdefault("@context", "https://www.w3.org/ns/activitystreams")
            activity.setdefault("actor", client.actor_id)
            response = await client.send_to_outbox(activity)
            response.raise_for_status()
            return await client.proxy(response.headers["location"])
        if command == "inbox":
            return await inbox_items(client)
        if command == "get":
            return await client.proxy(argument or "")
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    domain, secret, command, *rest = sys.argv[1:]
    print(json.dumps(asyncio.run(run(domain, secret, command, rest[0] if rest else None))))

"""Send one activity as a fediverse-pasture test actor, signed by bovine's HTTP signature code.

Runs inside the fediverse-pasture virtual environment, from the folder holding data.toml.
Usage: python pasture_driver.py ORIGIN ACTOR_NAME INBOX ACTIVITY_JSON; prints the HTTP status.
"""

import asyncio
import json
import sys

import aiohttp
from fediverse_pasture.data_provider import DataProvider, bovine_actor_for_actor_data


async def send(origin: str, name: str, inbox: str, activity: dict) -> int:
    provider = DataProvider.load()
    data = next(a for a in [*provider.possible_actors, provider.one_actor] if a.actor_name == name)
    actor, _ = bovine_actor_for_actor_data(f"{origin}/{name}", data)
    async with aiohttp.ClientSession() as session:
        await actor.init(session=session)
        try:
            response = await actor.post(inbox, data=activity)
        except aiohttp.ClientResponseError as error:
            return error.status
        return response.status


if __name__ == "__main__":
    origin, name, inbox, activity = sys.argv[1:5]
    print(asyncio.run(send(origin, name, inbox, json.loads(activity))))

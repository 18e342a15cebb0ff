"""fediverse-pasture's test actors (alice … frank, and `actor`), recording what they accept.

Runs inside the fediverse-pasture virtual environment, from a folder holding data.toml. An
inbox that requires signed POSTs answers 401 to a bad signature, and records nothing.
"""

import json
from typing import Any

from fediverse_pasture.data_provider import DataProvider
from fediverse_pasture.server import BlueprintForActors
from quart import Quart

provider = DataProvider.load()


def append(activity: dict[str, Any]) -> None:
    with open("inbox.jsonl", "a") as log:
        log.write(json.dumps(activity) + "\n")


async def record(activity: dict[str, Any]) -> None:
    append(activity)  # one short line: not worth a thread


app = Quart(__name__)
app.register_blueprint(
    BlueprintForActors([*provider.possible_actors, provider.one_actor], on_inbox=record).blueprint
)

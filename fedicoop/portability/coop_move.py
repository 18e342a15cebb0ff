"""`fedicoop move-coop`: the old host hands a whole co-op over to its copy on a new domain.

After `import-coop` runs on the new host (every new account names its old self in
`alsoKnownAs`), the old host sends `Move` for every member and for the co-op's Group, exactly
as one member moving does: followers on every server re-follow the new accounts, partner co-ops
move the partnership to the new Group. From then on the old host answers with `movedTo` on
its actors and redirects every other address to the same path on the new domain
(`fedicoop.web.moved`), so links, verifiers and ride bookings reach the copy.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from fedicoop.activitypub.runtime import Federation
from fedicoop.config import validate_domain
from fedicoop.errors import FedicoopError, Invalid
from fedicoop.portability import move
from fedicoop.portability.rebase import Rebase
from fedicoop.storage.accounts import SettingsRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository

# The settings key the web layer reads to redirect once the co-op has moved.
MOVED_TO = "moved_to_origin"
Progress = Callable[[str], None]
# How long the running server may take to notice the move (`fedicoop.web.moved` caches 5 s).
REDIRECT_DELAY = 6.0


@dataclass
class CoopMove:
    """Who moved, and who could not (with the reason)."""

    new_origin: str
    moved: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


async def moved_to(federation: Federation) -> str | None:
    """Return the origin this co-op moved to, if it did."""
    return await SettingsRepository(federation.instance.db).get(MOVED_TO)


async def _accounts(federation: Federation) -> list[ActorRecord]:
    actors = ActorRepository(federation.instance.db)
    group = await federation.group_actor()
    members = [a for a in await actors.local_by_type("Person") if not a.moved_to]
    # Members first: when the Group's partners follow its Move, members' rides are ready.
    return [*members, group] if not group.moved_to else members


async def move_coop(
    federation: Federation, to_domain: str, progress: Progress = lambda _: None
) -> CoopMove:
    """Move the Group and every member to the same accounts under `to_domain`."""
    config = federation.instance.config
    new_origin = f"{config.scheme}://{validate_domain(to_domain)}"
    rebase = Rebase.between(config.base_url, new_origin)
    if rebase.old_origin == rebase.new_origin:
        raise Invalid("that is this co-op's own domain", field="to")
    group = await federation.group_actor()
    # Nothing moves until the new host answers for the Group: a typo must not strand anyone.
    await move.find_account(federation, rebase.text(group.uri), "to", fresh=True)
    result = CoopMove(new_origin)
    # Redirect first: servers that hear a Move read the co-op's rides and proposals again at
    # their old addresses, and must be led to the new ones. The running server reads the
    # setting every few seconds.
    await SettingsRepository(federation.instance.db).put(MOVED_TO, new_origin)
    progress("the old addresses now redirect to the new domain")
    await asyncio.sleep(REDIRECT_DELAY)
    accounts = await _accounts(federation)
    for index, actor in enumerate(accounts, start=1):
        try:
            await move.move_account(federation, actor, rebase.text(actor.uri), redirect_local=False)
            result.moved.append(actor.acct)
        except FedicoopError as error:
            result.failed[actor.acct] = error.message
        progress(f"  {index}/{len(accounts)} {actor.acct}")
    return result

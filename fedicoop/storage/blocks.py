"""Reads of blocks that ReactionRepository (which records and forgets them) does not offer."""

from fedicoop.storage.database import Executor


class BlockRepository:
    """Looks up the Block activity behind a block."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def activity_uri(self, actor_id: int, target_id: int) -> str | None:
        """Return the id of the Block activity an actor sent a target, if it blocks them."""
        value = await self.db.fetchval(
            "SELECT uri FROM blocks WHERE actor_id = $1 AND target_id = $2", actor_id, target_id
        )
        return None if value is None else str(value)

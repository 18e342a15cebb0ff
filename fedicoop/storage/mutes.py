"""Repository of mutes: accounts a member does not want to see (never federated)."""

from fedicoop import clock
from fedicoop.storage.database import Executor


class MuteRepository:
    """Adds and removes mutes (which accounts are muted is read by ViewRepository)."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def add(self, account_id: int, target_id: int) -> None:
        """Mute an actor for a member; muting twice changes nothing."""
        await self.db.execute(
            "INSERT INTO mutes (account_id, target_id, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            account_id,
            target_id,
            clock.now_text(),
        )

    async def remove(self, account_id: int, target_id: int) -> None:
        """Unmute an actor for a member."""
        await self.db.execute(
            "DELETE FROM mutes WHERE account_id = $1 AND target_id = $2", account_id, target_id
        )

"""Who may reach whom: blocks, mutes, follow approval, the co-op's rules, and reports.

Reports go to this co-op's admins; a report on a remote account can also be forwarded to its
server (publishing.report sends the Flag).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from fedicoop.activitypub.documents import OBJECT_CONTEXT
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import Forbidden, Invalid, NotFound
from fedicoop.ids import new_id
from fedicoop.social import inbound, publishing
from fedicoop.social.profile import RECORD_NOT_FOUND
from fedicoop.storage.accounts import AccountRepository, SettingsRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.blocks import BlockRepository
from fedicoop.storage.database import Executor
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.mutes import MuteRepository
from fedicoop.storage.notifications import ReactionRepository, ReportRepository
from fedicoop.storage.objects import ObjectRecord
from fedicoop.storage.views import ViewRepository

REPORT_CATEGORIES = ("spam", "legal", "violation", "other")
REPORT_COMMENT_LIMIT = 1000


# Follows, blocks, mutes -----------------------------------------------------------------------


async def follow(federation: Federation, follower: ActorRecord, target: ActorRecord) -> None:
    """Follow an actor unless either blocks the other (remote: pending until their Accept)."""
    db = federation.instance.db
    reactions = ReactionRepository(db)
    if await reactions.is_blocked(target.id, follower.id) or await reactions.is_blocked(
        follower.id, target.id
    ):
        raise Forbidden("This action is not allowed: one of you blocks the other")
    record = await publishing.follow(federation, follower, target)
    if target.local and record.state == "pending" and (not target.locked or target.type == "Group"):
        # Our inbox accepts it in a moment (on_follow, which needs no approval here); show the
        # follow as done now, as Mastodon does for accounts of the same server.
        await FollowRepository(db).accept(follower.id, target.id)


async def answer_follow_request(
    federation: Federation, target: ActorRecord, follower: ActorRecord, accept: bool
) -> None:
    """Approve or refuse a pending follower (NotFound when nothing is pending)."""
    record = await FollowRepository(federation.instance.db).get(follower.id, target.id)
    if record is None or record.state != "pending":
        raise NotFound(RECORD_NOT_FOUND)
    await inbound.accept_follow_request(federation, target, follower, accept)


async def unblock(federation: Federation, actor: ActorRecord, target: ActorRecord) -> None:
    """Forget a block and send Undo(Block); unblocking someone not blocked does nothing."""
    db = federation.instance.db
    block_uri = await BlockRepository(db).activity_uri(actor.id, target.id)
    if block_uri is None:
        return
    await ReactionRepository(db).unblock(actor.id, target.id)
    original = {"id": block_uri, "type": "Block", "actor": actor.uri, "object": target.uri}
    undo = {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": "Undo",
        "actor": actor.uri,
        "object": original,
        "to": [target.uri],
    }
    await federation.publish(undo, actor, extra_recipients=[target])


async def mute(db: Executor, account_id: int, actor: ActorRecord, target: ActorRecord) -> None:
    """Hide an actor's posts from a member (never federated)."""
    if target.id == actor.id:
        raise Invalid("you cannot mute yourself")
    await MuteRepository(db).add(account_id, target.id)


async def unmute(db: Executor, account_id: int, target: ActorRecord) -> None:
    """Show a muted actor's posts to a member again."""
    await MuteRepository(db).remove(account_id, target.id)


# The co-op's rules and contact ----------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One of the co-op's rules; ids count from 1 in the order the rules are kept."""

    id: str
    text: str
    hint: str = ""


async def instance_rules(db: Executor) -> list[Rule]:
    """Return the co-op's rules (settings key `instance.rules`: a JSON list of texts)."""
    raw = await SettingsRepository(db).get("instance.rules")
    stored = json.loads(raw) if raw else []
    rules = []
    for number, rule in enumerate(stored, start=1):
        text, hint = (
            (rule, "") if isinstance(rule, str) else (rule.get("text", ""), rule.get("hint", ""))
        )
        rules.append(Rule(id=str(number), text=str(text), hint=str(hint)))
    return rules


async def contact_actor(db: Executor) -> ActorRecord | None:
    """Return the first active admin: whom people contact about this co-op."""
    for account in await AccountRepository(db).list():
        if account.role == "admin" and account.status == "active":
            actor = await ActorRepository(db).get(account.actor_id)
            if actor is not None:
                return actor
    return None


# Reports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportDraft:
    """A member's report as sent (category None: `other`, or `violation` with rule ids)."""

    comment: str = ""
    category: str | None = None
    rule_ids: Sequence[str] = ()
    status_ids: Sequence[int] = ()
    forward: bool = False


@dataclass(frozen=True)
class FiledReport:
    """A stored report: what it says and whether it went to the target's server too."""

    id: int
    created_at: str
    category: str
    comment: str
    forwarded: bool
    statuses: list[ObjectRecord] = field(default_factory=list)
    rule_ids: list[str] = field(default_factory=list)


async def file_report(
    federation: Federation, reporter: ActorRecord, target: ActorRecord, draft: ReportDraft
) -> FiledReport:
    """Tell this co-op's admins about an account; forward to its server if remote and asked."""
    instance = federation.instance
    if target.id == reporter.id:
        raise Invalid("you cannot report yourself", field="account_id")
    if len(draft.comment) > REPORT_COMMENT_LIMIT:
        raise Invalid(f"comment holds at most {REPORT_COMMENT_LIMIT} characters", field="comment")
    rule_ids = list(draft.rule_ids)
    known_rules = {rule.id for rule in await instance_rules(instance.db)}
    if any(rule not in known_rules for rule in rule_ids):
        raise Invalid("rule_ids does not reference valid rules", field="rule_ids")
    category = "violation" if rule_ids else (draft.category or "other")
    if category not in REPORT_CATEGORIES:
        raise Invalid(f"category must be one of {', '.join(REPORT_CATEGORIES)}", field="category")
    found = await ViewRepository(instance.db).objects(draft.status_ids)
    # Only the reported account's own posts: a report cannot drag in someone else's.
    statuses = [found[i] for i in draft.status_ids if i in found and found[i].actor_id == target.id]
    uris = [status.uri for status in statuses]
    report_uri = f"{instance.config.base_url}/reports/{new_id()}"
    reports = ReportRepository(instance.db)
    await reports.add(report_uri, reporter.uri, [target.uri, *uris], draft.comment)
    forwarded = draft.forward and not target.local
    if forwarded:
        await publishing.report(federation, reporter, target, uris, draft.comment)
    stored = await reports.by_activity(report_uri)
    assert stored is not None
    return FiledReport(
        id=stored.id,
        created_at=stored.created_at,
        category=category,
        comment=draft.comment,
        forwarded=forwarded,
        statuses=statuses,
        rule_ids=rule_ids,
    )

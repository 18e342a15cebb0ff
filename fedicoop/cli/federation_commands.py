"""Commands for a co-op's federation: members, partners, reports, and acting as a member."""

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fedicoop.accounts.model import Status
from fedicoop.accounts.service import get_account, list_accounts, set_status
from fedicoop.activitypub.runtime import Federation
from fedicoop.coops import partnership
from fedicoop.errors import Invalid
from fedicoop.governance import membership
from fedicoop.instance import open_instance
from fedicoop.services import build_federation
from fedicoop.social import publishing
from fedicoop.social.addressing import parse_visibility
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.notifications import ReportRepository


@asynccontextmanager
async def federation_for(directory: str) -> AsyncIterator[Federation]:
    """Open an instance with its federation runtime (no background loops: the server runs them)."""
    instance = await open_instance(directory)
    federation = build_federation(instance)
    try:
        await federation.instance_actor()
        yield federation
    finally:
        await federation.fetcher.close()
        await instance.close()


def register(commands: Any) -> None:
    """Add member, partner, report and act."""
    member = commands.add_parser(
        "member", help="approve, remove and list co-op members", description="Co-op membership."
    )
    member_actions = member.add_subparsers(dest="member_command", metavar="ACTION", required=True)
    for name, helptext in (
        ("add", "approve an applicant or confirm an account as member (idempotent)"),
        ("remove", "end a membership (the account is suspended, its data kept)"),
    ):
        action = member_actions.add_parser(name, help=helptext, description=helptext)
        action.add_argument("directory", metavar="DIR")
        action.add_argument("username", metavar="USERNAME")
        action.set_defaults(
            run=run_member_change, status=Status.ACTIVE if name == "add" else Status.SUSPENDED
        )
    listing = member_actions.add_parser("list", help="list accounts and their standing")
    listing.add_argument("directory", metavar="DIR")
    listing.set_defaults(run=run_member_list)

    partner = commands.add_parser(
        "partner",
        help="partnerships with other co-ops",
        description="A partnership is mutual: it is active once both co-ops' admins added each "
        "other. Partners receive each other's rides and cross-co-op proposals.",
    )
    partner_actions = partner.add_subparsers(
        dest="partner_command", metavar="ACTION", required=True
    )
    for name, helptext in (
        ("add", "offer partnership to a co-op, or accept the one it offered"),
        ("remove", "end a partnership on both sides"),
    ):
        action = partner_actions.add_parser(name, help=helptext, description=helptext)
        action.add_argument("directory", metavar="DIR")
        action.add_argument("handle", metavar="HANDLE@HOST", help="the other co-op's Group")
        action.set_defaults(run=run_partner_add if name == "add" else run_partner_remove)
    partner_list = partner_actions.add_parser("list", help="show partnerships and their state")
    partner_list.add_argument("directory", metavar="DIR")
    partner_list.set_defaults(run=run_partner_list)

    report = commands.add_parser("report", help="reports received from other servers")
    report_actions = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    report_list = report_actions.add_parser("list", help="list reports received via Flag")
    report_list.add_argument("directory", metavar="DIR")
    report_list.set_defaults(run=run_report_list)

    act = commands.add_parser(
        "act",
        help="act as a member (post, follow, like…) from scripts",
        description="Act as a member of this instance: what a Mastodon app does, for scripts "
        "and local federation. Deliveries are queued; a running `fedicoop serve` sends them.",
    )
    act.add_argument("directory", metavar="DIR")
    act.add_argument("username", metavar="USERNAME")
    verbs = act.add_subparsers(dest="verb", metavar="VERB", required=True)
    post = verbs.add_parser("post", help="publish a post")
    post.add_argument("text")
    post.add_argument("--visibility", default="public", help="public|unlisted|private|direct")
    post.add_argument("--reply-to", metavar="URI", help="the post this replies to")
    post.add_argument("--summary", default="", help="content warning")
    post.set_defaults(run=run_act, action=_act_post)
    for verb, helptext, action in (
        ("follow", "follow user@host", _act_follow),
        ("unfollow", "stop following user@host", _act_unfollow),
        ("block", "block user@host", _act_block),
    ):
        parser = verbs.add_parser(verb, help=helptext)
        parser.add_argument("target", metavar="USER@HOST")
        parser.set_defaults(run=run_act, action=action)
    for verb, helptext, action in (
        ("like", "like a post", _act_like),
        ("unlike", "take a like back", _act_unlike),
        ("boost", "boost (announce) a post", _act_boost),
        ("unboost", "take a boost back", _act_unboost),
        ("delete", "delete one of your posts", _act_delete),
    ):
        parser = verbs.add_parser(verb, help=helptext)
        parser.add_argument("target", metavar="URI")
        parser.set_defaults(run=run_act, action=action)


async def run_member_change(args: argparse.Namespace) -> int:
    """Approve or suspend a member."""
    instance = await open_instance(args.directory)
    try:
        account = await set_status(instance, args.username, args.status)
        if account.status == Status.ACTIVE:
            await membership.settle_applications(instance, account, approved=True)
    finally:
        await instance.close()
    word = "is a member" if account.status == Status.ACTIVE else "is no longer a member"
    print(f"@{account.username}@{instance.domain} {word}")
    return 0


async def run_member_list(args: argparse.Namespace) -> int:
    """List accounts and their standing."""
    instance = await open_instance(args.directory)
    try:
        for account in await list_accounts(instance):
            print(f"@{account.acct}\t{account.standing}")
    finally:
        await instance.close()
    return 0


async def run_partner_add(args: argparse.Namespace) -> int:
    """Offer or accept a partnership."""
    async with federation_for(args.directory) as federation:
        state = await partnership.add_partner(federation, args.handle)
    if state is partnership.PartnerState.ACTIVE:
        print(f"Partnership with {args.handle} is active.")
    else:
        print(f"Offered partnership to {args.handle}; it is active once their admin adds you too.")
    return 0


async def run_partner_remove(args: argparse.Namespace) -> int:
    """End a partnership."""
    async with federation_for(args.directory) as federation:
        await partnership.remove_partner(federation, args.handle)
    print(f"Partnership with {args.handle} ended.")
    return 0


async def run_partner_list(args: argparse.Namespace) -> int:
    """Show partnerships."""
    async with federation_for(args.directory) as federation:
        partners = await partnership.list_partners(federation)
    if not partners:
        print("No partnerships yet: fedicoop partner add DIR handle@host")
    for partner in partners:
        print(f"@{partner.group.acct}\t{partner.state}\t{partner.group.display_name}")
    return 0


async def run_report_list(args: argparse.Namespace) -> int:
    """List reports received through Flag."""
    instance = await open_instance(args.directory)
    try:
        reports = await ReportRepository(instance.db).list()
    finally:
        await instance.close()
    if not reports:
        print("No reports.")
    for report in reports:
        targets = " ".join(str(t) for t in report["targets"])  # type: ignore[attr-defined]
        print(
            f"{report['created_at']}\tfrom {report['reporter_uri']}\t{targets}\t{report['content']}"
        )
    return 0


Action = Callable[[Federation, ActorRecord, argparse.Namespace], Awaitable[str]]


async def run_act(args: argparse.Namespace) -> int:
    """Act as a member and print what was made."""
    async with federation_for(args.directory) as federation:
        account = await get_account(federation.instance, args.username)
        if account.status != Status.ACTIVE:
            raise Invalid(f"@{args.username} is {account.status}, not an active member")
        actor = await ActorRepository(federation.instance.db).get(account.actor_id)
        assert actor is not None
        action: Action = args.action
        print(await action(federation, actor, args))
    return 0


async def _act_post(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    posted = await publishing.post_note(
        federation,
        actor,
        args.text,
        visibility=parse_visibility(args.visibility),
        in_reply_to=args.reply_to,
        summary=args.summary,
    )
    return posted.object.uri


async def _act_follow(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    target = await federation.resolver.actor_by_handle(args.target)
    record = await publishing.follow(federation, actor, target)
    return f"{record.state}: {target.uri}"


async def _act_unfollow(
    federation: Federation, actor: ActorRecord, args: argparse.Namespace
) -> str:
    target = await federation.resolver.actor_by_handle(args.target)
    await publishing.unfollow(federation, actor, target)
    return f"unfollowed {target.uri}"


async def _act_block(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    target = await federation.resolver.actor_by_handle(args.target)
    await publishing.block(federation, actor, target)
    return f"blocked {target.uri}"


async def _act_like(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    return await publishing.react(federation, actor, "Like", args.target)


async def _act_unlike(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    await publishing.unreact(federation, actor, "Like", args.target)
    return f"unliked {args.target}"


async def _act_boost(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    return await publishing.react(federation, actor, "Announce", args.target)


async def _act_unboost(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    await publishing.unreact(federation, actor, "Announce", args.target)
    return f"unboosted {args.target}"


async def _act_delete(federation: Federation, actor: ActorRecord, args: argparse.Namespace) -> str:
    await publishing.delete_note(federation, actor, args.target)
    return f"deleted {args.target}"

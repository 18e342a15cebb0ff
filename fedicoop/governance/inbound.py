"""Proposal, roster and ballot activities received in the inbox (registered by `register`)."""

from fedicoop.activitypub.as2 import id_of
from fedicoop.activitypub.processing import HandlerRegistry, Inbound
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import Forbidden
from fedicoop.governance.service import GovernanceService


def _is_proposal(embedded: object) -> bool:
    return isinstance(embedded, dict) and "kind" in embedded and "proposalOptions" in embedded


async def on_question(federation: Federation, inbound: Inbound) -> None:
    """A partner co-op's Group opened a proposal (a Question with our terms)."""
    embedded = inbound.document.get("object")
    if not _is_proposal(embedded):
        return
    assert isinstance(embedded, dict)
    group = await federation.resolver.actor(inbound.sender)
    if group.type != "Group" or group.local:
        return
    await GovernanceService.of(federation).received_proposal(group, embedded)


async def on_question_update(federation: Federation, inbound: Inbound) -> None:
    """The host published a proposal's results."""
    embedded = inbound.document.get("object")
    if not _is_proposal(embedded):
        return
    assert isinstance(embedded, dict)
    group = await federation.resolver.actor(inbound.sender)
    if group.local:
        return
    await GovernanceService.of(federation).received_update(group, embedded)


async def on_roster(federation: Federation, inbound: Inbound) -> None:
    """A participating co-op's signed roster snapshot for one of our proposals."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict):
        return
    group = await federation.resolver.actor(inbound.sender)
    if group.type != "Group" or group.local:
        return
    await GovernanceService.of(federation).received_snapshot(group, embedded)


async def on_ballot(federation: Federation, inbound: Inbound) -> None:
    """A member of a participating co-op voted on one of our proposals."""
    embedded = inbound.document.get("object")
    if not isinstance(embedded, dict):
        return
    voter = await federation.resolver.actor(inbound.sender)
    if voter.local:
        return  # our own members' ballots are counted when cast
    attributed = id_of(embedded.get("attributedTo"))
    if attributed is not None and attributed != voter.uri:
        raise Forbidden("a ballot must be sent by its voter")
    await GovernanceService.of(federation).received_ballot(voter, embedded)


async def on_ballot_rejected(federation: Federation, inbound: Inbound) -> None:
    """The hosting co-op refused one of our members' ballots."""
    ballot_uri = id_of(inbound.document.get("object"))
    if not ballot_uri:
        return
    sender = await federation.resolver.actor(inbound.sender)
    content = inbound.document.get("content")
    reason = content if isinstance(content, str) else ""
    await GovernanceService.of(federation).ballot_answered(sender, ballot_uri, reason[:500])


async def on_ballot_counted(federation: Federation, inbound: Inbound) -> None:
    """The hosting co-op counted one of our members' ballots."""
    ballot_uri = id_of(inbound.document.get("object"))
    if not ballot_uri:
        return
    sender = await federation.resolver.actor(inbound.sender)
    await GovernanceService.of(federation).ballot_counted(sender, ballot_uri)


async def on_poll_answer(federation: Federation, inbound: Inbound) -> None:
    """A Mastodon-style poll answer to one of our proposals."""
    note = inbound.document.get("object")
    if not isinstance(note, dict) or not isinstance(note.get("name"), str):
        return
    target = id_of(note.get("inReplyTo"))
    uri = id_of(note)
    if not target or not uri:
        return
    service = GovernanceService.of(federation)
    proposal = await service.proposals.by_uri(target)
    if proposal is None or not proposal.local:
        return
    voter = await federation.resolver.actor(inbound.sender)
    if id_of(note.get("attributedTo")) not in (None, voter.uri):
        return
    await service.received_poll_answer(voter, proposal, str(note["name"]), uri)


def register(handlers: HandlerRegistry) -> None:
    """Plug governance handling into the inbox."""
    handlers.add("Create", on_question, "Question")
    handlers.add("Update", on_question_update, "Question")
    handlers.add("Create", on_roster, "RosterSnapshot")
    handlers.add("Create", on_ballot, "Ballot")
    handlers.add("Reject", on_ballot_rejected, "Ballot")
    handlers.add("Accept", on_ballot_counted, "Ballot")
    handlers.add("Create", on_poll_answer, "Note")

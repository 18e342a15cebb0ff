"""Polls: local ones published as `Question`, remote ones mirrored, votes both ways.

Votes travel as Mastodon sends them: one `Create(Note{name: choice, inReplyTo: question})`
per choice, addressed to the poll's author only. The author's server counts them and later
tells everyone the totals with `Update(Question)`.
"""

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.as2 import ObjectDoc, id_of, parse_object
from fedicoop.activitypub.documents import OBJECT_CONTEXT, dumps
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import Invalid, NotFound
from fedicoop.ids import new_id
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Executor
from fedicoop.storage.objects import ObjectRecord, ObjectRepository

# Mastodon's limits (PollOptionsValidator, PollExpirationValidator); clients read them from
# the instance configuration, so the instance API should advertise these same numbers.
MAX_OPTIONS = 4
MAX_OPTION_CHARS = 50
MIN_EXPIRATION = timedelta(minutes=5)
MAX_EXPIRATION = timedelta(days=31)


@dataclass(frozen=True)
class PollOption:
    """One choice and how many votes it has."""

    title: str
    votes: int = 0


@dataclass(frozen=True)
class PollDraft:
    """A poll as a member asks for it, validated."""

    options: tuple[str, ...]
    expires_in: timedelta
    multiple: bool = False
    hide_totals: bool = False


@dataclass(frozen=True)
class Poll:
    """A stored poll, local or mirrored from its author's server."""

    object_id: int
    options: tuple[PollOption, ...]
    multiple: bool
    expires_at: str | None
    voters_count: int | None

    @property
    def expired(self) -> bool:
        """Return whether voting has ended."""
        return self.expires_at is not None and clock.from_text(self.expires_at) <= clock.now()

    @property
    def titles(self) -> tuple[str, ...]:
        """Return the option titles in order."""
        return tuple(option.title for option in self.options)


def _invalid(message: str) -> Invalid:
    return Invalid(f"Validation failed: {message}", field="poll")


def validate_draft(
    options: list[Any], expires_in: int | None, *, multiple: bool, hide_totals: bool
) -> PollDraft:
    """Check a poll the way Mastodon does, with its messages."""
    titles = tuple(str(option).strip() for option in options)
    if len(titles) < 2:
        raise _invalid("Poll options must have more than one item")
    if len(titles) > MAX_OPTIONS:
        raise _invalid(f"Poll options can't contain more than {MAX_OPTIONS} items")
    if any(not title for title in titles):
        raise _invalid("Poll options can't be blank")
    if any(len(title) > MAX_OPTION_CHARS for title in titles):
        raise _invalid(f"Poll options cannot be longer than {MAX_OPTION_CHARS} characters each")
    if len(set(titles)) != len(titles):
        raise _invalid("Poll options contain duplicate items")
    if expires_in is None:
        raise _invalid("Poll expires in can't be blank")
    duration = timedelta(seconds=expires_in)
    if duration < MIN_EXPIRATION:
        raise _invalid("Poll expires at is too soon")
    if duration > MAX_EXPIRATION:
        raise _invalid("Poll expires at is too far into the future")
    return PollDraft(titles, duration, multiple=multiple, hide_totals=hide_totals)


def new_poll(object_id: int, draft: PollDraft) -> Poll:
    """Return the poll a draft opens now, with no votes."""
    return Poll(
        object_id=object_id,
        options=tuple(PollOption(title) for title in draft.options),
        multiple=draft.multiple,
        expires_at=clock.to_text(clock.now() + draft.expires_in),
        voters_count=0,
    )


# Converters -------------------------------------------------------------------------------


def question_fields(poll: Poll) -> dict[str, Any]:
    """Return what turns a Note into a Question: the choices with their counts, the end."""
    choices = [
        {"type": "Note", "name": o.title, "replies": {"type": "Collection", "totalItems": o.votes}}
        for o in poll.options
    ]
    fields: dict[str, Any] = {"anyOf" if poll.multiple else "oneOf": choices}
    if poll.expires_at:
        fields["endTime"] = clock.as2_time(clock.from_text(poll.expires_at))
        if poll.expired:
            fields["closed"] = fields["endTime"]
    if poll.voters_count is not None:
        fields["votersCount"] = poll.voters_count
    return fields


def poll_from_as(object_id: int, parsed: ObjectDoc) -> Poll | None:
    """Read the poll of a received Question (None when it has no choices)."""
    choices = parsed.any_of or parsed.one_of
    if not choices:
        return None
    ends = parsed.end_time or parsed.closed_at
    return Poll(
        object_id=object_id,
        options=tuple(PollOption(c.name[: MAX_OPTION_CHARS * 4], c.votes or 0) for c in choices),
        multiple=bool(parsed.any_of),
        expires_at=clock.to_text(ends) if ends else None,
        voters_count=parsed.voters_count,
    )


# Storage ------------------------------------------------------------------------------------


class PollRepository:
    """Reads and writes the `polls` and `poll_votes` tables."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def get(self, object_id: int) -> Poll | None:
        """Return the poll of an object."""
        row = await self.db.fetchrow("SELECT * FROM polls WHERE object_id = $1", object_id)
        if row is None:
            return None
        return Poll(
            object_id=int(row["object_id"]),
            options=tuple(
                PollOption(str(o["title"]), int(o.get("votes", 0)))
                for o in json.loads(row["options"])
            ),
            multiple=bool(row["multiple"]),
            expires_at=row["expires_at"],
            voters_count=row["voters_count"],
        )

    async def put(self, poll: Poll) -> None:
        """Store a poll, replacing the one the object had."""
        options = json.dumps([{"title": o.title, "votes": o.votes} for o in poll.options])
        await self.db.execute(
            "INSERT INTO polls (object_id, options, multiple, expires_at, voters_count, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (object_id) DO UPDATE SET "
            "options = excluded.options, multiple = excluded.multiple, "
            "expires_at = excluded.expires_at, voters_count = excluded.voters_count, "
            "updated_at = excluded.updated_at",
            poll.object_id,
            options,
            int(poll.multiple),
            poll.expires_at,
            poll.voters_count,
            clock.now_text(),
        )

    async def delete(self, object_id: int) -> None:
        """Remove a poll and its votes."""
        await self.db.execute("DELETE FROM poll_votes WHERE object_id = $1", object_id)
        await self.db.execute("DELETE FROM polls WHERE object_id = $1", object_id)

    async def reset_votes(self, object_id: int) -> None:
        """Forget every vote (the choices changed, so the old votes mean nothing)."""
        await self.db.execute("DELETE FROM poll_votes WHERE object_id = $1", object_id)

    async def choices_of(self, object_id: int, actor_id: int) -> set[int]:
        """Return the choices an actor voted for."""
        rows = await self.db.fetch(
            "SELECT choice FROM poll_votes WHERE object_id = $1 AND actor_id = $2",
            object_id,
            actor_id,
        )
        return {int(row["choice"]) for row in rows}

    async def add_vote(self, object_id: int, actor_id: int, choice: int, uri: str | None) -> None:
        """Record one choice of one voter."""
        await self.db.execute(
            "INSERT INTO poll_votes (id, object_id, actor_id, choice, uri, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            new_id(),
            object_id,
            actor_id,
            choice,
            uri,
            clock.now_text(),
        )


# Voting -------------------------------------------------------------------------------------


async def _count_votes(
    db: Executor, poll: Poll, voter: ActorRecord, choices: list[int], uris: list[str | None]
) -> Poll:
    """Check and record a voter's choices, updating the totals (inside a transaction)."""
    repository = PollRepository(db)
    earlier = await repository.choices_of(poll.object_id, voter.id)
    if (earlier and not poll.multiple) or earlier & set(choices):
        raise _invalid("You have already voted on this poll")
    for choice, uri in zip(choices, uris, strict=True):
        await repository.add_vote(poll.object_id, voter.id, choice, uri)
    options = tuple(
        replace(option, votes=option.votes + choices.count(index))
        for index, option in enumerate(poll.options)
    )
    voters = poll.voters_count
    if voters is not None and not earlier:
        voters += 1
    counted = replace(poll, options=options, voters_count=voters)
    await repository.put(counted)
    return counted


def _check_choices(poll: Poll, choices: list[int]) -> list[int]:
    if not choices:
        raise _invalid("Choices can't be blank")
    if any(choice < 0 or choice >= len(poll.options) for choice in choices):
        raise _invalid("The chosen vote option does not exist")
    unique = list(dict.fromkeys(choices))
    if len(unique) > 1 and not poll.multiple:
        raise _invalid("This poll accepts a single choice")
    return unique


async def vote(
    federation: Federation, voter: ActorRecord, question: ObjectRecord, choices: list[int]
) -> Poll:
    """A member votes: counted here for our polls, sent to the author's server for others."""
    db = federation.instance.db
    poll = await PollRepository(db).get(question.id)
    if poll is None or question.deleted_at:
        raise NotFound("Record not found")
    if poll.expired:
        raise _invalid("The poll has already ended")
    if question.actor_id == voter.id:
        raise _invalid("You cannot vote in your own polls")
    wanted = _check_choices(poll, choices)
    uris: list[str | None] = [None] * len(wanted)
    if not question.local:
        # Mastodon names a vote `<voter>#votes/<id>`: on the voter's origin, unique, stable.
        uris = [f"{voter.uri}#votes/{new_id()}" for _ in wanted]
    async with db.transaction() as tx:
        counted = await _count_votes(tx, poll, voter, wanted, uris)
    if question.local:
        await publish_totals(federation, question)
        return counted
    author = await ActorRepository(db).get(question.actor_id)
    if author is None:
        raise NotFound("Record not found")
    for choice, uri in zip(wanted, uris, strict=True):
        note = {
            "id": uri,
            "type": "Note",
            "name": poll.options[choice].title,
            "attributedTo": voter.uri,
            "inReplyTo": question.uri,
            "to": [author.uri],
        }
        create = {
            "@context": OBJECT_CONTEXT,
            "id": f"{uri}/activity",
            "type": "Create",
            "actor": voter.uri,
            "object": note,
            "to": [author.uri],
        }
        await federation.publish(create, voter, extra_recipients=[author])
    return counted


async def local_question_for_vote(db: Executor, note: dict[str, Any]) -> ObjectRecord | None:
    """Return our poll a received Note votes in (a `name` answering a local Question), or None."""
    name = note.get("name")
    target = id_of(note.get("inReplyTo"))
    if note.get("type") != "Note" or not isinstance(name, str) or not name or not target:
        return None
    question = await ObjectRepository(db).by_uri(target)
    if question is None or not question.local or question.deleted_at:
        return None
    # A co-op proposal counts its own ballots (eligibility, proofs): not a plain poll.
    if await db.fetchval("SELECT 1 FROM proposals WHERE uri = $1", target):
        return None
    poll = await PollRepository(db).get(question.id)
    if poll is None or name not in poll.titles:
        return None
    return question


async def answers_a_proposal(db: Executor, note: dict[str, Any]) -> bool:
    """Return whether a Note is a plain poll answer to a co-op proposal we host."""
    target = id_of(note.get("inReplyTo"))
    if not isinstance(note.get("name"), str) or not target:
        return False
    return bool(await db.fetchval("SELECT 1 FROM proposals WHERE uri = $1 AND local = 1", target))


async def receive_vote(
    federation: Federation, voter: ActorRecord, question: ObjectRecord, note: dict[str, Any]
) -> bool:
    """Count a remote vote in one of our polls; return whether it counted."""
    # Only the voter speaks for the voter: a vote attributed to someone else is ignored.
    if id_of(note.get("attributedTo")) not in (None, voter.uri):
        return False
    db = federation.instance.db
    poll = await PollRepository(db).get(question.id)
    if poll is None or poll.expired or question.actor_id == voter.id:
        return False
    choice = poll.titles.index(str(note["name"]))
    try:
        async with db.transaction() as tx:
            await _count_votes(tx, poll, voter, [choice], [id_of(note.get("id"))])
    except Invalid:
        return False  # a repeated vote, as Mastodon treats it: ignored
    await publish_totals(federation, question)
    return True


async def publish_totals(federation: Federation, question: ObjectRecord) -> None:
    """Store our Question with its new totals and send Update(Question) to its audience."""
    db = federation.instance.db
    poll = await PollRepository(db).get(question.id)
    current = await ObjectRepository(db).get(question.id)
    if poll is None or current is None or current.deleted_at:
        return
    document = json.loads(current.raw)
    for key in ("oneOf", "anyOf", "closed"):
        document.pop(key, None)
    document.update(question_fields(poll))
    # Not an edit: the raw document changes, `edited_at` does not.
    await db.execute("UPDATE objects SET raw = $1 WHERE id = $2", dumps(document), question.id)
    author = await ActorRepository(db).get(question.actor_id)
    if author is None:
        return
    body = {key: value for key, value in document.items() if key != "@context"}
    update = {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": "Update",
        "actor": author.uri,
        "object": body,
        "to": document.get("to", []),
        "cc": document.get("cc", []),
    }
    await federation.publish(update, author)


async def store_remote_question(db: Executor, sender: ActorRecord, document: Any) -> Poll | None:
    """Mirror the poll of a remote Question we store, as its author states it."""
    if not isinstance(document, dict):
        return None
    parsed = parse_object(document)
    record = await ObjectRepository(db).by_uri(parsed.id or "")
    # Only the author's own server states the totals; our own polls are counted here.
    if record is None or record.local or record.actor_id != sender.id or record.deleted_at:
        return None
    poll = poll_from_as(record.id, parsed)
    if poll is None:
        return None
    repository = PollRepository(db)
    previous = await repository.get(record.id)
    if previous is not None and (
        previous.titles != poll.titles or previous.multiple != poll.multiple
    ):
        await repository.reset_votes(record.id)
    await repository.put(poll)
    return poll

"""Home timeline reads: GET /api/v1/timelines/home?limit=40 on a database of a million statuses.

    .venv/bin/python bench/home_timeline.py --engine sqlite
    .venv/bin/python bench/home_timeline.py --engine postgresql --quick

Builds an instance with the real migrations (`init_instance`), bulk-loads N statuses by
remote and local actors (stdlib sqlite3 executemany, or COPY through asyncpg), one member who
follows F actors and whose `timeline` holds what fan-out on write would have put there
(statuses and boosts by the actors it follows, its own posts, posts that mention it), and
everything the Presenter's batch queries read: likes, boosts, replies, mentions, hashtags,
media, polls, bookmarks, mutes and blocks. Post counts per actor are Zipf-distributed (a few
prolific accounts, many quiet ones), as on the real fediverse.

Then a real `python -m fedicoop serve` process answers R sequential requests for the newest
page and R following `Link: rel="next"` (ten pages deep, then a jump to a random point of
the timeline); the same two series run in this process against `timelines.home` and the
Presenter, with every SQL statement timed, to separate database time from HTTP and JSON.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import cProfile
import itertools
import json
import os
import platform
import pstats
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from fedicoop.accounts.service import add_account
from fedicoop.api.entities import Presenter, Viewer
from fedicoop.api.timelines_routes import render_entries
from fedicoop.bootstrap import init_instance
from fedicoop.config import load_config
from fedicoop.instance import Instance, open_instance
from fedicoop.storage.database import Database, open_database
from fedicoop.storage.oauth import OAuthRepository

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_PREFIX = "fedicoop_bench_home_"
PAGE = 40
MAX_ID = 2**63 - 1
TARGET_P99_MS = 30.0
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
DAY_MS = 86_400_000
SPAN_MS = 180 * DAY_MS  # the statuses were written over six months
MEMBER = "member"
ZIPF_OFFSET = 10


@dataclass(frozen=True)
class Shape:
    """How big the database is and how many requests measure it."""

    statuses: int
    follows: int
    requests: int
    seed: int
    home_share: float = 0.10  # statuses written by the actors the member follows
    boost_share: float = 0.15  # boosts per status
    like_share: float = 0.6  # likes per status

    @property
    def remote_actors(self) -> int:
        return max(self.follows * 3, self.statuses // 20)

    @property
    def local_accounts(self) -> int:
        return max(20, min(200, self.statuses // 5000))

    @property
    def domains(self) -> int:
        return max(50, self.remote_actors // 25)


class Progress:
    """Print a line at most every few seconds, so a long load shows it moves."""

    def __init__(self, interval: float = 3.0) -> None:
        self.interval = interval
        self.started = self._last = time.monotonic()

    def tick(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            print(f"  [{now - self.started:6.1f} s] {text}", flush=True)


# The dataset ------------------------------------------------------------------------------

TABLE_COLUMNS: dict[str, list[str]] = {
    table: columns.split()
    for table, columns in {
        "actors": "id uri type domain username local display_name summary url inbox "
        "shared_inbox outbox followers_uri following_uri featured_uri key_id public_key_pem "
        "locked also_known_as raw fetched_at avatar_url fields created_at updated_at",
        "accounts": "id actor_id username password_hash role status locale created_at updated_at",
        "objects": "id uri type actor_id local in_reply_to visibility content summary sensitive "
        "language url audience addressed published edited_at deleted_at raw created_at",
        "timeline": "account_id id object_id reblog_id",
        "mentions": "object_id actor_id",
        "hashtags": "object_id name",
        "media": "id actor_id object_id kind content_type remote_url description width height "
        "position created_at",
        "polls": "object_id options multiple expires_at voters_count updated_at",
        "announces": "id actor_id object_uri uri created_at",
        "likes": "id actor_id object_uri uri created_at",
        "follows": "id follower_id followee_id uri state created_at",
        "blocks": "id actor_id target_id uri created_at",
        "mutes": "account_id target_id created_at",
        "bookmarks": "account_id object_id created_at",
        "pins": "account_id object_id created_at",
    }.items()
}
FAKE_KEY = (  # as long as a real RSA-2048 PEM: actor rows are read whole (SELECT *)
    "-----BEGIN PUBLIC KEY-----\n"
    + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n" * 6
    + "-----END PUBLIC KEY-----\n"
)
WORDS = [
    "".join(random.Random(n).choices("abcdefghijklmnoprstuvwy", k=3 + n % 7)) for n in range(600)
]

TAGS = [f"{word}{n}" for n, word in enumerate(WORDS * 8)]


def stamp(ms: int) -> str:
    """Return a stored time (clock.to_text's format) for a Unix time in milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Actor:
    """What the generator needs to know of an actor."""

    id: int
    uri: str
    username: str
    domain: str
    local: bool


@dataclass
class Plan:
    """The ids of the member and what the measurement needs to know of the dataset."""

    member_account: int
    member_actor: int
    token: str
    base_url: str
    home_ids: array.array[int] = field(default_factory=lambda: array.array("q"))
    counts: Counter[str] = field(default_factory=Counter)
    top_posters: list[int] = field(default_factory=list)


class Dataset:
    """Generates every row, in chunks, in an order that satisfies the foreign keys."""

    def __init__(self, shape: Shape, plan: Plan, chunk: int = 10_000) -> None:
        self.shape = shape
        self.plan = plan
        self.chunk = chunk
        self.rng = random.Random(shape.seed)
        self.now_ms = int(time.time() * 1000) - 60_000
        self._misc_id = ((self.now_ms - 200 * DAY_MS) << 16) + 1
        self.actors: list[Actor] = []
        self.member = Actor(plan.member_actor, f"{plan.base_url}/users/{MEMBER}", MEMBER, "", True)
        self.local_accounts: list[int] = []  # other members' account ids
        self.followed: list[int] = []  # indexes into self.actors
        self.followed_set: set[int] = set()
        self.others: list[int] = []

    def next_id(self) -> int:
        self._misc_id += 1
        return self._misc_id

    def rows(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """Yield (table, rows) chunks: actors first, then statuses, then reactions."""
        yield from self._actors()
        yield from self._follows()
        yield from self._statuses()

    # Actors and follows

    def _actors(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        shape, rng, base = self.shape, self.rng, self.plan.base_url
        domain = base.split("://", 1)[1]
        created = stamp(self.now_ms - 400 * DAY_MS)
        actor_rows: list[tuple[Any, ...]] = []
        account_rows: list[tuple[Any, ...]] = []
        for n in range(shape.local_accounts - 1):
            name = f"neighbour{n:04d}"
            actor = Actor(self.next_id(), f"{base}/users/{name}", name, domain, True)
            self.actors.append(actor)
            actor_rows.append(self._actor_row(actor, created))
            account = self.next_id()
            self.local_accounts.append(account)
            account_rows.append(
                (account, actor.id, name, "!", "member", "active", "en", created, created)
            )
        for n in range(shape.remote_actors):
            host = f"node{rng.randrange(shape.domains)}.example"
            name = f"user{n}"
            actor = Actor(self.next_id(), f"https://{host}/users/{name}", name, host, False)
            self.actors.append(actor)
            actor_rows.append(self._actor_row(actor, created))
        for start in range(0, len(actor_rows), self.chunk):
            yield "actors", actor_rows[start : start + self.chunk]
        yield "accounts", account_rows
        local = list(range(shape.local_accounts - 1))
        remote = list(range(shape.local_accounts - 1, len(self.actors)))
        followed_local = local[: min(len(local), shape.follows // 10)]
        rng.shuffle(remote)
        chosen = followed_local + remote[: shape.follows - len(followed_local)]
        self.followed = chosen
        self.followed_set = set(chosen)
        self.others = [i for i in range(len(self.actors)) if i not in self.followed_set]

    def _actor_row(self, actor: Actor, created: str) -> tuple[Any, ...]:
        uri = actor.uri
        raw = None
        if not actor.local:
            raw = json.dumps(
                {
                    "@context": ["https://www.w3.org/ns/activitystreams"],
                    "id": uri,
                    "type": "Person",
                    "preferredUsername": actor.username,
                    "name": actor.username.title(),
                    "summary": "<p>" + " ".join(self.rng.choices(WORDS, k=25)) + "</p>",
                    "inbox": f"{uri}/inbox",
                    "outbox": f"{uri}/outbox",
                    "followers": f"{uri}/followers",
                    "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": FAKE_KEY},
                }
            )
        return (
            actor.id, uri, "Person", actor.domain, actor.username, int(actor.local),
            actor.username.title(), "<p>" + " ".join(self.rng.choices(WORDS, k=12)) + "</p>",
            f"https://{actor.domain}/@{actor.username}", f"{uri}/inbox",
            f"https://{actor.domain}/inbox", f"{uri}/outbox", f"{uri}/followers",
            f"{uri}/following", f"{uri}/collections/featured", f"{uri}#main-key", FAKE_KEY, 0,
            "[]", raw, created, f"https://{actor.domain}/avatars/{actor.username}.png", "[]",
            created, created,
        )  # fmt: skip

    def _follows(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        rng, actors = self.rng, self.actors
        created = stamp(self.now_ms - 300 * DAY_MS)
        member = self.member.id
        pairs: set[tuple[int, int]] = {(member, actors[i].id) for i in self.followed}
        for account_index in range(len(self.local_accounts)):
            follower = actors[account_index].id
            for i in rng.sample(range(len(actors)), min(len(actors), 250)):
                if actors[i].id != follower:
                    pairs.add((follower, actors[i].id))
        for i in rng.sample(range(len(actors)), min(len(actors), 2000)):
            pairs.add((actors[i].id, member))  # the member's own followers
        rows = [
            (self.next_id(), a, b, f"https://follows.example/{n}", "accepted", created)
            for n, (a, b) in enumerate(sorted(pairs))
        ]
        for start in range(0, len(rows), self.chunk):
            yield "follows", rows[start : start + self.chunk]
        self.plan.counts["follows"] = len(rows)

    # Statuses, boosts and what hangs on them

    def _zipf(self, group: list[int]) -> Iterator[int]:
        """Draw authors from a group forever, the k-th most prolific weighted 1/(k + 10).

        Zipf-Mandelbrot: a few busy accounts (about 1% of the statuses each), a long tail of
        quiet ones. Pure Zipf (1/k) would give the busiest one 8-10% of the whole database.
        """
        order = group[:]
        self.rng.shuffle(order)
        weights = list(
            itertools.accumulate(1.0 / (rank + ZIPF_OFFSET) for rank in range(1, len(order) + 1))
        )
        while True:
            yield from self.rng.choices(order, cum_weights=weights, k=100_000)

    def _statuses(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        shape, rng = self.shape, self.rng
        # Boost events that find nothing to boost are skipped: 1% spare keeps them in the past.
        step = SPAN_MS // int(shape.statuses * (1 + shape.boost_share) * 1.01)
        start_ms = self.now_ms - SPAN_MS
        own_share = max(20, shape.statuses // 5000) / shape.statuses
        followed = self._zipf(self.followed)
        others = self._zipf(self.others)
        ids = array.array("q")
        authors = array.array("l")  # index into self.actors; -1 for the member
        shown = array.array("b")  # 1 when a boost of it is allowed (public/unlisted, alive)
        posted: Counter[int] = Counter()
        boosted: set[tuple[int, int]] = set()
        tables: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        progress = Progress()
        member_index = -1
        for event in itertools.count():
            if len(ids) == shape.statuses:
                break
            ms = start_ms + event * step + rng.randrange(step)
            event_id = (ms << 16) | rng.getrandbits(16)
            draw = rng.random()
            if draw < own_share:
                author = member_index
            elif draw < shape.home_share:
                author = next(followed)
            else:
                author = next(others)
            in_home = author == member_index or author in self.followed_set
            if rng.random() < shape.boost_share / (1 + shape.boost_share) and len(ids) > 0:
                target = rng.randrange(max(0, len(ids) - 50_000), len(ids))
                if not shown[target] or (author, target) in boosted:
                    continue
                boosted.add((author, target))
                self._boost(tables, event_id, ms, author, ids[target], authors[target], in_home)
                continue
            ids.append(event_id)
            authors.append(author)
            posted[author] += 1
            visible = self._status(tables, event_id, ms, author, ids, authors, in_home)
            shown.append(1 if visible else 0)
            if sum(len(rows) for rows in tables.values()) >= self.chunk:
                yield from self._flush(tables)
                progress.tick(f"generated {len(ids):,} of {shape.statuses:,} statuses")
        yield from self._flush(tables)
        self.plan.counts["statuses"] = len(ids)
        self.plan.counts["boosts"] = len(boosted)
        self.plan.top_posters = [count for _, count in posted.most_common(5)]
        yield from self._reactions(ids, authors, shown)

    def _actor(self, index: int) -> Actor:
        return self.member if index == -1 else self.actors[index]

    def _status_uri(self, author: int, object_id: int) -> str:
        actor = self._actor(author)
        if actor.local:
            return f"{self.plan.base_url}/objects/{object_id}"
        return f"{actor.uri}/statuses/{object_id}"

    def _home(self, tables: dict[str, list[tuple[Any, ...]]], row: tuple[Any, ...]) -> None:
        tables["timeline"].append((self.plan.member_account, *row))
        self.plan.home_ids.append(row[0])

    def _elsewhere(self, tables: dict[str, list[tuple[Any, ...]]], row: tuple[Any, ...]) -> None:
        """Put an entry on 0-2 other members' home timelines."""
        for account in self.rng.sample(self.local_accounts, self.rng.choice((0, 1, 1, 2))):
            tables["timeline"].append((account, *row))

    def _boost(
        self,
        tables: dict[str, list[tuple[Any, ...]]],
        boost_id: int,
        ms: int,
        author: int,
        object_id: int,
        object_author: int,
        in_home: bool,
    ) -> None:
        actor = self._actor(author)
        object_uri = self._status_uri(object_author, object_id)
        uri = f"{actor.uri}/statuses/{boost_id}/activity"
        tables["announces"].append((boost_id, actor.id, object_uri, uri, stamp(ms)))
        row = (boost_id, object_id, boost_id)
        if in_home:
            self._home(tables, row)
        self._elsewhere(tables, row)

    def _status(
        self,
        tables: dict[str, list[tuple[Any, ...]]],
        object_id: int,
        ms: int,
        author: int,
        ids: array.array[int],
        authors: array.array[int],
        in_home: bool,
    ) -> bool:
        """Add one status and its mentions, tags, media, poll; return whether it is boostable."""
        rng = self.rng
        actor = self._actor(author)
        uri = self._status_uri(author, object_id)
        draw = rng.random()
        visibility = (
            "public" if draw < 0.70 else "unlisted" if draw < 0.85 else "private"
        ) if draw < 0.99 else "direct"  # fmt: skip
        deleted = stamp(ms + 3_600_000) if rng.random() < 0.005 else None
        mentioned: list[Actor] = []
        in_reply_to = None
        if len(ids) > 1 and rng.random() < 0.25:
            if rng.random() < 0.05:
                in_reply_to = f"https://gone.example/statuses/{rng.getrandbits(40)}"
            else:
                parent = rng.randrange(max(0, len(ids) - 20_001), len(ids) - 1)
                in_reply_to = self._status_uri(authors[parent], ids[parent])
                if authors[parent] != author:
                    mentioned.append(self._actor(authors[parent]))
        if rng.random() < 0.05:
            mentioned.append(self.actors[rng.randrange(len(self.actors))])
        if author != -1 and rng.random() < 0.002:
            mentioned.append(self.member)
        tags = rng.sample(TAGS, rng.choice((1, 1, 2, 3))) if rng.random() < 0.15 else []
        words = rng.choices(WORDS, k=rng.randrange(8, 45))
        links = [
            f'<span class="h-card"><a href="{m.uri}" class="u-url mention">@<span>'
            f"{m.username}</span></a></span>"
            for m in mentioned
        ] + [
            f'<a href="https://{actor.domain or "local"}/tags/{t}" class="mention hashtag" '
            f'rel="tag">#<span>{t}</span></a>'
            for t in tags
        ]
        content = "<p>" + " ".join(links + words) + "</p>"
        summary = "spoilers" if rng.random() < 0.03 else ""
        published = stamp(ms)
        addressed = [PUBLIC, f"{actor.uri}/followers"] if visibility != "direct" else []
        addressed += [m.uri for m in mentioned]
        raw = json.dumps(
            {
                "@context": ["https://www.w3.org/ns/activitystreams"],
                "id": uri,
                "type": "Note",
                "attributedTo": actor.uri,
                "inReplyTo": in_reply_to,
                "content": content,
                "summary": summary or None,
                "published": published[:19] + "Z",
                "to": addressed[:1],
                "cc": addressed[1:],
                "tag": [{"type": "Mention", "href": m.uri} for m in mentioned]
                + [{"type": "Hashtag", "name": f"#{t}"} for t in tags],
            },
            separators=(",", ":"),
        )
        tables["objects"].append(
            (
                object_id, uri, "Note", actor.id, int(actor.local), in_reply_to, visibility,
                content, summary, int(bool(summary)), "en",
                None if actor.local else f"https://{actor.domain}/@{actor.username}/{object_id}",
                None, json.dumps(addressed), published, None, deleted, raw, published,
            )
        )  # fmt: skip
        seen: set[int] = set()
        for m in mentioned:
            if m.id not in seen:
                seen.add(m.id)
                tables["mentions"].append((object_id, m.id))
        for t in sorted(set(tags)):
            tables["hashtags"].append((object_id, t))
        if rng.random() < 0.08:
            for position in range(rng.choice((1, 1, 1, 2, 4))):
                tables["media"].append(
                    (
                        self.next_id(), actor.id, object_id, "image", "image/jpeg",
                        f"https://{actor.domain}/media/{object_id}-{position}.jpg",
                        "a photo", 1200, 800, position, published,
                    )
                )  # fmt: skip
        if rng.random() < 0.003:
            options = [{"title": w, "votes": rng.randrange(50)} for w in rng.sample(WORDS, 3)]
            tables["polls"].append(
                (object_id, json.dumps(options), 0, stamp(ms + DAY_MS), None, published)
            )
        if deleted:
            return False
        row = (object_id, object_id, None)
        if (in_home and visibility != "direct") or self.member.id in seen:
            self._home(tables, row)
        if visibility != "direct":
            self._elsewhere(tables, row)
        return visibility in ("public", "unlisted")

    def _flush(
        self, tables: dict[str, list[tuple[Any, ...]]]
    ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        # Objects first: mentions, hashtags, media, polls and timeline rows point at them.
        for table in ("objects", *sorted(set(tables) - {"objects"})):
            if tables.get(table):
                yield table, tables[table]
                self.plan.counts[table] += len(tables[table])
        tables.clear()

    def _reactions(
        self, ids: array.array[int], authors: array.array[int], shown: array.array[int]
    ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        rng, shape = self.rng, self.shape
        count = len(ids)
        viral = rng.sample(range(count), min(count, max(100, count // 100)))
        viral_weights = list(itertools.accumulate(1.0 / (k + 1) for k in range(len(viral))))
        pairs: set[tuple[int, int]] = set()
        for _ in range(int(count * shape.like_share)):
            if rng.random() < 0.5:
                target = rng.choices(viral, cum_weights=viral_weights)[0]
            else:
                target = rng.randrange(count)
            pairs.add((rng.randrange(len(self.actors)), target))
        in_home = set(self.plan.home_ids)
        home = [i for i in range(count) if shown[i] and ids[i] in in_home]
        member_likes = {(-1, i) for i in rng.sample(home, min(len(home), count // 200))}
        rows: list[tuple[Any, ...]] = []
        for actor_index, target in itertools.chain(sorted(pairs), sorted(member_likes)):
            like_id = self.next_id()
            actor = self._actor(actor_index)
            rows.append(
                (
                    like_id, actor.id, self._status_uri(authors[target], ids[target]),
                    f"{actor.uri}#likes/{like_id}", stamp(ids[target] >> 16),
                )
            )  # fmt: skip
            if len(rows) >= self.chunk:
                yield "likes", rows
                self.plan.counts["likes"] += len(rows)
                rows = []
        yield "likes", rows
        self.plan.counts["likes"] += len(rows)
        yield from self._member_relations(ids, authors)

    def _member_relations(
        self, ids: array.array[int], authors: array.array[int]
    ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """Bookmarks, pins, mutes and blocks: what the viewer-dependent queries look up."""
        rng, account, created = self.rng, self.plan.member_account, stamp(self.now_ms)
        home = list(self.plan.home_ids)
        statuses = set(ids)
        bookmarks = {i for i in rng.sample(home, min(len(home), 500)) if i in statuses}
        yield "bookmarks", [(account, i, created) for i in sorted(bookmarks)]
        own = [ids[i] for i in range(len(ids)) if authors[i] == -1]
        yield "pins", [(account, i, created) for i in own[-3:]]
        muted = rng.sample(self.followed, min(10, len(self.followed)))
        muted += rng.sample(self.others, 10)
        yield "mutes", [(account, self.actors[i].id, created) for i in sorted(set(muted))]
        blocks: set[tuple[int, int]] = set()
        for i in rng.sample(self.others, 40):
            pair = (self.member.id, self.actors[i].id)
            blocks.add(pair if len(blocks) % 2 else pair[::-1])
        while len(blocks) < 2000:
            a, b = rng.sample(range(len(self.actors)), 2)
            blocks.add((self.actors[a].id, self.actors[b].id))
        yield (
            "blocks",
            [
                (self.next_id(), a, b, f"https://blocks.example/{n}", created)
                for n, (a, b) in enumerate(sorted(blocks))
            ],
        )


# Loading ----------------------------------------------------------------------------------


def load_sqlite(path: Path, chunks: Iterable[tuple[str, list[tuple[Any, ...]]]]) -> None:
    """Insert every chunk with executemany, in big transactions, with durability off."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "PRAGMA journal_mode=OFF",
            "PRAGMA synchronous=OFF",
            "PRAGMA cache_size=-1000000",
            "PRAGMA temp_store=MEMORY",
        ):
            connection.execute(pragma)
        connection.execute("BEGIN")
        written = 0
        for table, rows in _counted(chunks):
            columns = TABLE_COLUMNS[table]
            marks = ", ".join("?" * len(columns))
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )
            written += len(rows)
            if written >= 500_000:
                connection.execute("COMMIT")
                connection.execute("BEGIN")
                written = 0
        connection.execute("COMMIT")
        # Back to what the server expects (it sets WAL again when it opens the file anyway).
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


async def load_postgresql(url: str, chunks: Iterable[tuple[str, list[tuple[Any, ...]]]]) -> None:
    """COPY every chunk; foreign-key triggers off during the load (the data is consistent)."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute("SET synchronous_commit = off")
        for table, rows in _counted(chunks):
            await connection.copy_records_to_table(
                table, records=rows, columns=TABLE_COLUMNS[table]
            )
        await connection.execute("SET session_replication_role = DEFAULT")
        print("  VACUUM ANALYZE (what autovacuum does after a bulk load)…", flush=True)
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def _counted(
    chunks: Iterable[tuple[str, list[tuple[Any, ...]]]],
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    progress = Progress()
    loaded: Counter[str] = Counter()
    for table, rows in chunks:
        if rows:
            yield table, rows
            loaded[table] += len(rows)
            if table in ("actors", "follows", "likes"):
                progress.tick(f"loaded {table}: {loaded[table]:,} rows")
    progress.tick("loaded " + ", ".join(f"{t} {n:,}" for t, n in loaded.items()), force=True)


# Measuring --------------------------------------------------------------------------------


def _label(sql: str) -> str:
    return re.sub(r"\$\d+(?:, \$\d+)*", "…", " ".join(sql.split()))[:110]


class TimedDatabase(Database):
    """Delegates to a real database and adds up the time spent in each statement."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.url = inner.url
        self.total = 0.0
        self.spent: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    async def execute(self, sql: str, *args: Any) -> int:
        return await self.inner.execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.inner.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            return await self.inner.fetch(sql, *args)
        finally:
            took = time.perf_counter() - started
            label = _label(sql)
            self.total += took
            self.spent[label] += took
            self.calls[label] += 1

    def transaction(self) -> Any:
        return self.inner.transaction()

    async def close(self) -> None:
        await self.inner.close()


def _at(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of sorted values, in milliseconds."""
    return values[min(len(values) - 1, max(0, round(fraction * len(values)) - 1))] * 1000


@dataclass
class Series:
    """Latencies (seconds) of one series of sequential requests, with their parts."""

    name: str
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    parts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sql: dict[str, tuple[float, int]] = field(default_factory=dict)

    def line(self) -> str:
        values = sorted(self.latencies)
        if not values:
            return f"{self.name}: no requests"
        return (
            f"{self.name:<24} n={len(values):<5} p50 {_at(values, 0.5):6.1f}  "
            f"p90 {_at(values, 0.9):6.1f}  p99 {_at(values, 0.99):6.1f}  "
            f"max {values[-1] * 1000:6.1f} ms  {len(values) / self.elapsed:6.1f} req/s"
        )

    def parts_line(self) -> str:
        return "  ".join(
            f"{name} {_at(sorted(v), 0.5):.1f}/{_at(sorted(v), 0.99):.1f}"
            for name, v in self.parts.items()
        )

    def p99_ms(self) -> float:
        return _at(sorted(self.latencies), 0.99) if self.latencies else float("nan")


class Walk:
    """The pages a series asks for: the newest one, or ten pages deep then a random jump."""

    def __init__(self, home_ids: Sequence[int], *, paging: bool) -> None:
        self.rng = random.Random(7)
        self.home_ids = home_ids
        self.paging = paging
        self.depth = 0

    def next_max_id(self, previous_oldest: int | None) -> int | None:
        if not self.paging:
            return None
        self.depth += 1
        if previous_oldest is not None and self.depth % 10:
            return previous_oldest
        return self.home_ids[self.rng.randrange(len(self.home_ids))]


# One page: ask for what is older than max_id; return the oldest id shown and timed parts.
Fetch = Callable[[int | None], Awaitable[tuple[int | None, dict[str, float]]]]


async def run_series(
    name: str,
    fetch: Fetch,
    walk: Walk,
    requests: int,
    warmup: int,
    seconds: float,
    on_start: Callable[[], None] = lambda: None,
) -> Series:
    """Ask for pages one after another; measure after the warm-up, stop at the time limit."""
    series = Series(name)
    progress = Progress()
    oldest: int | None = None
    for _ in range(warmup):
        oldest, _parts = await fetch(walk.next_max_id(oldest))
    on_start()
    deadline = time.monotonic() + seconds
    begun = time.perf_counter()
    for n in range(requests):
        started = time.perf_counter()
        oldest, parts = await fetch(walk.next_max_id(oldest))
        series.latencies.append(time.perf_counter() - started)
        for part, took in parts.items():
            series.parts[part].append(took)
        progress.tick(f"{name}: {n + 1}/{requests} requests")
        if time.monotonic() > deadline:
            print(f"  {name}: stopped at the {seconds:.0f} s limit after {n + 1} requests")
            break
    series.elapsed = time.perf_counter() - begun
    return series


async def measure_in_process(
    directory: Path, plan: Plan, requests: int, warmup: int, seconds: float, profile: bool
) -> tuple[list[Series], cProfile.Profile | None]:
    """Call timelines.home and render_entries directly, timing SQL, Python and JSON apart."""
    from fedicoop.social import timelines

    instance = await open_instance(directory)
    timed = TimedDatabase(instance.db)
    instance.db = timed
    viewer = Viewer(account_id=plan.member_account, actor_id=plan.member_actor)
    profiler = cProfile.Profile() if profile else None

    async def fetch(max_id: int | None) -> tuple[int | None, dict[str, float]]:
        started = time.perf_counter()
        entries = await timelines.home(
            timed, plan.member_account, max_id=max_id or MAX_ID, since_id=0, min_id=None,
            limit=PAGE,
        )  # fmt: skip
        queried = time.perf_counter()
        sql_before = timed.total
        body = await render_entries(Presenter(instance, viewer), entries)
        rendered = time.perf_counter()
        render_sql = timed.total - sql_before
        json.dumps(body)
        done = time.perf_counter()
        parts = {
            "home SQL": queried - started,
            "render SQL": render_sql,
            "render Python": rendered - queried - render_sql,
            "json.dumps": done - rendered,
        }
        return min((e.id for e in entries), default=None), parts

    results = []
    try:
        for paging in (False, True):
            name = f"in-process {'paging' if paging else 'newest'}"

            def start() -> None:
                timed.spent.clear()
                timed.calls.clear()
                if profiler is not None:
                    profiler.enable()

            walk = Walk(plan.home_ids, paging=paging)
            series = await run_series(name, fetch, walk, requests, warmup, seconds, start)
            if profiler is not None:
                profiler.disable()
            series.sql = {k: (v, timed.calls[k]) for k, v in timed.spent.items()}
            results.append(series)
    finally:
        await instance.close()
    return results, profiler


async def measure_http(
    base: str, plan: Plan, requests: int, warmup: int, seconds: float
) -> list[Series]:
    """GET the home timeline over one keep-alive connection, one request at a time."""
    headers = {"Authorization": f"Bearer {plan.token}"}
    next_link = re.compile(r"max_id=(\d+)[^>]*>; rel=\"next\"")
    async with aiohttp.ClientSession(base_url=base, headers=headers) as session:

        async def fetch(max_id: int | None) -> tuple[int | None, dict[str, float]]:
            params = {"limit": str(PAGE)} | ({"max_id": str(max_id)} if max_id else {})
            async with session.get("/api/v1/timelines/home", params=params) as answer:
                body = await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"home timeline: {answer.status} {body[:300]!r}")
                found = next_link.search(answer.headers.get("Link", ""))
            return (int(found.group(1)) if found else None), {}

        async with session.get("/api/v1/timelines/home", params={"limit": str(PAGE)}) as answer:
            page = json.loads(await answer.read())
        boosts = sum(1 for status in page if status["reblog"])
        print(f"  newest page: {len(page)} statuses ({boosts} boosts)")
        return [
            await run_series(
                f"HTTP {'paging' if paging else 'newest'}",
                fetch,
                Walk(plan.home_ids, paging=paging),
                requests,
                warmup,
                seconds,
            )
            for paging in (False, True)
        ]


# The server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One `python -m fedicoop serve DIR --port P` process."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.log = directory.parent / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = str(self.port)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fedicoop", "serve", str(self.directory), "--port", port],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not answer /health within 60 s")

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# Putting it together ----------------------------------------------------------------------


def load_average() -> str:
    """Return the 1/5/15 min load averages: other work on the machine skews the figures."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


async def machine() -> str:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        postgres = str(await connection.fetchval("SHOW server_version"))
        await connection.close()
    except (OSError, asyncpg.PostgresError, TimeoutError):
        postgres = "unreachable"
    return (
        f"{os.cpu_count()} cores ({cpu}), {ram:.1f} GiB RAM, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {postgres}; load average {load_average()}"
    )


async def create_database() -> str:
    """Create an empty PostgreSQL database with a random name; return its URL."""
    name = f"{DATABASE_PREFIX}{secrets.token_hex(4)}"
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def drop_database(url: str) -> None:
    """Drop a database made by create_database (and nothing else)."""
    name = url.rsplit("/", 1)[1]
    if not name.startswith(DATABASE_PREFIX):
        raise ValueError(f"refusing to drop {name}: not made by this benchmark")
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def prepare(directory: Path, database: str | None) -> tuple[Plan, str, int]:
    """Create the instance with the real migrations, and the member."""
    result = await init_instance(
        directory,
        domain=f"127.0.0.1:{free_port()}",
        name="Home Bench",
        handle="bench",
        database=database,
        dev=True,
    )
    db = await open_database(result.config.database)
    try:
        instance = Instance(config=result.config, db=db)
        await add_account(instance, MEMBER, password=secrets.token_urlsafe(16))
    finally:
        await db.close()
    return await member_plan(directory)


async def member_plan(directory: Path) -> tuple[Plan, str, int]:
    """Return the member's ids, a fresh bearer token and its home timeline ids."""
    config = load_config(directory)
    db = await open_database(config.database)
    try:
        account = await db.fetchrow("SELECT id, actor_id FROM accounts WHERE username = $1", MEMBER)
        assert account is not None, f"no {MEMBER} account in {directory}"
        oauth = OAuthRepository(db)
        app = await oauth.add_app(
            client_id=secrets.token_urlsafe(16), client_secret=secrets.token_urlsafe(32),
            name="home timeline bench", website=None,
            redirect_uris="urn:ietf:wg:oauth:2.0:oob", scopes="read",
        )  # fmt: skip
        token = secrets.token_urlsafe(32)
        await oauth.add_token(token, None, app.id, account["id"], "read")
        rows = await db.fetch(
            "SELECT id FROM timeline WHERE account_id = $1 ORDER BY id", account["id"]
        )
    finally:
        await db.close()
    plan = Plan(int(account["id"]), int(account["actor_id"]), token, config.base_url)
    plan.home_ids.extend(int(row["id"]) for row in rows)
    port = int(config.domain.rsplit(":", 1)[1])
    return plan, config.database, port


async def database_size(url: str) -> str:
    if url.startswith("sqlite:///"):
        size = Path(url[len("sqlite:///") :]).stat().st_size
    else:
        connection = await asyncpg.connect(url)
        try:
            size = await connection.fetchval("SELECT pg_database_size(current_database())")
        finally:
            await connection.close()
    return f"{int(size) / 2**20:,.0f} MiB"


def print_sql(series: Series) -> None:
    count = len(series.latencies)
    total = sum(spent for spent, _ in series.sql.values())
    print(f"\n  SQL of {series.name}: {total / count * 1000:.1f} ms per page")
    for label, (spent, calls) in sorted(series.sql.items(), key=lambda item: -item[1][0])[:8]:
        print(
            f"  {spent / count * 1000:7.2f} ms {spent / total:6.1%} x{calls / count:.0f}  {label}"
        )


def print_profile(profiler: cProfile.Profile) -> None:
    stats: Any = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:25]
    print(f"\ncProfile of the in-process series (own time; {total:.1f} s in all):")
    for (path, line, function), (_, calls, own, cumulative, _) in rows:
        where = f"{Path(path).name}:{line}:{function}" if line else function
        print(f"  {own / total:6.1%} own {cumulative / total:6.1%} cum {calls:>9}  {where}")


async def load(engine: str, shape: Shape, directory: Path, database: str | None) -> str:
    """Create the instance and load the dataset; return the database URL."""
    plan, url, _ = await prepare(directory, database)
    chunks = Dataset(shape, plan).rows()
    started = time.monotonic()
    if engine == "sqlite":
        load_sqlite(Path(url[len("sqlite:///") :]), chunks)
    else:
        await load_postgresql(url, chunks)
    counts = plan.counts
    print(
        f"loaded in {time.monotonic() - started:.0f} s: {counts['statuses']:,} statuses, "
        f"{counts['boosts']:,} boosts, {counts['likes']:,} likes, {counts['timeline']:,} "
        f"timeline rows ({len(plan.home_ids):,} on the member's), {counts['follows']:,} follows; "
        f"busiest posters {plan.top_posters}; database {await database_size(url)}"
    )
    return url


async def measure(args: argparse.Namespace, shape: Shape, directory: Path) -> bool:
    """Measure in this process, then through a server process; return whether p99 is met."""
    plan, _, port = await member_plan(directory)
    warmup = max(10, shape.requests // 40)
    half = shape.requests // 2
    inproc, profiler = await measure_in_process(
        directory, plan, half, warmup, args.series_seconds, args.profile
    )
    server = Server(directory, port)
    server.start()
    try:
        cpu_before = server.cpu_seconds()
        http = await measure_http(
            f"http://127.0.0.1:{port}", plan, half, warmup, args.series_seconds
        )
        server_cpu = server.cpu_seconds() - cpu_before
    finally:
        server.stop()
    served = sum(len(series.latencies) for series in http) + 2 * warmup
    print(f"\nGET /api/v1/timelines/home?limit={PAGE}, sequential, after {warmup} warm-up each:")
    for series in http + inproc:
        print("  " + series.line())
    print(f"  server CPU {server_cpu / served * 1000:.1f} ms per request")
    print("\n  in-process parts, p50/p99 ms:")
    for series in inproc:
        print(f"  {series.name:<24} {series.parts_line()}")
    for series in inproc:
        print_sql(series)
    if profiler is not None:
        print_profile(profiler)
    worst = max(series.p99_ms() for series in http)
    met = worst <= TARGET_P99_MS
    print(f"\ntarget p99 <= {TARGET_P99_MS:.0f} ms over HTTP: {'met' if met else 'MISSED'} "
          f"(worst p99 {worst:.1f} ms)")  # fmt: skip
    return met


async def main(args: argparse.Namespace) -> int:
    shape = Shape(
        statuses=50_000 if args.quick else args.statuses,
        follows=1_000 if args.quick else args.follows,
        requests=200 if args.quick else args.requests,
        seed=args.seed,
    )
    started = time.monotonic()
    print(f"home timeline benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {await machine()}")
    if args.reuse:
        workdir, database = args.reuse.resolve(), None
        print(f"reusing {workdir}")
    else:
        print(
            f"{args.engine}: {shape.statuses:,} statuses, the member follows {shape.follows:,} "
            f"of {shape.remote_actors:,} remote and {shape.local_accounts} local actors; "
            f"{shape.requests} requests per mode, seed {shape.seed}"
        )
        workdir = Path(tempfile.mkdtemp(prefix="fedicoop-bench-home-"))
        database = await create_database() if args.engine == "postgresql" else None
    try:
        if not args.reuse:
            await load(args.engine, shape, workdir / "instance", database)
        met = await measure(args, shape, workdir / "instance")
        print(f"total run {time.monotonic() - started:.0f} s; load average {load_average()}")
        return 0 if met else 1
    finally:
        if args.keep or args.reuse:
            print(f"kept {workdir} (database {database or 'as in its fedicoop.toml'})")
        else:
            if database is not None:
                await drop_database(database)
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--statuses", type=int, default=1_000_000, help="statuses (1000000)")
    parser.add_argument("--follows", type=int, default=10_000, help="actors followed (10000)")
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per mode, half of them paging (2000)"
    )
    parser.add_argument("--quick", action="store_true", help="50k statuses, 1k follows, 200 req")
    parser.add_argument(
        "--series-seconds", type=float, default=75.0, help="time limit of each series (75)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the dataset (1)")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process series")
    parser.add_argument("--keep", action="store_true", help="keep the instance and database")
    parser.add_argument("--reuse", type=Path, metavar="WORKDIR", help="measure a kept instance")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args())))
    except KeyboardInterrupt:
        sys.exit(130)

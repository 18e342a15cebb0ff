"""Outgoing delivery: the retry policy as pure functions, then the Deliverer against a real sink.

The sink is an aiohttp server on 127.0.0.1 that answers what each test scripts and checks every
request's signature twice: with fedicoop's own verifier and with the independent `httpsig`.
Time moves forward by patching `fedicoop.clock.now`, the one clock the queue reads.
"""

import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from httpsig import HeaderVerifier
from pytest_aiohttp import AiohttpServer

from fedicoop import clock
from fedicoop.activitypub.delivery import (
    BASE_DELAY,
    DELIVERY_TRANSITIONS,
    LEASE,
    DeliveryState,
    check_transition,
    host_of,
    outcome_of,
    retry_delay,
)
from fedicoop.activitypub.documents import ACTIVITY_JSON, PUBLIC, dumps
from fedicoop.activitypub.runtime import Federation
from fedicoop.activitypub.signatures import (
    SignatureError,
    check_policy,
    load_private_key,
    load_public_key,
    parse_signature,
    sign_request,
    verify_signature,
)
from fedicoop.bootstrap import init_instance
from fedicoop.errors import Conflict
from fedicoop.instance import open_instance
from fedicoop.services import build_federation
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Database
from tests.activitypub.remote import COOP_NAME
from tests.servers import free_port

# The queue's SQL differs by engine (SKIP LOCKED on PostgreSQL): the Deliverer tests run on both.
pytestmark = pytest.mark.both_engines

# --- the policy, without a network ----------------------------------------------------------


def test_first_retry_waits_about_thirty_seconds() -> None:
    rng = random.Random(7)
    delays = [retry_delay(0, None, rng) for _ in range(200)]
    assert all(0.75 * BASE_DELAY <= delay <= 1.25 * BASE_DELAY for delay in delays)
    assert len(set(delays)) > 1  # jittered, so a host's backlog does not return in lockstep


def test_retry_delay_doubles_per_attempt_within_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(10):
        expected = BASE_DELAY * 2**attempt
        assert 0.75 * expected <= retry_delay(attempt, None, rng) <= 1.25 * expected


def test_retry_delay_is_capped_at_twelve_hours() -> None:
    rng = random.Random(7)
    assert all(retry_delay(attempt, None, rng) == 12 * 3600 for attempt in (12, 16, 40))


def test_retry_delay_is_reproducible_with_a_seed() -> None:
    first, second = random.Random(42), random.Random(42)
    assert [retry_delay(n, None, first) for n in range(8)] == [
        retry_delay(n, None, second) for n in range(8)
    ]


def test_retry_after_from_the_peer_wins() -> None:
    rng = random.Random(7)
    assert retry_delay(0, 120.0, rng) == 120.0
    assert retry_delay(9, 120.0, rng) == 120.0


def test_retry_after_zero_still_waits_a_little() -> None:
    assert retry_delay(0, 0.0, random.Random(7)) == BASE_DELAY / 2


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(status: int) -> None:
    assert outcome_of(status) is DeliveryState.DELIVERED


@pytest.mark.parametrize("status", [400, 403, 404, 405, 410, 413, 415, 422])
def test_other_4xx_fail_permanently(status: int) -> None:
    assert outcome_of(status) is DeliveryState.FAILED


@pytest.mark.parametrize("status", [401, 408, 429])
def test_401_408_429_are_retried(status: int) -> None:
    assert outcome_of(status) is DeliveryState.PENDING


@pytest.mark.parametrize("status", [None, 500, 502, 503, 504])
def test_server_and_network_errors_are_retried(status: int | None) -> None:
    assert outcome_of(status) is DeliveryState.PENDING


def test_pending_may_become_anything() -> None:
    for target in DeliveryState:
        check_transition(DeliveryState.PENDING, target)


@pytest.mark.parametrize("final", [DeliveryState.DELIVERED, DeliveryState.FAILED])
def test_settled_deliveries_never_change(final: DeliveryState) -> None:
    assert DELIVERY_TRANSITIONS[final] == frozenset()
    for target in DeliveryState:
        with pytest.raises(Conflict):
            check_transition(final, target)


def test_host_of_keeps_the_port_and_lowercases() -> None:
    assert host_of("http://Example.ORG:8080/inbox") == "example.org:8080"
    assert host_of("https://example.org/users/a/inbox") == "example.org"


# --- the Deliverer against a real sink ------------------------------------------------------


@dataclass
class Received:
    """One POST the sink got, and whether its signature held."""

    path: str
    headers: dict[str, str]
    body: bytes
    fedicoop_verified: bool
    httpsig_verified: bool


@dataclass
class Sink:
    """A remote inbox server: scripted answers per path, every request recorded and verified."""

    keys: dict[str, str]  # key id → public key PEM
    base_url: str = ""
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def answer(self, path: str, *answers: int | tuple[int, dict[str, str]]) -> str:
        """Answer POSTs to `path` with these statuses in turn (the last one repeats)."""
        self.script[path] = [a if isinstance(a, tuple) else (a, {}) for a in answers]
        return self.base_url + path

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            Received(
                path=request.path,
                headers=dict(request.headers),
                body=body,
                fedicoop_verified=self._fedicoop_verifies(request, body),
                httpsig_verified=self._httpsig_verifies(request),
            )
        )
        answers = self.script.get(request.path) or [(202, {})]
        status, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.Response(status=status, headers=headers, text="")

    def _fedicoop_verifies(self, request: web.Request, body: bytes) -> bool:
        try:
            parsed = parse_signature("POST", request.raw_path, request.headers, body, scheme="http")
            check_policy(
                parsed, method="POST", headers=request.headers, body=body, now=datetime.now(UTC)
            )
        except SignatureError:
            return False
        pem = self.keys.get(parsed.key_id)
        return pem is not None and verify_signature(parsed, load_public_key(pem))

    def _httpsig_verifies(self, request: web.Request) -> bool:
        signature = request.headers.get("Signature", "")
        key_id = signature.split('keyId="', 1)[-1].split('"', 1)[0]
        if key_id not in self.keys:
            return False
        verifier = HeaderVerifier(
            headers=dict(request.headers),
            secret=self.keys[key_id].encode(),
            required_headers=["(request-target)", "host", "date", "digest"],
            method="POST",
            path=request.path_qs,
            sign_header="signature",
        )
        return bool(verifier.verify())


@pytest.fixture
async def federation(tmp_path: Path, database_url: str, db: Database) -> AsyncIterator[Federation]:
    """A dev instance's federation runtime, with no loops running (the tests drain by hand)."""
    directory = tmp_path / "coop"
    await init_instance(
        directory,
        domain=f"127.0.0.1:{free_port()}",
        name=COOP_NAME,
        dev=True,
        database=database_url,
        admin_password="correct horse battery staple",
    )
    instance = await open_instance(directory)
    runtime = build_federation(instance)
    await runtime.instance_actor()
    yield runtime
    await runtime.stop()
    await instance.close()


@pytest.fixture
async def group(federation: Federation) -> ActorRecord:
    return await federation.group_actor()


@pytest.fixture
async def sink(aiohttp_server: AiohttpServer, group: ActorRecord) -> Sink:
    assert group.key_id and group.public_key_pem
    receiver = Sink(keys={group.key_id: group.public_key_pem})
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    server = await aiohttp_server(app)
    receiver.base_url = str(server.make_url("")).rstrip("/")
    return receiver


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Return a function that moves fedicoop's clock forward."""
    offset = timedelta(0)
    real_now = clock.now

    def shifted_now() -> datetime:
        return real_now() + offset

    def forward(span: timedelta) -> None:
        nonlocal offset
        offset += span

    monkeypatch.setattr(clock, "now", shifted_now)
    return forward


async def test_the_sink_rejects_a_tampered_request(
    federation: Federation, group: ActorRecord, sink: Sink
) -> None:
    # The sink's verdicts mean something. A body changed after signing fails fedicoop's check
    # (httpsig checks the signed headers, not the body against its digest); a forged
    # signature fails both.
    inbox = sink.answer("/inbox", 202)
    _, body = announce(federation, group)
    assert group.private_key_pem and group.key_id
    headers = sign_request(
        "POST",
        inbox,
        key_id=group.key_id,
        private_key=load_private_key(group.private_key_pem),
        body=body.encode(),
        content_type=ACTIVITY_JSON,
    )
    async with ClientSession() as session:
        await session.post(inbox, data=body.replace("Announce", "Like"), headers=headers)
        await session.post(inbox, data=body, headers=headers)
    tampered, intact = sink.received
    assert not tampered.fedicoop_verified
    assert intact.fedicoop_verified and intact.httpsig_verified
    headers["Signature"] = headers["Signature"].replace('signature="', 'signature="AAAA')
    async with ClientSession() as session:
        await session.post(inbox, data=body, headers=headers)
    forged = sink.received[-1]
    assert not forged.fedicoop_verified and not forged.httpsig_verified


def announce(federation: Federation, group: ActorRecord) -> tuple[str, str]:
    """Return (id, body) of an activity the Group sends."""
    activity_uri = federation.new_activity_uri()
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": activity_uri,
        "type": "Announce",
        "actor": group.uri,
        "object": "http://remote.test/notes/1",
        "to": [PUBLIC],
    }
    return activity_uri, dumps(activity)


async def delivery_row(federation: Federation, activity_uri: str) -> dict[str, Any]:
    rows = await federation.instance.db.fetch(
        "SELECT * FROM deliveries WHERE activity_uri = $1", activity_uri
    )
    assert len(rows) == 1
    return rows[0]


def seconds_until(moment_text: str, since_text: str) -> float:
    return (clock.from_text(moment_text) - clock.from_text(since_text)).total_seconds()


async def test_202_is_delivered_once_with_a_signature_both_verifiers_accept(
    federation: Federation, group: ActorRecord, sink: Sink
) -> None:
    # Given an activity queued for one remote inbox that answers 202
    inbox = sink.answer("/users/bob/inbox", 202)
    activity_uri, body = announce(federation, group)
    assert await federation.deliverer.enqueue(activity_uri, body, group, [inbox]) == 1
    # When the queue is drained
    assert await federation.deliverer.drain_once() == 1
    # Then the inbox got the exact body, as activity+json, signed so both verifiers agree
    [request] = sink.received
    assert request.body == body.encode()
    assert request.headers["Content-Type"] == ACTIVITY_JSON
    assert request.headers["Host"] == host_of(inbox)
    assert 'keyId="' + (group.key_id or "") + '"' in request.headers["Signature"]
    assert request.fedicoop_verified
    assert request.httpsig_verified
    # And the delivery is settled as delivered, the host as healthy
    row = await delivery_row(federation, activity_uri)
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 1, 202)
    assert row["claimed_until"] is None
    health = await federation.instance.db.fetchrow(
        "SELECT * FROM hosts WHERE host = $1", host_of(inbox)
    )
    assert health is not None and health["last_success_at"] and health["failing_since"] is None
    # And nothing is sent again
    assert await federation.deliverer.drain_once() == 0
    assert len(sink.received) == 1


async def test_500_is_retried_later_then_delivered(
    federation: Federation,
    group: ActorRecord,
    sink: Sink,
    travel: Callable[[timedelta], None],
) -> None:
    # Given an inbox that fails once with 500, then answers 202
    inbox = sink.answer("/inbox", 500, 202)
    activity_uri, body = announce(federation, group)
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox])
    # When the queue is drained
    await federation.deliverer.drain_once()
    # Then the delivery waits about 30 s for its retry, and the host is marked failing
    row = await delivery_row(federation, activity_uri)
    assert (row["state"], row["attempts"], row["last_status"]) == ("pending", 1, 500)
    wait = seconds_until(row["next_attempt_at"], row["updated_at"])
    assert 0.75 * BASE_DELAY - 1 <= wait <= 1.25 * BASE_DELAY + 1
    health = await federation.instance.db.fetchrow(
        "SELECT * FROM hosts WHERE host = $1", host_of(inbox)
    )
    assert health is not None and health["failing_since"] is not None
    # And it is not retried before then
    assert await federation.deliverer.drain_once() == 0
    # When a minute passes and the queue is drained again
    travel(timedelta(minutes=1))
    assert await federation.deliverer.drain_once() == 1
    # Then the same signed body went out twice and the delivery is done
    assert [r.body for r in sink.received] == [body.encode()] * 2
    assert all(r.fedicoop_verified and r.httpsig_verified for r in sink.received)
    row = await delivery_row(federation, activity_uri)
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 2, 202)
    health = await federation.instance.db.fetchrow(
        "SELECT * FROM hosts WHERE host = $1", host_of(inbox)
    )
    assert health is not None and health["failing_since"] is None


async def test_410_fails_permanently(
    federation: Federation,
    group: ActorRecord,
    sink: Sink,
    travel: Callable[[timedelta], None],
) -> None:
    # Given an inbox that is gone
    inbox = sink.answer("/gone/inbox", 410)
    activity_uri, body = announce(federation, group)
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox])
    # When the queue is drained
    await federation.deliverer.drain_once()
    # Then the delivery has failed for good and is never tried again
    row = await delivery_row(federation, activity_uri)
    assert (row["state"], row["attempts"], row["last_status"]) == ("failed", 1, 410)
    travel(timedelta(days=1))
    assert await federation.deliverer.drain_once() == 0
    assert len(sink.received) == 1


async def test_429_retry_after_is_honoured(
    federation: Federation,
    group: ActorRecord,
    sink: Sink,
    travel: Callable[[timedelta], None],
) -> None:
    # Given an inbox that asks us to slow down for 120 s, then accepts
    inbox = sink.answer("/busy/inbox", (429, {"Retry-After": "120"}), 202)
    activity_uri, body = announce(federation, group)
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox])
    # When the queue is drained
    await federation.deliverer.drain_once()
    # Then the next try is scheduled 120 s later, not on the backoff schedule
    row = await delivery_row(federation, activity_uri)
    assert (row["state"], row["last_status"]) == ("pending", 429)
    assert 119 <= seconds_until(row["next_attempt_at"], row["updated_at"]) <= 121
    # And a minute later it is still waiting
    travel(timedelta(seconds=60))
    assert await federation.deliverer.drain_once() == 0
    # And after the 120 s it goes out and is delivered
    travel(timedelta(seconds=61))
    assert await federation.deliverer.drain_once() == 1
    assert (await delivery_row(federation, activity_uri))["state"] == "delivered"


async def test_same_activity_and_inbox_enqueued_twice_is_delivered_once(
    federation: Federation, group: ActorRecord, sink: Sink
) -> None:
    # Given one activity queued twice for the same inbox (e.g. two followers sharing an inbox)
    inbox = sink.answer("/shared/inbox", 202)
    activity_uri, body = announce(federation, group)
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox, inbox])
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox])
    # When the queue is drained, Then the inbox gets it once
    assert await federation.deliverer.drain_once() == 1
    assert len(sink.received) == 1
    assert await federation.instance.db.fetchval("SELECT count(*) FROM deliveries") == 1


async def test_one_activity_to_two_inboxes_is_two_deliveries(
    federation: Federation, group: ActorRecord, sink: Sink
) -> None:
    first, second = sink.answer("/a/inbox", 202), sink.answer("/b/inbox", 202)
    activity_uri, body = announce(federation, group)
    assert await federation.deliverer.enqueue(activity_uri, body, group, [first, second]) == 2
    assert await federation.deliverer.drain_once() == 2
    assert sorted(r.path for r in sink.received) == ["/a/inbox", "/b/inbox"]


async def test_own_inboxes_are_never_queued(federation: Federation, group: ActorRecord) -> None:
    # Given an inbox on this instance (local recipients go through the inbox table instead)
    own = f"{federation.instance.config.base_url}/users/admin/inbox"
    activity_uri, body = announce(federation, group)
    # When it is enqueued, Then nothing is queued
    assert await federation.deliverer.enqueue(activity_uri, body, group, [own]) == 0
    assert await federation.instance.db.fetchval("SELECT count(*) FROM deliveries") == 0


async def test_claimed_but_unsettled_delivery_is_retried_after_its_lease(
    federation: Federation,
    group: ActorRecord,
    sink: Sink,
    travel: Callable[[timedelta], None],
) -> None:
    # Given a worker claimed a delivery and crashed before settling it
    inbox = sink.answer("/inbox", 202)
    activity_uri, body = announce(federation, group)
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox])
    claimed = await federation.deliverer.queue.claim_due(10, LEASE)
    assert [d.activity_uri for d in claimed] == [activity_uri]
    # When another worker drains while the lease holds, Then it leaves the delivery alone
    assert await federation.deliverer.drain_once() == 0
    # When the lease has run out
    travel(LEASE + timedelta(seconds=1))
    # Then the delivery is claimed again and delivered, once
    assert await federation.deliverer.drain_once() == 1
    assert len(sink.received) == 1
    row = await delivery_row(federation, activity_uri)
    assert (row["state"], row["attempts"]) == ("delivered", 1)


async def test_unreachable_inbox_is_retried(federation: Federation, group: ActorRecord) -> None:
    # Given an inbox on a port nobody listens on
    inbox = f"http://127.0.0.1:{free_port()}/inbox"
    activity_uri, body = announce(federation, group)
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox])
    # When the queue is drained
    await federation.deliverer.drain_once()
    # Then the network error is recorded and the delivery waits for a retry
    row = await delivery_row(federation, activity_uri)
    assert row["state"] == "pending" and row["last_status"] is None
    assert "network error" in row["last_error"]


async def test_deliveries_give_up_after_four_days_and_the_host_turns_unavailable(
    federation: Federation,
    group: ActorRecord,
    sink: Sink,
    travel: Callable[[timedelta], None],
) -> None:
    # Given an inbox that always answers 500
    inbox = sink.answer("/down/inbox", 500)
    activity_uri, body = announce(federation, group)
    await federation.deliverer.enqueue(activity_uri, body, group, [inbox])
    await federation.deliverer.drain_once()
    # When it still fails more than four days after the first failure (a peer away for a
    # two-day weekend is still reached: tests/reliability)
    travel(timedelta(days=4, hours=1))
    await federation.deliverer.drain_once()
    # Then the delivery gives up, and the host is marked unavailable
    row = await delivery_row(federation, activity_uri)
    assert row["state"] == "failed"
    assert row["last_error"].startswith("gave up after 2 attempts")
    assert host_of(inbox) in await federation.deliverer.queue.unavailable_hosts()


async def test_delivery_signed_by_an_actor_without_key_fails(
    federation: Federation, sink: Sink
) -> None:
    # Given a (remote) actor with no private key as the signer
    stranger = await ActorRepository(federation.instance.db).insert(
        ActorRecord(uri="http://remote.test/users/x", type="Person", domain="remote.test")
    )
    inbox = sink.answer("/inbox", 202)
    await federation.deliverer.enqueue("http://remote.test/a/1", "{}", stranger, [inbox])
    # When drained, Then nothing is sent and the delivery fails
    await federation.deliverer.drain_once()
    assert sink.received == []
    row = await delivery_row(federation, "http://remote.test/a/1")
    assert (row["state"], row["last_error"]) == ("failed", "signer has no key")
    assert json.loads(row["body"]) == {}

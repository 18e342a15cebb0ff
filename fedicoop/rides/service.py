"""Rides as a service: publish, find and cancel rides, local and from partner co-ops.

`RideService` lives as long as the federation runtime: it owns the match index of open trips
(rebuilt from the database on first use, kept current on every write), the co-op's
geocoder and its cost-sharing rate, and the maintenance loop that expires past trips, completes
trips that happened and extends regular rides over the rolling horizon.
"""

import asyncio
import gc
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fedicoop import clock
from fedicoop.accounts.model import Status
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC
from fedicoop.activitypub.runtime import Federation
from fedicoop.coops.partnership import active_partner_groups
from fedicoop.errors import FedicoopError, Forbidden, Invalid, NotFound
from fedicoop.ids import new_id
from fedicoop.rides import federation as ride_as
from fedicoop.rides.geo import default_max_detour_km, detour_km, distance_km
from fedicoop.rides.geocoder import Geocoder
from fedicoop.rides.geocoder_http import geocoder_for
from fedicoop.rides.matching import DEFAULT_MARGIN_MINUTES, Match, Offer, Request, brute_force
from fedicoop.rides.matching_index import RideIndex
from fedicoop.rides.model import (
    MAX_DETOUR_LIMIT_KM,
    RideDraft,
    RideStatus,
    Role,
    check_transition,
    parse_draft,
)
from fedicoop.rides.model import trip_km as beeline_km  # `trip_km` names a field here
from fedicoop.rides.pricing import check_price
from fedicoop.rides.privacy import public_place, round_detour
from fedicoop.rides.records import ExactRoute, Occurrence, Ride, SavedSearch
from fedicoop.rides.schedule import expand, occurrence_key
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.notifications import NotificationRepository
from fedicoop.storage.rides import RideRepository, SavedSearchRepository
from fedicoop.storage.signals import RIDES
from fedicoop.streaming import user_stream

log = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 60
# Names this process in ride signals, so that it ignores its own.
PROCESS = secrets.token_hex(6)
MAX_RESULTS = 50
MAX_SAVED_SEARCHES = 50  # per member: every new ride is checked against all of them
AVERAGE_SPEED_KMH = 60  # beeline km per hour: when a trip is taken to have arrived


@dataclass(frozen=True)
class SearchQuery:
    """A search for rides: from, to, when, how many seats, and which role is wanted."""

    origin: tuple[float, float]
    destination: tuple[float, float]
    departure: datetime
    seats: int = 1
    role: Role = Role.DRIVER
    margin_minutes: int = DEFAULT_MARGIN_MINUTES
    max_detour_km: float | None = None  # when drivers look for passengers

    def as_json(self) -> dict[str, Any]:
        """Return the query as a saved search stores it."""
        return {
            "origin": f"{self.origin[0]},{self.origin[1]}",
            "destination": f"{self.destination[0]},{self.destination[1]}",
            "departure": self.departure.isoformat(),
            "seats": self.seats,
            "role": self.role.value,
            "margin_minutes": self.margin_minutes,
        }


@dataclass(frozen=True)
class Found:
    """One search result: the ride, the trip that fits, and how well."""

    ride: Ride
    occurrence: Occurrence
    detour_km: float
    time_difference_minutes: float
    score: float


def coop_of(group: ActorRecord) -> str:
    """Return a co-op Group's handle@host."""
    return f"{group.username}@{group.domain}"


def trip_arrival(ride: Ride, occurrence: Occurrence) -> datetime:
    """Return when a trip is taken to have arrived (beeline at an average speed)."""
    return occurrence.departure + timedelta(hours=ride.trip_km / AVERAGE_SPEED_KMH)


class RideService:
    """Publishing, indexing and searching rides for one instance."""

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.instance = federation.instance
        self.db = federation.instance.db
        self.rides = RideRepository(self.db)
        self.index = RideIndex()
        self._loaded = False
        self._refreshing: set[asyncio.Task[None]] = set()
        self._loading = asyncio.Lock()
        config = federation.instance.config
        self.geocoder: Geocoder = geocoder_for(config.geocoder, federation.fetcher)
        try:
            self.rate_per_km = Decimal(config.ride_rate_per_km)
        except InvalidOperation:
            raise Invalid("ride_rate_per_km must be a decimal", field="ride_rate_per_km") from None
        self.currency = config.currency
        # Bookings plug in here (they need this service; this service does not need them).
        self.on_cancelled: list[Callable[[Ride, ActorRecord, str], Awaitable[None]]] = []
        self.on_maintain: list[Callable[[], Awaitable[object]]] = []

    @staticmethod
    def of(federation: Federation) -> "RideService":
        """Return the instance's ride service (registered by `install`)."""
        service = federation.components.get(RideService)
        if not isinstance(service, RideService):
            raise FedicoopError("rides are not installed on this federation runtime")
        return service

    # --- the match index ---------------------------------------------------------------

    async def ready(self) -> RideIndex:
        """Return the index of open driver trips, built from the database on first use."""
        if not self._loaded:
            async with self._loading:
                if not self._loaded:
                    self.index.rebuild(await self._open_offers(clock.now()))
                    self._loaded = True
                    # The index lives as long as the process and holds no cycles: keep the
                    # collector from rescanning its ~million objects on every full pass.
                    gc.freeze()
        return self.index

    async def _open_offers(self, now: datetime) -> list[Offer]:
        """Return what `_offers` makes of every stored ride, read in one light query."""
        rows = await self.rides.open_trips(clock.to_text(now))
        # As in RideIndex.rebuild: ~100k objects without reference cycles, during which the
        # cycle collector would rescan the heap (the live index with it) again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            # Rows were checked when stored: build the offers without checking them again.
            return [
                Offer.trusted(
                    f"{row['id']}:{row['day']}",  # occurrence_key; days are stored ISO text
                    row["coop"],
                    (float(row["origin_lat"]), float(row["origin_lon"])),
                    (float(row["destination_lat"]), float(row["destination_lon"])),
                    clock.from_text(row["departure"]),
                    int(row["margin_minutes"]),
                    int(row["seats_left"]),
                    float(row["max_detour_km"]),
                )
                for row in rows
            ]
        finally:
            if collecting:
                gc.enable()

    def _offers(self, ride: Ride, now: datetime) -> list[Offer]:
        if ride.role is not Role.DRIVER or ride.status not in (RideStatus.OPEN, RideStatus.FULL):
            return []
        return [
            Offer(
                key=occurrence_key(ride.id, o.day),
                coop=ride.coop,
                origin=ride.origin.point,
                destination=ride.destination.point,
                departure=o.departure,
                margin_minutes=ride.margin_minutes,
                seats_left=o.seats_left,
                max_detour_km=ride.max_detour_km,
            )
            for o in ride.occurrences
            if o.status is RideStatus.OPEN and o.seats_left > 0 and o.departure > now
        ]

    async def reindex(self, ride: Ride, *, tell_others: bool = True) -> None:
        """Bring the index in line with a ride as stored now (and other processes' indexes)."""
        if tell_others:
            # Sent when the write commits; heard by web processes and workers alike.
            await self.federation.signals.notify(RIDES, f"{PROCESS}:{ride.id}")
        index = await self.ready()
        keep = {offer.key: offer for offer in self._offers(ride, clock.now())}
        for o in ride.occurrences:
            key = occurrence_key(ride.id, o.day)
            if key in keep:
                index.update(keep[key])
            else:
                index.remove(key)

    # --- creating and cancelling --------------------------------------------------------

    async def town_label(self, lat: float, lon: float) -> str:
        """Return the town a point lies in, the only label others see."""
        try:
            town = await self.geocoder.reverse(lat, lon)
        except FedicoopError as error:
            log.info("reverse geocoding failed", extra={"reason": str(error)})
            town = None
        if town is not None:
            return town.label
        return f"{lat:.2f}, {lon:.2f}"

    async def create(self, author: ActorRecord, data: dict[str, Any]) -> Ride:
        """Validate and publish a member's ride; 422-style Invalid naming the bad field."""
        now = clock.now()
        draft = parse_draft(data, now=now)
        check_price(draft.price, draft.trip_km, self.rate_per_km, rate_currency=self.currency)
        if draft.schedule is None and draft.departure <= now:
            raise Invalid("departure is in the past", field="departure")
        detour_given = data.get("max_detour_km") is not None
        ride = await self._from_draft(author, draft, now, detour_given=detour_given)
        await self.rides.insert(ride)
        await self.reindex(ride)
        await self.publish("Create", ride, author)
        await self.alert_saved_searches(ride)
        return ride

    async def _from_draft(
        self, author: ActorRecord, draft: RideDraft, now: datetime, *, detour_given: bool
    ) -> Ride:
        ride_id = new_id()
        uri = self.instance.urls.ride(ride_id)
        group = await self.federation.group_actor()
        origin = public_place(draft.origin, "")
        destination = public_place(draft.destination, "")
        origin = replace(origin, label=await self.town_label(origin.lat, origin.lon))
        destination = replace(
            destination, label=await self.town_label(destination.lat, destination.lon)
        )
        waypoints = []
        for point in draft.waypoints:
            snapped = public_place(point, "")
            waypoints.append(
                replace(snapped, label=await self.town_label(snapped.lat, snapped.lon))
            )
        # Distances others see come from the published cells: the exact trip length (to the
        # metre) and a quarter of it would pin the exact origin down on the cell's map.
        published_km = beeline_km(origin, destination, tuple(waypoints))
        max_detour_km = draft.max_detour_km
        if not detour_given:
            max_detour_km = round_detour(
                min(default_max_detour_km(published_km), MAX_DETOUR_LIMIT_KM)
            )
        if draft.schedule is not None:
            trips = expand(draft.schedule, horizon_start=now)
            if not trips:
                raise Invalid("the schedule has no trip in the next four weeks", field="schedule")
            occurrences = tuple(
                Occurrence(t.date, t.departure, draft.seats, RideStatus.OPEN) for t in trips
            )
        else:
            occurrences = (
                Occurrence(draft.departure.date(), draft.departure, draft.seats, RideStatus.OPEN),
            )
        stamp = clock.to_text(now)
        return Ride(
            id=ride_id,
            uri=uri,
            url=uri,
            local=True,
            actor_id=author.id or 0,
            coop_uri=group.uri,
            coop=coop_of(group),
            role=draft.role,
            origin=origin,
            destination=destination,
            waypoints=tuple(waypoints),
            exact=ExactRoute(draft.origin, draft.destination, draft.waypoints),
            departure=occurrences[0].departure,
            utc_offset_minutes=ride_as.utc_offset_minutes(draft.departure),
            margin_minutes=draft.margin_minutes,
            seats=draft.seats,
            price=draft.price,
            preferences=draft.preferences,
            max_detour_km=max_detour_km,
            trip_km=published_km,
            schedule=draft.schedule,
            status=RideStatus.OPEN,
            created_at=stamp,
            updated_at=stamp,
            occurrences=occurrences,
        )

    async def get(self, ride_id: int) -> Ride:
        """Return a ride by local id or raise NotFound."""
        ride = await self.rides.get(ride_id)
        if ride is None:
            raise NotFound("no such ride")
        return ride

    async def cancel(self, author: ActorRecord, ride_id: int, reason: str = "") -> Ride:
        """Cancel one of the member's rides: its bookings are cancelled and their riders told."""
        ride = await self.get(ride_id)
        if not ride.local or ride.actor_id != author.id:
            raise Forbidden("only the member who published a ride may cancel it")
        check_transition(ride.status, RideStatus.CANCELLED)
        await self.rides.set_status(ride.id, RideStatus.CANCELLED)
        for hook in self.on_cancelled:
            await hook(ride, author, reason)
        cancelled = await self.get(ride.id)
        await self.reindex(cancelled)
        await self.publish("Delete", cancelled, author)
        return cancelled

    async def seats_changed(self, ride_id: int) -> Ride:
        """Re-read a ride after its seats changed: fix its status, index it, tell partners."""
        ride = await self.get(ride_id)
        if ride.schedule is None and ride.status in (RideStatus.OPEN, RideStatus.FULL):
            status = RideStatus.FULL if ride.occurrences[0].seats_left == 0 else RideStatus.OPEN
            if status is not ride.status:
                await self.rides.set_status(ride.id, status)
        # Seats left changed either way: the document's `updated` says so.
        await self.rides.touch(ride.id)
        ride = await self.get(ride.id)
        await self.reindex(ride)
        if ride.local:
            author = await ActorRepository(self.db).get(ride.actor_id)
            if author is not None:
                await self.publish("Update", ride, author)
        return ride

    # --- federation ---------------------------------------------------------------------

    async def publish(self, kind: str, ride: Ride, author: ActorRecord) -> None:
        """Send a ride's Create/Update/Delete to followers, and have the Group relay it."""
        group = await self.federation.group_actor()
        if kind == "Delete":
            obj: dict[str, Any] = ride_as.tombstone(ride)
        else:
            obj = ride_as.ride_to_as(ride, author, group, language=self.instance.config.language)
            obj.pop("@context", None)
        activity = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": kind,
            "actor": author.uri,
            "object": obj,
            "to": [PUBLIC],
            "cc": [uri for uri in (author.followers_uri, group.uri) if uri],
        }
        await self.federation.publish(activity, author)
        partners = await active_partner_groups(self.federation)
        if not partners:
            return
        # FEP-1b12: the Group announces the member's activity itself; partners check that it
        # comes from the Group's own server and is one of its partners.
        relayed = {k: v for k, v in activity.items() if k != "@context"}
        announce = {
            "@context": OBJECT_CONTEXT,
            "id": self.federation.new_activity_uri(),
            "type": "Announce",
            "actor": group.uri,
            "object": relayed,
            "to": [partner.uri for partner in partners],
            "audience": group.uri,
        }
        await self.federation.publish(announce, group, extra_recipients=partners)

    async def store_remote(
        self, document: dict[str, Any], author: ActorRecord, group: ActorRecord
    ) -> Ride:
        """Store or refresh a partner's ride (the caller checked the relay); index it."""
        # Only what decides is read first: the whole ride only when it is returned unchanged.
        existing = await self.rides.head(str(document.get("id")))
        if existing is not None and existing.local:
            return await self.get(existing.id)
        if existing is not None and existing.actor_id != author.id:
            # Another member of the same server may not rewrite someone else's ride (the
            # Group vouches for its server, ride_from_as only for the sender's own document).
            raise Forbidden("only the member who published a ride may change it")
        if existing is not None and existing.status is RideStatus.CANCELLED:
            # final: an Update delivered after the Delete revives nothing
            return await self.get(existing.id)
        ride = ride_as.ride_from_as(
            document,
            author,
            local_id=existing.id if existing else new_id(),
            coop=coop_of(group),
        )
        ride = replace(ride, coop_uri=group.uri)
        stored = await self.rides.save_remote(ride, new=existing is None)  # as `get` reads it
        await self.reindex(stored)
        if existing is None:
            await self.alert_saved_searches(stored)
        return stored

    async def forget_remote(self, uri: str, author: ActorRecord) -> None:
        """A partner's ride was cancelled: keep it (bookings refer to it), mark it cancelled."""
        ride = await self.rides.by_uri(uri)
        if ride is None or ride.local or ride.actor_id != author.id:
            return
        if ride.status is not RideStatus.CANCELLED:
            await self.rides.set_status(ride.id, RideStatus.CANCELLED)
            for hook in self.on_cancelled:
                await hook(ride, author, "")
        await self.reindex(await self.get(ride.id))

    # --- searching ----------------------------------------------------------------------

    async def search(self, query: SearchQuery, limit: int = MAX_RESULTS) -> list[Found]:
        """Return rides that fit a query, best first, from every co-op this instance hears."""
        if query.role is Role.DRIVER:
            index = await self.ready()
            request = Request(
                query.origin, query.destination, query.departure, query.margin_minutes, query.seats
            )
            matches = index.search(request, limit)
            return await self._found(matches)
        return await self._passengers(query, limit)

    async def _found(self, matches: list[Match]) -> list[Found]:
        keys = [m.offer_key.rpartition(":") for m in matches]
        rides = await self.rides.many(sorted({int(ride_id) for ride_id, _, _ in keys}))
        found = []
        for match, (ride_id, _, day) in zip(matches, keys, strict=True):
            ride = rides.get(int(ride_id))
            occurrence = ride.occurrence(date.fromisoformat(day)) if ride else None
            if ride is None or occurrence is None:
                continue
            found.append(
                Found(
                    ride,
                    occurrence,
                    match.detour_km,
                    match.time_difference_minutes,
                    match.score,
                )
            )
        return found

    async def _passengers(self, query: SearchQuery, limit: int) -> list[Found]:
        """A driver looks for passengers: each request's pickup and drop-off on their way."""
        trip = distance_km(*query.origin, *query.destination)
        limit_km = (
            query.max_detour_km if query.max_detour_km is not None else default_max_detour_km(trip)
        )
        now = clock.now()
        window = timedelta(minutes=query.margin_minutes)
        found = []
        for ride in await self.rides.live(Role.PASSENGER):
            for o in ride.occurrences:
                if o.status is not RideStatus.OPEN or o.departure <= now:
                    continue
                gap = abs(o.departure - query.departure)
                if gap > window + timedelta(minutes=ride.margin_minutes):
                    continue
                if ride.seats > query.seats:
                    continue
                detour = detour_km(
                    query.origin, query.destination, ride.origin.point, ride.destination.point
                )
                if detour > limit_km:
                    continue
                minutes = gap.total_seconds() / 60
                span = query.margin_minutes + ride.margin_minutes or 1
                shown = round_detour(detour)
                score = 1.0 - 0.5 * min(1.0, shown / max(limit_km, 0.5)) - 0.5 * minutes / span
                found.append(Found(ride, o, shown, minutes, score))
        found.sort(key=lambda f: (f.detour_km, f.time_difference_minutes, f.ride.id))
        return found[:limit]

    # --- saved searches -----------------------------------------------------------------

    async def save_search(self, account_id: int, params: dict[str, Any]) -> SavedSearch:
        """Keep a member's search, to hear of new rides that fit it (MAX_SAVED_SEARCHES each)."""
        query = parse_search(params).as_json()
        if not params.get("departure"):
            query.pop("departure")  # any time: alerts for every matching ride
        for key in ("origin_label", "destination_label"):
            label = params.get(key)
            if isinstance(label, str) and label.strip():
                query[key] = label.strip()[:200]  # shown to the member; matching ignores it
        repository = SavedSearchRepository(self.db)
        if len(await repository.for_account(account_id)) >= MAX_SAVED_SEARCHES:
            raise Invalid(f"at most {MAX_SAVED_SEARCHES} saved searches", field="query")
        return await repository.add(account_id, query)

    async def alert_saved_searches(self, ride: Ride) -> None:
        """Tell every member whose saved search this new ride fits (never its own author)."""
        searches = await SavedSearchRepository(self.db).all()
        if not searches:
            return
        offers = self._offers(ride, clock.now()) if ride.role is Role.DRIVER else []
        accounts = AccountRepository(self.db)
        notifications = NotificationRepository(self.db)
        for saved in searches:
            try:
                query = parse_search(saved.query)
            except Invalid:
                continue
            if query.role is not ride.role:
                continue
            # Saved without a departure, a search wants every ride on its way, whenever it
            # leaves: parse_search would otherwise read "now" and match almost nothing.
            any_time = saved.query.get("departure") in (None, "")
            if not self._saved_search_fits(ride, offers, query, any_time=any_time):
                continue
            account = await accounts.get(saved.account_id)
            if account is None or account.status != Status.ACTIVE:
                continue
            if account.actor_id == ride.actor_id:
                continue
            notification_id = await notifications.add(
                account.id, "ride_match", ride.actor_id, ride.uri
            )
            await self.federation.streams.publish(
                user_stream(account.id), "notification", str(notification_id)
            )

    def _saved_search_fits(
        self, ride: Ride, offers: list[Offer], query: SearchQuery, *, any_time: bool
    ) -> bool:
        if ride.role is Role.PASSENGER:
            return self._passenger_fits(ride, query, any_time=any_time)
        for offer in offers:
            request = Request(
                query.origin,
                query.destination,
                offer.departure if any_time else query.departure,
                query.margin_minutes,
                query.seats,
            )
            if brute_force([offer], request, 1):
                return True
        return False

    def _passenger_fits(self, ride: Ride, query: SearchQuery, *, any_time: bool) -> bool:
        trip = distance_km(*query.origin, *query.destination)
        limit_km = default_max_detour_km(trip)
        now = clock.now()
        for o in ride.occurrences:
            if o.status is not RideStatus.OPEN or o.departure <= now:
                continue
            gap = timedelta(0) if any_time else abs(o.departure - query.departure)
            if gap > timedelta(minutes=query.margin_minutes + ride.margin_minutes):
                continue
            detour = detour_km(
                query.origin, query.destination, ride.origin.point, ride.destination.point
            )
            if detour <= limit_km and ride.seats <= query.seats:
                return True
        return False

    # --- time passing -------------------------------------------------------------------

    async def maintain(self) -> None:
        """Expire past trips, extend regular rides over the horizon (run every minute)."""
        now = clock.now()
        expired = await self.rides.expire_past(clock.to_text(now))
        for ride in await self.rides.live(local=True, regular=True):
            if ride.schedule is None:
                continue
            if ride.schedule.end < now.date() and not any(
                o.status in (RideStatus.OPEN, RideStatus.FULL) and o.departure > now
                for o in ride.occurrences
            ):
                # The schedule ran out: the ride is over, not open for ever.
                await self.rides.set_status(ride.id, RideStatus.EXPIRED)
                expired.append(ride.id)
                continue
            trips = expand(ride.schedule, horizon_start=now)
            known = {o.day for o in ride.occurrences}
            new = [
                Occurrence(t.date, t.departure, ride.seats, RideStatus.OPEN)
                for t in trips
                if t.date not in known
            ]
            if new:
                await self.rides.add_occurrences(ride.id, new)
                await self.seats_changed(ride.id)
        for ride_id in expired:
            ride = await self.get(ride_id)
            await self.reindex(ride)
            author = await ActorRepository(self.db).get(ride.actor_id) if ride.local else None
            if author is not None:
                await self.publish("Update", ride, author)  # partners see it expired
        self.prune_index()

    def prune_index(self) -> None:
        """Drop trips that have left from this process's index (every process, every minute)."""
        if self._loaded:
            # Trips that have left go; everything else the writes kept current. A full
            # rebuild here would stall the server for seconds every minute at 100k trips.
            now = clock.now()
            for offer in [o for o in self.index if o.departure <= now]:
                self.index.remove(offer.key)

    async def run_pruning(self) -> None:
        """Prune the index every minute, in a process that does not run `maintain`."""
        while True:
            await asyncio.sleep(MAINTENANCE_SECONDS)
            self.prune_index()

    def heard_ride(self, payload: str) -> None:
        """Another process changed a ride: bring this process's index in line with it."""
        origin, _, ride_id = payload.partition(":")
        if origin == PROCESS or not ride_id.isdigit():
            return
        task = asyncio.create_task(self._refresh(int(ride_id)))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh(self, ride_id: int) -> None:
        try:
            await self.reindex(await self.get(ride_id), tell_others=False)
        except FedicoopError as error:
            log.info("ride change not indexed", extra={"ride": ride_id, "error": str(error)})

    async def run_maintenance(self) -> None:
        """Run `maintain` forever (a failure is logged and retried next round)."""
        while True:
            try:
                await self.maintain()
                for hook in self.on_maintain:
                    await hook()
            except Exception:
                # A background loop that dies stops expiring rides until a restart: log the
                # failure with its traceback and try again next round.
                log.exception("ride maintenance failed")
            await asyncio.sleep(MAINTENANCE_SECONDS)


def _point(value: Any, name: str) -> tuple[float, float]:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be 'lat,lon'", field=name)
    lat_text, _, lon_text = value.partition(",")
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise Invalid(f"{name} must be 'lat,lon'", field=name) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid(f"{name} is off the map", field=name)
    return lat, lon


def _whole(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise Invalid(f"{name} must be a whole number", field=name) from None
    if not low <= number <= high:
        raise Invalid(f"{name} must be between {low} and {high}", field=name)
    return number


def parse_search(params: dict[str, Any], *, now: datetime | None = None) -> SearchQuery:
    """Read search parameters (query string or saved search); Invalid names the bad one."""
    departure_text = params.get("departure")
    if departure_text in (None, ""):
        departure = now or clock.now()
    else:
        try:
            departure = datetime.fromisoformat(str(departure_text).replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("departure must be ISO 8601 with an offset", field="departure") from None
        if departure.tzinfo is None:
            raise Invalid("departure needs a UTC offset", field="departure")
    role_text = str(params.get("role") or "driver")
    if role_text not in ("driver", "passenger"):
        raise Invalid("role must be driver or passenger", field="role")
    detour = params.get("max_detour_km")
    try:
        max_detour = None if detour in (None, "") else float(str(detour))
    except ValueError:
        raise Invalid("max_detour_km must be a number", field="max_detour_km") from None
    if max_detour is not None and not 0.0 <= max_detour <= MAX_DETOUR_LIMIT_KM:  # NaN too
        raise Invalid(f"max_detour_km must be 0–{MAX_DETOUR_LIMIT_KM:g}", field="max_detour_km")
    return SearchQuery(
        origin=_point(params.get("origin"), "origin"),
        destination=_point(params.get("destination"), "destination"),
        departure=departure,
        seats=_whole(params.get("seats"), "seats", 1, 1, 8),
        role=Role(role_text),
        margin_minutes=_whole(
            params.get("margin_minutes"), "margin_minutes", DEFAULT_MARGIN_MINUTES, 0, 240
        ),
        max_detour_km=max_detour,
    )


def install(federation: Federation) -> RideService:
    """Create the ride service for a runtime, load its index at start, run its maintenance."""
    service = RideService(federation)
    federation.components[RideService] = service

    async def load() -> None:
        await service.ready()
        await federation.signals.listen(RIDES, service.heard_ride)

    federation.startup.append(load)
    federation.background.append(("ride-maintenance", service.run_maintenance))
    federation.per_process.append(("ride-index-pruning", service.run_pruning))
    return service

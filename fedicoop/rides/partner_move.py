"""A partner co-op moved domain: the rides of it we hold take their new ids, bookings stay.

When a partner's Group sends a checked `Move` (see `fedicoop.portability.move`), each of its
open rides stored here is read again at its old address, which the old host now redirects to
the new one. The copy is kept under the same row, so riders' bookings on it stay intact, and
takes the new id, the new author (who must name the old one in `alsoKnownAs`) and the new
Group, then is refreshed from the new document like any partner's update.
"""

import logging

from fedicoop.activitypub.as2 import id_of, same_origin
from fedicoop.activitypub.fetch import FetchError
from fedicoop.errors import FedicoopError
from fedicoop.rides.service import RideService
from fedicoop.storage.actors import ActorRecord, ActorRepository

log = logging.getLogger(__name__)


async def rehome_partner_rides(
    service: RideService, old_group: ActorRecord, new_group: ActorRecord
) -> int:
    """Move the moved co-op's live rides we hold to their new ids; return how many moved."""
    federation = service.federation
    moved = 0
    for ride_id, uri, old_author in await service.rides.live_of_partner(old_group.uri):
        try:
            # Fetched, never taken from the Move: only the old host's redirect says where
            # the ride went, and the new document must come from the new Group's server.
            document = (await federation.fetcher.get_activity(uri)).data
            new_uri = str(document.get("id") or "")
            if new_uri == uri or not same_origin(new_uri, new_group.uri):
                continue
            author = await federation.resolver.actor(id_of(document.get("attributedTo")) or "")
            previous = await ActorRepository(service.db).get(old_author)
            if previous is None or previous.uri not in author.also_known_as:
                log.info("moved ride not taken", extra={"ride": uri, "reason": "author"})
                continue
            if not same_origin(author.uri, new_uri):
                log.info("moved ride not taken", extra={"ride": uri, "reason": "author"})
                continue
            await service.rides.rehome(ride_id, new_uri, old_author, author.id, new_group.uri)
            await service.store_remote(document, author, new_group)
            moved += 1
        except (FetchError, FedicoopError) as error:
            log.info("moved ride not refreshed", extra={"ride": uri, "error": str(error)})
    return moved

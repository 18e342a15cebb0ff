"""Composition: one Federation with every domain package's handlers plugged in."""

from fedicoop.activitypub.runtime import Federation
from fedicoop.coops import partnership
from fedicoop.governance import inbound as governance_inbound
from fedicoop.governance import service as governance_service
from fedicoop.instance import Instance
from fedicoop.portability import deletion, move
from fedicoop.rides import bookings as ride_bookings
from fedicoop.rides import inbound as ride_inbound
from fedicoop.rides import service as ride_service
from fedicoop.social import inbound


def build_federation(instance: Instance) -> Federation:
    """Return the federation runtime of an instance with all handlers registered."""
    federation = Federation(instance)
    inbound.register(federation.handlers)
    partnership.register(federation.handlers)
    ride_inbound.register(federation.handlers)
    ride_bookings.install(ride_service.install(federation))
    governance_inbound.register(federation.handlers)
    governance_service.install(federation)
    move.register(federation.handlers)
    deletion.install(federation)
    return federation

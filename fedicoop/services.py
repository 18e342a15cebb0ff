"""Composition: one Federation with every domain package's handlers plugged in."""

from fedicoop.activitypub.runtime import Federation
from fedicoop.coops import partnership
from fedicoop.instance import Instance
from fedicoop.social import inbound


def build_federation(instance: Instance) -> Federation:
    """Return the federation runtime of an instance with all handlers registered."""
    federation = Federation(instance)
    inbound.register(federation.handlers)
    partnership.register(federation.handlers)
    return federation

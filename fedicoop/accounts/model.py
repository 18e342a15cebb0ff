"""Account roles and the membership lifecycle, as data."""

from enum import StrEnum

from fedicoop.errors import Conflict


class Role(StrEnum):
    """What an active account may do in its co-op."""

    MEMBER = "member"
    ADMIN = "admin"


class Status(StrEnum):
    """Where an account stands in the co-op."""

    APPLICANT = "applicant"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"  # the member left for good; data erased after a grace period


# Membership moves only along these edges; anything else is a mistake worth refusing.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.APPLICANT: frozenset({Status.ACTIVE, Status.SUSPENDED, Status.DELETED}),
    Status.ACTIVE: frozenset({Status.SUSPENDED, Status.DELETED}),
    Status.SUSPENDED: frozenset({Status.ACTIVE, Status.DELETED}),
    Status.DELETED: frozenset(),
}


def check_transition(current: Status, target: Status) -> None:
    """Raise Conflict unless an account may go from `current` to `target`."""
    if target not in TRANSITIONS[current]:
        raise Conflict(f"an account that is {current} cannot become {target}")


def standing(role: str, status: str) -> str:
    """Return the one word shown to admins: applicant, member, admin or suspended."""
    if status != Status.ACTIVE:
        return status
    return role if role == Role.ADMIN else "member"

"""Regular rides: a weekly schedule expanded into dated occurrences over a rolling horizon.

Each occurrence is booked on its own, so it has its own key (`occurrence_key`). The local
clock time holds across daylight-saving changes: 08:00 Europe/Paris leaves at 07:00 UTC in
winter and 06:00 UTC in summer; `Schedule.departure_on` says how the rare nonexistent and
ambiguous local times are resolved.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fedicoop.errors import Invalid
from fedicoop.rides.model import Schedule

DEFAULT_HORIZON = timedelta(days=28)
# A local date and the UTC instant of its trip can fall on different calendar days (and a few
# zones move the clock back across midnight), so the date scan is widened by a day each side
# and the instants are filtered exactly.
_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Occurrence:
    """One trip of a regular ride: its local date and its departure in UTC."""

    date: date
    departure: datetime


def _check_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def expand(
    schedule: Schedule, *, horizon_start: datetime, horizon_end: datetime | None = None
) -> list[Occurrence]:
    """Return the trips leaving in [horizon_start, horizon_end) in time order (default 28 days)."""
    _check_aware(horizon_start, "horizon_start")
    end = horizon_start + DEFAULT_HORIZON if horizon_end is None else horizon_end
    _check_aware(end, "horizon_end")
    zone = schedule.zone
    day = max(schedule.start, horizon_start.astimezone(zone).date() - _SLACK)
    last = min(schedule.end, end.astimezone(zone).date() + _SLACK)
    occurrences = []
    while day <= last:
        if schedule.runs_on(day):
            departure = schedule.departure_on(day)
            if horizon_start <= departure < end:
                occurrences.append(Occurrence(day, departure.astimezone(UTC)))
        day += timedelta(days=1)
    return occurrences


def occurrence_key(ride_id: int | str, day: date) -> str:
    """Return the stable id of a regular ride's trip on one local date: '<ride_id>:<date>'."""
    return f"{ride_id}:{day.isoformat()}"


def split_occurrence_key(key: str) -> tuple[str, date]:
    """Return (ride id, local date) from an occurrence key; raise Invalid when malformed."""
    ride_id, _, day = key.rpartition(":")
    try:
        if not ride_id:
            raise ValueError(key)
        return ride_id, date.fromisoformat(day)
    except ValueError:
        raise Invalid("occurrence must be '<ride id>:<YYYY-MM-DD>'", field="occurrence") from None

"""Form fields the pages share: a local date and time, a whole number."""

from datetime import datetime, timedelta, timezone
from typing import Any

from multidict import MultiMapping

from fedicoop.errors import Invalid


def local_time(form: MultiMapping[Any], name: str, *, required: bool) -> datetime | None:
    """Read a `datetime-local` field and the browser's UTC offset (pages.js fills `tz_offset`).

    Without the script the offset stays 0: the time is read as UTC, as the form says.
    """
    text = str(form.get(name, "") or "").strip()
    if not text:
        if required:
            raise Invalid(f"{name} is required", field=name)
        return None
    offset_text = str(form.get("tz_offset", "0") or "0")
    try:
        local = datetime.fromisoformat(text)
        minutes = int(offset_text)
    except ValueError:
        raise Invalid(f"{name} must be a date and a time", field=name) from None
    if local.tzinfo is not None or not -900 <= minutes <= 900:
        raise Invalid(f"{name} must be a date and a time", field=name)
    # getTimezoneOffset() counts minutes *behind* UTC: Paris in winter is -60.
    return local.replace(tzinfo=timezone(-timedelta(minutes=minutes)))


def whole_number(form: MultiMapping[Any], name: str, default: int) -> int:
    """Read a small whole number; Invalid names the field."""
    text = str(form.get(name, "") or "").strip()
    if not text:
        return default
    if not text.isdigit() or len(text) > 4:
        raise Invalid(f"{name} must be a whole number", field=name)
    return int(text)

"""Request parameters from the query string and a JSON, form or multipart body, as one map.

Mastodon clients send the same call every way: `media_ids[]=1&media_ids[]=2` in a form,
`{"media_ids": ["1", "2"]}` in JSON, `poll[options][]=a` in nested form keys.
"""

import json
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from fedicoop.activitypub.as2_values import check_no_lone_surrogates
from fedicoop.errors import Invalid

TRUE = frozenset({"1", "true", "on", "yes", "True"})


class Params:
    """Typed access to request parameters; every error names the field."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def text(self, key: str, default: str | None = None) -> str | None:
        """Return a parameter as text (the first one when repeated)."""
        value = self.values.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or isinstance(value, FileField):
            return default
        return _text(value)

    def integer(
        self, key: str, default: int | None = None, *, lo: int = 0, hi: int = 2**63 - 1
    ) -> int | None:
        """Return a parameter as a number clamped to [lo, hi]."""
        value = self.text(key)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError as error:
            raise Invalid(f"{key} must be a number", field=key) from error
        return max(lo, min(hi, number))

    def boolean(self, key: str, default: bool = False) -> bool:
        """Return a parameter as a boolean (true/1/on/yes)."""
        value = self.values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return _text(value) in TRUE

    def items(self, key: str) -> list[Any]:
        """Return a parameter as a list (`key[]` in forms, an array in JSON)."""
        value = self.values.get(key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def nested(self, key: str) -> "Params":
        """Return the parameters under `key[...]` (or a JSON object)."""
        value = self.values.get(key)
        return Params(value if isinstance(value, dict) else {})

    def file(self, key: str) -> FileField | None:
        """Return an uploaded file."""
        value = self.values.get(key)
        return value if isinstance(value, FileField) else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return f"{value}"


def _put(values: dict[str, Any], key: str, value: Any) -> None:
    """Store a form key, understanding `a[]`, `a[b]` and `a[b][]` nesting."""
    if "[" not in key:
        values[key] = value
        return
    head, _, rest = key.partition("[")
    parts = [head] + [part.rstrip("]") for part in ("[" + rest).split("[")[1:]]
    target: dict[str, Any] = values
    for index, part in enumerate(parts[:-1]):
        following = parts[index + 1]
        if following == "":
            target.setdefault(part, [])
            if isinstance(target[part], list):
                target[part].append(value)
            return
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    last = parts[-1]
    if last == "":
        return
    target[last] = value


async def read_params(request: web.Request) -> Params:
    """Merge query parameters and body parameters (body wins)."""
    values: dict[str, Any] = {}
    for name, text in request.query.items():
        _put(values, name, text)
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.can_read_body:
        content_type = request.content_type
        if content_type == "application/json":
            text = await request.text()
            try:
                body = json.loads(text)
                # Anyone can POST here (/api/v1/apps, /oauth/token): a 5,000-digit integer
                # (ValueError), "[[[[…" (RecursionError) or a lone "\ud800" (fails later at the
                # database) each made a 500 with a logged traceback (tests/security).
                check_no_lone_surrogates(text, body)
            except (ValueError, RecursionError) as error:
                raise Invalid(f"the body is not valid JSON: {error}") from error
            if not isinstance(body, dict):
                raise Invalid("the JSON body must be an object")
            values.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, field in form.items():
                _put(values, name, field)
    return Params(values)

"""The exception family every interface maps to one HTTP status or one CLI line."""


class FedicoopError(Exception):
    """Base of the errors a request or command can end with."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(FedicoopError):
    """The input is malformed or breaks a rule (400/422)."""

    status = 422
    code = "invalid"


class NotAuthorized(FedicoopError):
    """The caller did not prove who they are (401)."""

    status = 401
    code = "not_authorized"


class Forbidden(FedicoopError):
    """The caller is known but may not do this (403)."""

    status = 403
    code = "forbidden"


class NotFound(FedicoopError):
    """The thing asked for does not exist here (404)."""

    status = 404
    code = "not_found"


class Conflict(FedicoopError):
    """The request clashes with the current state (409)."""

    status = 409
    code = "conflict"


class Unavailable(FedicoopError):
    """A dependency (database, peer) is unreachable right now (503)."""

    status = 503
    code = "unavailable"

    def __init__(
        self, message: str, *, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after  # seconds, sent as Retry-After

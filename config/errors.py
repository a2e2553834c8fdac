"""Domain errors: a rule of ../shared/DOMAIN.md said no.

Services raise them; pages turn them into form errors or messages and the API into JSON with
the status below. They always leave the database as it was (they are raised inside the
service's transaction, before anything is written, or roll it back).
"""


class DomainError(Exception):
    status = 409
    code = "conflict"

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self):
        return {"detail": self.message, "code": self.code, **self.details}


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class NotAllowed(DomainError):
    """The user may see the thing but not take this action."""

    status = 403
    code = "forbidden"


class InsufficientBudget(DomainError):
    code = "insufficient_budget"

    def __init__(self, *, needed, remaining, quarter_label):
        shortfall = needed - remaining
        super().__init__(
            f"{quarter_label} has {remaining} points remaining; this needs {needed} "
            f"(short by {shortfall}).",
            needed=needed,
            remaining=remaining,
            shortfall=shortfall,
        )
        self.needed = needed
        self.remaining = remaining
        self.shortfall = shortfall


class QuarterClosed(DomainError):
    code = "quarter_closed"


class NotFound(DomainError):
    """The object does not exist or is not shared with this user: always a 404."""

    status = 404
    code = "not_found"


class StaleOrder(DomainError):
    code = "stale"

    def __init__(self, message="The queue changed since you loaded it; reload and try again."):
        super().__init__(message)

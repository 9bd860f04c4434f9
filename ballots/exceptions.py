"""Domain exceptions of voting; views turn them into form errors with the message and a 4xx status."""

from pb.core.exceptions import DomainError


class NotEligible(DomainError):
    status_code = 403


class AlreadyVoted(DomainError):
    status_code = 409


class BallotInvalid(DomainError):
    status_code = 400


class CodeInvalid(DomainError):
    """Unknown, void or used voting code, or no roll match. Never says which, to not help guessing."""

    status_code = 400


class Throttled(DomainError):
    """Too many failed identification attempts: cool-down. `retry_after` is in seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = retry_after


class RollError(DomainError):
    """The voter roll cannot be changed (bad file, roll frozen because voting opened)."""

    status_code = 400


class ReconciliationError(DomainError):
    """A resolution cannot be proposed or confirmed (nothing to resolve, same official, stale numbers)."""

    status_code = 409


class CountMismatch(DomainError):
    """The ballot log and the ballot table disagree (a changed, missing or extra row)."""

    status_code = 409

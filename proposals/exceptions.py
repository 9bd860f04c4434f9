"""Proposal domain errors: each carries a message for the resident or official (see pb.core.exceptions)."""

from pb.core.exceptions import DomainError, PermissionDenied, PhaseError

__all__ = [
    "DomainError",
    "ImportInvalid",
    "ImportJobConflict",
    "NotAuthor",
    "NotEditable",
    "ProposalInvalid",
    "SupportRefused",
]


class ProposalInvalid(DomainError):
    """Field-level problems; `errors` maps a field name (or "__all__") to a list of messages."""

    status_code = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.errors = errors or {}


class NotAuthor(PermissionDenied):
    pass


class NotEditable(PhaseError):
    pass


class ImportInvalid(DomainError):
    """The import file (or some of its rows) is invalid; `report` lists every row's outcome."""

    status_code = 400

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class ImportJobConflict(DomainError):
    """An import job is not in the state the action needs (not ready, already retried, file gone)."""

    status_code = 409


class SupportRefused(DomainError):
    """A support that cannot be given or taken back (already given, over the limit, another district...)."""

    status_code = 409

"""Domain exceptions; views turn them into form errors or 4xx pages with the message."""


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PermissionDenied(DomainError):
    status_code = 403


class PhaseError(DomainError):
    status_code = 409

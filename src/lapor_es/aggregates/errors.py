"""Domain errors. Each carries a stable `code` that the command interface reports."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidTransition(DomainError):
    """The action is not allowed in the complaint's current state."""

    code = "invalid_transition"

    def __init__(self, state: str, action: str, hint: str = "") -> None:
        message = f"cannot {action} a complaint in state {state}"
        if hint:
            message += f": {hint}"
        super().__init__(message, state=state, action=action)


class NotAuthorized(DomainError):
    """The actor may not perform this action on this complaint."""

    code = "not_authorized"


class RuleViolation(DomainError):
    """A workflow rule other than the state machine refuses the action."""

    code = "rule_violation"


class UnknownAgency(DomainError):
    code = "unknown_agency"

    def __init__(self, agency: str) -> None:
        super().__init__(f"no agency with code {agency!r} in the directory", agency=agency)


class AlreadyRecorded(DomainError):
    """The fact is already in the history; the command changes nothing (idempotent retry)."""

    code = "already_recorded"

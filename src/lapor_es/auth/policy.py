"""Who may send which command, as whom, and see what: the door's rules, pure (no I/O).

The door never takes the actor from a request: `command_with_actor` derives it from the
authenticated caller and refuses a body that names anyone else. What the actor may then do
to a particular complaint (hold it, be its reporter, be in the right state) is the domain's
decision, made again on every command; this table only keeps each role to its own commands,
so that, for example, an agency can never pose as a reporter or a channel verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from uuid import UUID

from lapor_es.aggregates.values import Actor, Role
from lapor_es.auth.principals import Principal, PrincipalRole
from lapor_es.commands import COMMAND_NAMES
from lapor_es.views import Viewer


@dataclass(frozen=True)
class ReporterCaller:
    """A reporter who proved, with the complaint's access code, that it is theirs."""

    tracking_id: str
    reporter_ref: str
    complaint_id: UUID  # the same complaint by id (ids are derived per store)


Caller = Principal | ReporterCaller
REPORTER: Literal["reporter"] = "reporter"


class Refused(Exception):
    """The caller may not send this command, or its body names another actor."""

    def __init__(self, code: Literal["forbidden", "actor_mismatch"], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AgencyScope(Protocol):
    def within(self, code: str, root: str) -> bool:
        """True if `code` is `root` or one of its descendants in the agency directory."""
        ...


DESK_COMMANDS = frozenset(
    {
        "verify",
        "postpone",
        "archive",
        "merge",
        "forward",
        "resolve",
        "reopen",
        "change_visibility",
        "erase_reporter",
        "register_agency",
    }
)

# The commands each kind of caller may send. The domain refines them: `resolve` by a reporter
# can only be a confirmation (mode confirmed_by_reporter; the domain checks the reporter is
# the complaint's own), by the system only an auto-closure after the reply window.
ALLOWED: dict[PrincipalRole | Literal["reporter"], frozenset[str]] = {
    # The desk also files on a citizen's behalf (a letter, a walk-in).
    PrincipalRole.NATIONAL_ADMIN: DESK_COMMANDS | {"file"},
    PrincipalRole.AGENCY_ADMIN: frozenset({"forward", "decline", "start", "respond"}),
    PrincipalRole.CHANNEL: frozenset({"file"}),
    PrincipalRole.SYSTEM: frozenset({"warn_sla", "breach_sla", "escalate", "resolve"}),
    REPORTER: frozenset({"supplement", "reply", "resolve"}),
    PrincipalRole.AUDITOR: frozenset(),
    PrincipalRole.ANALYST: frozenset(),
}
assert all(names <= set(COMMAND_NAMES) for names in ALLOWED.values())


def kind_of(caller: Caller) -> PrincipalRole | Literal["reporter"]:
    return REPORTER if isinstance(caller, ReporterCaller) else caller.role


def may_send(caller: Caller, command: str) -> bool:
    return command in ALLOWED[kind_of(caller)]


def derived_actor(caller: Caller) -> Actor:
    """The actor the engine records for `caller` (an agency admin's own agency)."""
    if isinstance(caller, ReporterCaller):
        return Actor(id=caller.reporter_ref, role=Role.REPORTER)
    match caller.role:
        case PrincipalRole.NATIONAL_ADMIN:
            return Actor(id=caller.name, role=Role.NATIONAL_ADMIN)
        case PrincipalRole.AGENCY_ADMIN:
            return Actor(id=caller.name, role=Role.AGENCY_ADMIN, agency=caller.agency)
        case PrincipalRole.CHANNEL:
            # A citizen files through the channel; the engine replaces this id with the
            # reporter reference it derives from the filed identity.
            return Actor(id=caller.name, role=Role.REPORTER)
        case PrincipalRole.SYSTEM:
            return Actor(id=caller.name, role=Role.SYSTEM)
    raise Refused("forbidden", f"a {caller.role} principal sends no commands")


def command_with_actor(
    caller: Caller, body: Mapping[str, Any], scope: AgencyScope
) -> dict[str, Any]:
    """`body` with the actor derived from `caller`, ready for `commands.parse_command`.

    Refused("forbidden") when the caller's role may not send the command or a reporter names
    another complaint; Refused("actor_mismatch") when the body's own "actor" (optional) or a
    channel's "channel" says someone else. A body that is not a known command passes through
    with the derived actor, for parse_command to refuse with the list of commands."""
    command = body.get("command")
    if not isinstance(command, str) or command not in COMMAND_NAMES:
        return dict(body) | {"actor": _actor_json(derived_actor_or_none(caller))}
    if not may_send(caller, command):
        raise Refused("forbidden", f"a {kind_of(caller)} may not send {command!r}")
    actor = _claimed_actor(caller, body.get("actor"), scope)
    result = dict(body) | {"actor": _actor_json(actor)}
    if isinstance(caller, ReporterCaller):
        _require_own_complaint(caller, body.get("complaint"))
    elif caller.role == PrincipalRole.CHANNEL:
        result["channel"] = _forced_channel(caller, body.get("channel"))
    return result


def derived_actor_or_none(caller: Caller) -> Actor | None:
    try:
        return derived_actor(caller)
    except Refused:
        return None


def _claimed_actor(caller: Caller, claimed: Any, scope: AgencyScope) -> Actor:
    """The derived actor, checked against the one the body names (if it names one).

    Every field the body gives must equal the derived one, except that an agency admin may
    name in "agency" a unit within its own agency, to act as that unit."""
    actor = derived_actor(caller)
    if claimed is None:
        return actor
    if not isinstance(claimed, Mapping) or set(claimed) - {"id", "role", "agency"}:
        raise Refused("actor_mismatch", "actor may hold only id, role and agency")
    if "agency" in claimed and claimed["agency"] != actor.agency:
        actor = _unit_actor(caller, actor, claimed["agency"], scope)
    for field in ("id", "role"):
        if field in claimed and claimed[field] != getattr(actor, field):
            raise Refused(
                "actor_mismatch",
                f"actor.{field} {claimed[field]!r} is not the caller's; the door derives the "
                "actor from the token: leave actor out",
            )
    return actor


def _unit_actor(caller: Caller, actor: Actor, unit: Any, scope: AgencyScope) -> Actor:
    root = actor.agency
    if (
        isinstance(caller, Principal)
        and caller.role == PrincipalRole.AGENCY_ADMIN
        and root is not None
        and isinstance(unit, str)
        and scope.within(unit, root)
    ):
        return Actor(id=actor.id, role=actor.role, agency=unit)
    raise Refused(
        "actor_mismatch",
        f"actor.agency {unit!r} is outside the caller's scope"
        + (f" ({root} and its units)" if root else ""),
    )


def _require_own_complaint(caller: ReporterCaller, named: Any) -> None:
    """A reporter's access code opens its own complaint and no other."""
    if named is None:
        return  # the command's own validation asks for it
    if not isinstance(named, str) or not _same_complaint(named, caller):
        raise Refused(
            "forbidden", f"the access code opens {caller.tracking_id} only, not {named!r}"
        )


def _same_complaint(ref: str, caller: ReporterCaller) -> bool:
    ref = ref.strip()
    if ref.startswith("LAP-"):
        return ref == caller.tracking_id
    try:
        return UUID(ref) == caller.complaint_id
    except ValueError:
        return False


def _forced_channel(caller: Principal, named: Any) -> str:
    assert caller.channel is not None, "a channel principal always has its channel"
    if named is not None and named != caller.channel:
        raise Refused(
            "actor_mismatch", f"this principal files through {caller.channel}, not {named!r}"
        )
    return str(caller.channel)


def _actor_json(actor: Actor | None) -> dict[str, Any] | None:
    if actor is None:
        return None
    fields: dict[str, Any] = {"id": actor.id, "role": str(actor.role)}
    if actor.agency is not None:
        fields["agency"] = actor.agency
    return fields


# ----------------------------------------------------------------------- reading
# Whose eyes a caller reads a complaint with (views.complaint_view applies the masking).
# Auditors read and verify the history, not identities: they get the public view, so a
# confidential complaint is refused to them as to the public (the audit tools, which work on
# the event stream and its hashes, are their instrument). Analysts see statistics only,
# channels and the timer system no complaint views at all: None means 403.
VIEWER: dict[PrincipalRole | Literal["reporter"], str | None] = {
    PrincipalRole.NATIONAL_ADMIN: "national",
    PrincipalRole.AGENCY_ADMIN: "agency",
    REPORTER: "reporter",
    PrincipalRole.AUDITOR: "public",
    PrincipalRole.ANALYST: None,
    PrincipalRole.CHANNEL: None,
    PrincipalRole.SYSTEM: None,
}


def viewer_for(caller: Caller) -> Viewer | None:
    kind = VIEWER[kind_of(caller)]
    if kind is None:
        return None
    if isinstance(caller, ReporterCaller):
        return Viewer(kind, caller.reporter_ref)
    return Viewer(kind, caller.agency if kind == "agency" else None)


# ----------------------------------------------------------------------- scope
class ParentScope:
    """An `AgencyScope` over a code -> parent code map (the agency directory's tree)."""

    def __init__(self, parents: Mapping[str, str | None]) -> None:
        self.parents = dict(parents)

    def within(self, code: str, root: str) -> bool:
        seen: set[str] = set()
        current: str | None = code
        while current is not None and current not in seen:
            if current == root:
                return True
            seen.add(current)
            current = self.parents.get(current)
        return False

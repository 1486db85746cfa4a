"""Every command handler, through the handler table, on the in-memory store: what it does
when it is allowed, and that a refusal stores nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, get_args

import pytest

from lapor_es import commands as c
from lapor_es.aggregates import DomainError
from lapor_es.application import HANDLERS, LaporApp
from tests.conftest import NOW
from tests.support.builders import DESK, SYSTEM, Driver, agency_actor, file_cmd, reporter_actor

START = NOW - timedelta(days=60)


class Story:
    """One complaint driven to a state, one business hour per step."""

    def __init__(self, lapor: LaporApp) -> None:
        self.lapor = lapor
        self.run = Driver(lapor, START)
        filed = self.run(**file_cmd())
        assert filed.tracking_id and filed.reporter_ref
        self.tid, self.ref = filed.tracking_id, filed.reporter_ref

    def version(self) -> int:
        return self.lapor.complaint(self.tid).version

    def postponed(self) -> Story:
        self.run(command="postpone", actor=DESK, complaint=self.tid, reason="need the address")
        return self

    def forwarded(self) -> Story:
        self.run(**verify(self))
        return self

    def in_progress(self) -> Story:
        self.forwarded().run(command="start", actor=agency_actor("KEMENKES"), complaint=self.tid)
        return self

    def responded(self) -> Story:
        self.in_progress().run(**respond(self))
        return self

    def breached(self) -> Story:
        self.forwarded().run(**sla(self, "breach_sla"))
        return self

    def resolved(self) -> Story:
        self.responded().run(**reply(self))
        return self


def verify(s: Story, **overrides: Any) -> dict[str, Any]:
    return {
        "command": "verify",
        "actor": DESK,
        "complaint": s.tid,
        "title": "Air tidak mengalir",
        "category": "Air Bersih",
        "kind": "complaint",
        "visibility": "public",
        "to_agency": "KEMENKES",
    } | overrides


def respond(s: Story, **overrides: Any) -> dict[str, Any]:
    return {
        "command": "respond",
        "actor": agency_actor("KEMENKES"),
        "complaint": s.tid,
        "kind": "final",
        "text": "Pipa sudah diperbaiki petugas",
    } | overrides


def reply(s: Story, **overrides: Any) -> dict[str, Any]:
    return {
        "command": "reply",
        "actor": reporter_actor(s.ref),
        "complaint": s.tid,
        "kind": "confirm",
        "text": "Terima kasih",
    } | overrides


def auto_close(s: Story) -> dict[str, Any]:
    due = s.lapor.complaint(s.tid).due_at
    assert due is not None
    s.run.at = due + timedelta(hours=1)
    return {"command": "resolve", "actor": SYSTEM, "complaint": s.tid, "mode": "auto_closed"}


def sla(s: Story, command: str, **extra: Any) -> dict[str, Any]:
    due = s.lapor.complaint(s.tid).due_at
    assert due is not None
    s.run.at = due + timedelta(hours=1)
    return {
        "command": command,
        "actor": SYSTEM,
        "complaint": s.tid,
        "clock": "follow_up",
        "due_at": due.isoformat(),
    } | extra


Setup = Callable[[Story], Story]
Build = Callable[[Story], dict[str, Any]]

# (name, how far the story goes first, the command, the state it leaves)
ALLOWED: list[tuple[str, Setup, Build, str]] = [
    ("verify", lambda s: s, verify, "FORWARDED"),
    (
        "postpone",
        lambda s: s,
        lambda s: {"command": "postpone", "actor": DESK, "complaint": s.tid, "reason": "why?"},
        "POSTPONED",
    ),
    (
        "supplement",
        Story.postponed,
        lambda s: {
            "command": "supplement",
            "actor": reporter_actor(s.ref),
            "complaint": s.tid,
            "text": "Jalan Merdeka 10",
        },
        "SUBMITTED",
    ),
    (
        "archive",
        lambda s: s,
        lambda s: {"command": "archive", "actor": DESK, "complaint": s.tid, "reason": "spam"},
        "ARCHIVED",
    ),
    (
        "forward",
        Story.forwarded,
        lambda s: {
            "command": "forward",
            "actor": agency_actor("KEMENKES"),
            "complaint": s.tid,
            "to_agency": "KEMENKES.YANKES",
        },
        "FORWARDED",
    ),
    (
        "decline",
        Story.forwarded,
        lambda s: {
            "command": "decline",
            "actor": agency_actor("KEMENKES"),
            "complaint": s.tid,
            "reason": "not our authority",
            "suggested_agency": "KEMENSOS",
        },
        "SUBMITTED",
    ),
    (
        "start",
        Story.forwarded,
        lambda s: {"command": "start", "actor": agency_actor("KEMENKES"), "complaint": s.tid},
        "IN_PROGRESS",
    ),
    ("respond", Story.in_progress, respond, "RESPONDED"),
    ("reply", Story.responded, reply, "RESOLVED"),
    ("resolve", Story.responded, lambda s: auto_close(s), "RESOLVED"),
    (
        "reopen",
        Story.resolved,
        lambda s: {"command": "reopen", "actor": DESK, "complaint": s.tid, "reason": "not fixed"},
        "IN_PROGRESS",
    ),
    (
        "change_visibility",
        lambda s: s,
        lambda s: {
            "command": "change_visibility",
            "actor": DESK,
            "complaint": s.tid,
            "visibility": "confidential",
            "reason": "names a minor",
        },
        "SUBMITTED",
    ),
    ("warn_sla", Story.forwarded, lambda s: sla(s, "warn_sla"), "FORWARDED"),
    ("breach_sla", Story.forwarded, lambda s: sla(s, "breach_sla"), "FORWARDED"),
    ("escalate", Story.breached, lambda s: sla(s, "escalate", level="parent"), "FORWARDED"),
]

# (name, how far the story goes first, a command that must be refused, its error code)
REFUSED: list[tuple[str, Setup, Build, str]] = [
    ("verify by an agency", lambda s: s, lambda s: verify(s, actor=agency_actor("KEMENKES")), ""),
    ("verify to an unknown agency", lambda s: s, lambda s: verify(s, to_agency="NOPE"), ""),
    (
        "postpone a forwarded complaint",
        Story.forwarded,
        lambda s: {"command": "postpone", "actor": DESK, "complaint": s.tid, "reason": "why?"},
        "",
    ),
    (
        "supplement what is not postponed",
        lambda s: s,
        lambda s: {
            "command": "supplement",
            "actor": reporter_actor(s.ref),
            "complaint": s.tid,
            "text": "more",
        },
        "",
    ),
    (
        "archive by an agency",
        lambda s: s,
        lambda s: {
            "command": "archive",
            "actor": agency_actor("KEMENKES"),
            "complaint": s.tid,
            "reason": "spam",
        },
        "",
    ),
    (
        "forward to another ministry's unit",
        Story.forwarded,
        lambda s: {
            "command": "forward",
            "actor": agency_actor("KEMENKES"),
            "complaint": s.tid,
            "to_agency": "KEMENSOS.LINJAMSOS",
        },
        "",
    ),
    (
        "decline by an agency that does not hold it",
        Story.forwarded,
        lambda s: {
            "command": "decline",
            "actor": agency_actor("KEMENSOS"),
            "complaint": s.tid,
            "reason": "not ours",
        },
        "",
    ),
    (
        "start by the desk",
        Story.forwarded,
        lambda s: {"command": "start", "actor": DESK, "complaint": s.tid},
        "",
    ),
    (
        "respond by another agency",
        Story.in_progress,
        lambda s: respond(s, actor=agency_actor("KEMENSOS")),
        "",
    ),
    (
        "reply by another reporter",
        Story.responded,
        lambda s: reply(s, actor=reporter_actor("rep-" + "0" * 32)),
        "",
    ),
    (
        "auto-close before any response",
        Story.forwarded,
        lambda s: {
            "command": "resolve",
            "actor": SYSTEM,
            "complaint": s.tid,
            "mode": "auto_closed",
        },
        "",
    ),
    (
        "reopen what is not resolved",
        Story.forwarded,
        lambda s: {"command": "reopen", "actor": DESK, "complaint": s.tid, "reason": "again"},
        "",
    ),
    (
        "change visibility by an agency",
        Story.forwarded,
        lambda s: {
            "command": "change_visibility",
            "actor": agency_actor("KEMENKES"),
            "complaint": s.tid,
            "visibility": "confidential",
            "reason": "names a minor",
        },
        "",
    ),
    ("warn by the desk", Story.forwarded, lambda s: sla(s, "warn_sla") | {"actor": DESK}, ""),
    ("breach by the desk", Story.forwarded, lambda s: sla(s, "breach_sla") | {"actor": DESK}, ""),
    (
        "escalate by the desk",
        Story.forwarded,
        lambda s: sla(s.breached(), "escalate", level="parent") | {"actor": DESK},
        "",
    ),
    (
        "merge into itself",
        lambda s: s,
        lambda s: {"command": "merge", "actor": DESK, "complaint": s.tid, "into": s.tid},
        "",
    ),
    (
        "a complaint that does not exist",
        lambda s: s,
        lambda s: verify(s, complaint="LAP-2026-0999999"),
        "not_found",
    ),
    (
        "a stale expected version",
        lambda s: s,
        lambda s: verify(s, expected_version=7),
        "conflict",
    ),
]


def test_the_table_has_a_handler_for_every_command() -> None:
    (union, *_) = get_args(c.Command)
    assert set(HANDLERS) == set(get_args(union))


@pytest.mark.parametrize(
    ("setup", "build", "state"), [a[1:] for a in ALLOWED], ids=[a[0] for a in ALLOWED]
)
def test_an_allowed_command_is_decided_and_stored(
    lapor: LaporApp, setup: Setup, build: Build, state: str
) -> None:
    story = setup(Story(lapor))
    before = story.version()
    outcome = story.run(**build(story))
    assert outcome.state == state
    assert before < (outcome.version or 0) == story.version()
    assert lapor.complaint(story.tid).state == state


@pytest.mark.parametrize(
    ("setup", "build", "code"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_a_refused_command_stores_nothing(
    lapor: LaporApp, setup: Setup, build: Build, code: str
) -> None:
    story = setup(Story(lapor))
    head, version = lapor.recorder.max_notification_id(), story.version()
    with pytest.raises(DomainError) as refused:
        story.run(**build(story))
    if code:
        assert refused.value.code == code
    assert lapor.recorder.max_notification_id() == head
    assert story.version() == version

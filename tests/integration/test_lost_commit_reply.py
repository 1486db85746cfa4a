"""A save whose COMMIT went through but whose reply was lost (the connection cut by a database
restart, as the fault soak does): the writer's retry is answered, and the process goes on
saving. Found by the soak (docs/reliability.md): the new reporter's key, still staged after
the failed save, rode along with every later save of the thread and failed it on the key's
primary key, so each command ended "too busy" until the process was restarted."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from lapor_es.aggregates import Complaint
from lapor_es.application import LaporApp
from lapor_es.commands import parse_command
from tests.support.builders import DESK, file_cmd, small_directory

pytestmark = pytest.mark.integration


@pytest.fixture
def lost_reply(lapor: LaporApp, monkeypatch: pytest.MonkeyPatch) -> LaporApp:
    """`lapor`, whose next filing commits and then raises, as psycopg does when the
    connection is cut after COMMIT was sent: the client cannot know it was stored."""
    small_directory(lapor)
    real_save = lapor.save
    lost: list[bool] = []

    def save_then_lose_the_reply(*objs: Any, **kwargs: Any) -> Any:
        recordings = real_save(*objs, **kwargs)  # committed
        if not lost and any(isinstance(o, Complaint) for o in objs):  # the filing's save
            lost.append(True)
            raise OperationalError("server closed the connection unexpectedly")
        return recordings

    monkeypatch.setattr(lapor, "save", save_then_lose_the_reply)
    return lapor


FILING = file_cmd(idempotency_key="lost-reply-0001")


def test_the_retry_is_answered_and_the_complaint_saves_again(lost_reply: LaporApp) -> None:
    with pytest.raises(OperationalError):
        lost_reply.handle(parse_command(FILING))
    retried = lost_reply.handle(parse_command(FILING))  # the client retries with its key
    assert retried.duplicate and retried.tracking_id
    verified = lost_reply.handle(
        parse_command(
            {
                "command": "verify",
                "actor": DESK,
                "complaint": retried.tracking_id,
                "title": "Air PDAM",
                "category": "Air Bersih",
                "kind": "complaint",
                "visibility": "public",
                "visibility_reason": "Pelapor setuju laporannya dipublikasikan",
                "to_agency": "KEMENKES",
            }
        )
    )
    assert verified.version == lost_reply.complaint(retried.tracking_id).version > 1


def test_the_next_filing_gets_a_number_of_its_own(lost_reply: LaporApp) -> None:
    with pytest.raises(OperationalError):
        lost_reply.handle(parse_command(FILING))
    other = file_cmd(title="Lampu jalan", reporter={"name": "Budi", "phone": "081311112222"})
    second = lost_reply.handle(parse_command(other))
    assert second.duplicate is False

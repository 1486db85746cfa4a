"""The engine on a real store: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from contextlib import closing
from datetime import timedelta

import pytest
import structlog
from structlog.testing import capture_logs

from lapor_es.aggregates import ArchiveReason, ComplaintState
from lapor_es.application import Conflict, LaporApp
from lapor_es.audit import store as store_pass
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.views import Viewer, complaint_view
from tests.conftest import NOW
from tests.support.builders import (
    DESK,
    SYSTEM,
    Driver,
    agency_actor,
    file_cmd,
    reporter_actor,
    small_directory,
)

pytestmark = pytest.mark.integration


def test_full_lifecycle_is_stored_and_reloads(lapor: LaporApp, settings: Settings) -> None:
    small_directory(lapor)
    run = Driver(lapor, NOW - timedelta(days=40))
    filed = run(**file_cmd())
    tid, ref = filed.tracking_id, filed.reporter_ref
    assert tid is not None and tid.startswith("LAP-2026-") and ref is not None
    run(
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Air tidak mengalir",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        to_agency="KEMENKES",
    )
    run(
        command="forward",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        to_agency="KEMENKES.YANKES",
    )
    run(
        command="respond",
        actor=agency_actor("KEMENKES.YANKES"),
        complaint=tid,
        kind="final",
        text="Pipa sudah diperbaiki petugas",
    )
    run(
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="dispute",
        text="Masih belum mengalir",
    )
    run(
        command="respond",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        kind="final",
        text="Sudah dicek ulang dan mengalir",
    )
    due = lapor.complaint(tid).due_at
    assert due is not None
    run.at = due
    done = run(command="resolve", actor=SYSTEM, complaint=tid, mode="auto_closed")
    assert done.state == "RESOLVED" and done.version == 8

    # A second application on the same database sees exactly the same complaint.
    other = open_app(settings)
    try:
        again = other.complaint(tid)
        assert again.state == ComplaintState.RESOLVED
        assert again.holder_chain == ["KEMENKES", "KEMENKES.YANKES"]
        assert again.forwarding_path == ["KEMENKES", "KEMENKES.YANKES"]
        assert again.resolution_mode == "auto_closed"
        assert [type(e).__name__ for e in other.history(again.id)] == [
            "Filed",
            "Verified",
            "Forwarded",
            "Forwarded",
            "Responded",
            "ReporterReplied",
            "Responded",
            "Resolved",
        ]
    finally:
        other.close()


def test_optimistic_concurrency_between_two_apps(lapor: LaporApp, settings: Settings) -> None:
    small_directory(lapor)
    tid = lapor.handle(parse_command(file_cmd())).tracking_id
    assert tid
    other = open_app(settings)
    try:
        # Both load version 1; the second writer's stale decision must not be stored.
        mine = lapor.complaint(tid)
        theirs = other.complaint(tid)
        mine.postpone(
            lapor._actor(parse_command({**file_cmd(), "actor": DESK})),
            NOW,
            reason="need detail",
            remaining_days=2,
        )
        lapor.save(mine)
        theirs.archive(
            other._actor(parse_command({**file_cmd(), "actor": DESK})),
            NOW,
            reason=ArchiveReason.SPAM,
            note="",
        )
        from eventsourcing.persistence import IntegrityError

        with pytest.raises(IntegrityError):
            other.save(theirs)
        # Through the command interface the loser decides again on fresh state: archiving
        # a postponed complaint is allowed, and it lands at version 3.
        out = other.handle(
            parse_command({"command": "archive", "actor": DESK, "complaint": tid, "reason": "spam"})
        )
        assert out.version == 3 and out.state == "ARCHIVED"
    finally:
        other.close()


def test_expected_version_mismatch_is_a_conflict(lapor: LaporApp) -> None:
    small_directory(lapor)
    tid = lapor.handle(parse_command(file_cmd())).tracking_id
    with pytest.raises(Conflict) as info:
        lapor.handle(
            parse_command(
                {
                    "command": "postpone",
                    "actor": DESK,
                    "complaint": tid,
                    "reason": "need detail",
                    "expected_version": 3,
                }
            )
        )
    assert info.value.details == {"current_version": 1, "expected_version": 3}
    assert lapor.complaint(str(tid)).version == 1


def test_concurrent_retries_of_one_filing_create_one_complaint(settings: Settings) -> None:
    apps = [open_app(settings) for _ in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def submit(app: LaporApp) -> None:
        try:
            barrier.wait()
            out = app.handle(parse_command(file_cmd(idempotency_key="retry-key-0001")))
            results.append(str(out.complaint_id))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(apps[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert len(results) == 8 and len(set(results)) == 1
    finally:
        for app in apps:
            app.close()
    # One complaint; the numbers the losers took were given back and released unused.
    with closing(open_app(settings)) as auditor:
        stored = store_pass.scan(auditor.recorder, auditor.mapper, gaps_are_findings=False)
        winner = auditor.complaint(results[0])
    filed = [n + 1 for n, position in enumerate(stored.filed[2026]) if position >= 0]
    assert [f"LAP-2026-{n:07d}" for n in filed] == [winner.tracking_id]
    assert [f for f in stored.all_findings if f.kind == "tracking_gap"] == []


def test_concurrent_filings_get_unique_tracking_ids_every_one_accounted_for(
    settings: Settings,
) -> None:
    """Three writers issue from their own blocks (lapor_es.tracking): no number twice, and
    once they have closed, the store accounts for every number: filed, or released unused."""
    apps = [open_app(settings) for _ in range(3)]
    tracking: list[str] = []
    lock = threading.Lock()

    def submit(app: LaporApp, n: int) -> None:
        for i in range(5):
            out = app.handle(
                parse_command(
                    file_cmd(reporter={"name": f"Warga {n}", "phone": f"0812000{n:02d}{i:03d}"})
                )
            )
            with lock:
                tracking.append(str(out.tracking_id))

    threads = [threading.Thread(target=submit, args=(apps[n % 3], n)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for app in apps:
        app.close()
    assert len(set(tracking)) == 30
    with closing(open_app(settings)) as auditor:
        stored = store_pass.scan(auditor.recorder, auditor.mapper, gaps_are_findings=False)
    assert [f for f in stored.all_findings if f.kind == "tracking_gap"] == []
    filed = {int(t.rsplit("-", 1)[1]) for t in tracking}
    explained = {
        n for e in stored.explained_numbers for n in range(e.first, e.last + 1) if e.year == 2026
    }
    # Every number of the writers' blocks is filed or explained, none both. Three blocks of
    # `size` at least: a writer that lost a reservation race reserves larger ones (tracking.py).
    accounted = filed | explained
    assert accounted == set(range(1, max(accounted) + 1)) and not filed & explained
    assert max(accounted) >= 3 * settings.tracking_block_size
    assert {e.reason for e in stored.explained_numbers} == {"released unused by its writer"}


def test_long_histories_are_snapshotted_and_reload_identically(
    lapor: LaporApp, settings: Settings
) -> None:
    small_directory(lapor)
    run = Driver(lapor, NOW - timedelta(days=30))
    tid = run(**file_cmd()).tracking_id
    for i in range(60):
        run(
            command="change_visibility",
            actor=DESK,
            complaint=tid,
            visibility="anonymous" if i % 2 == 0 else "public",
            reason="requested by reporter",
        )
    live = lapor.complaint(str(tid))
    assert live.version == 61
    snapshots = list(lapor.snapshots.get(live.id)) if lapor.snapshots else []
    assert snapshots, "a complaint with 61 events must have been snapshotted"
    fresh = open_app(settings)
    try:
        reloaded = fresh.complaint(str(tid))
        assert reloaded.version == 61 and reloaded.visibility == "public"
        assert {k: v for k, v in vars(reloaded).items() if k != "_pending_events"} == {
            k: v for k, v in vars(live).items() if k != "_pending_events"
        }
    finally:
        fresh.close()


def test_erasing_a_reporter_shreds_identity_but_keeps_history(lapor: LaporApp) -> None:
    small_directory(lapor)
    run = Driver(lapor, NOW - timedelta(days=10))
    first = run(**file_cmd())
    second = run(**file_cmd(title="Lampu jalan padam", idempotency_key="second-filing"))
    assert first.reporter_ref == second.reporter_ref  # same citizen, recognised by NIK
    run(
        command="verify",
        actor=DESK,
        complaint=first.tracking_id,
        title="Air",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        to_agency="KEMENKES",
    )
    before = complaint_view(lapor, lapor.complaint(str(first.tracking_id)), Viewer("national"))
    assert before["reporter"]["phone"] == "081298765432"

    out = run(
        command="erase_reporter",
        actor=DESK,
        reporter_ref=first.reporter_ref,
        reason="UU PDP erasure request",
    )
    assert out.affected == 2

    for tid in (first.tracking_id, second.tracking_id):
        complaint = lapor.complaint(str(tid))
        assert complaint.identity_erased
        assert lapor.identity(complaint) is None
        view = complaint_view(lapor, complaint, Viewer("national"))
        assert view["reporter"] == {"name": "[erased]", "erased": True}
        assert view["history"][-1]["event"] == "ReporterErased"
    # Even the raw token can no longer be opened: the key is gone.
    raw = lapor.complaint(str(first.tracking_id))
    assert lapor.vault.open(raw.reporter_ref, raw.sealed_identity) is None
    # The workflow carries on after erasure.
    run(
        command="respond",
        actor=agency_actor("KEMENKES"),
        complaint=first.tracking_id,
        kind="final",
        text="Selesai ditangani oleh petugas",
    )


def test_commands_log_complaint_and_tracking_ids(lapor: LaporApp) -> None:
    small_directory(lapor)
    # The same contextvars merge the production pipeline uses.
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        out = lapor.handle(parse_command(file_cmd()))
        lapor.handle(
            parse_command(
                {
                    "command": "postpone",
                    "actor": DESK,
                    "complaint": out.tracking_id,
                    "reason": "detail",
                }
            )
        )
    filed = next(e for e in logs if e["event"] == "complaint.filed")
    postponed = next(e for e in logs if e["event"] == "complaint.postpone")
    assert filed["tracking_id"] == out.tracking_id
    assert postponed["tracking_id"] == out.tracking_id
    assert postponed["complaint_id"] == out.complaint_id
    assert postponed["state"] == "POSTPONED"
    assert "081298765432" not in repr(logs)

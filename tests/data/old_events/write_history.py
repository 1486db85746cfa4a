"""Write tests/data/old_events/release_n1.json with a PREVIOUS release of lapor-es.

Not a test and not run by one: the fixture must keep what the old release wrote, however
the code changes. To write it again, run this file with that release on the path:

    git worktree add /tmp/lapor-n1 92b4457
    cd /tmp/lapor-n1 && PYTHONPATH=src:. python <this repo>/tests/data/old_events/write_history.py
    git worktree remove /tmp/lapor-n1

92b4457 is the last commit of the release of issue 9, before issue 10's changes to the
events: there every complaint event is at class_version 1, without `private_salt` (its
hash covers no private digest), Forwarded without `work_continues`, Verified without
`chosen_agency` and `override_reason`; directory events are not hash-chained; reporter
keys are stored unwrapped.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

import lapor_es
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.privacy import reporter_keys
from tests.support.builders import (
    DESK,
    Driver,
    agency_actor,
    file_cmd,
    reporter_actor,
    small_directory,
)

OUT = Path(__file__).with_name("release_n1.json")
PEPPER = "test-pepper"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def history(run: Driver) -> str:
    out = run(**file_cmd(title="Puskesmas tutup di jam layanan"))
    tid, ref = str(out.tracking_id), str(out.reporter_ref)
    run(
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Puskesmas tutup di jam layanan",
        category="Kesehatan",
        kind="complaint",
        visibility="public",
        to_agency="KEMENKES",
    )
    ministry, unit = agency_actor("KEMENKES"), agency_actor("KEMENKES.YANKES")
    run(command="start", actor=ministry, complaint=tid)
    run(command="forward", actor=ministry, complaint=tid, to_agency="KEMENKES.YANKES")
    run(
        command="respond",
        actor=unit,
        complaint=tid,
        kind="interim",
        text="Kami sedang memeriksa jadwal layanan puskesmas tersebut.",
    )
    run(
        command="respond",
        actor=unit,
        complaint=tid,
        kind="final",
        text="Jadwal layanan puskesmas sudah dipulihkan sejak hari Senin.",
    )
    run(
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="dispute",
        text="Hari ini puskesmas masih tutup pukul sepuluh.",
    )
    run(
        command="respond",
        actor=unit,
        complaint=tid,
        kind="final",
        text="Kepala puskesmas sudah ditegur; jam layanan dipantau setiap hari.",
    )
    run(
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="comment",
        text="Baik, saya pantau minggu ini.",
    )
    return tid


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/n1.sqlite3", reporter_pepper=PEPPER)
        app = open_app(settings, clock=lambda: NOW)
        small_directory(app)
        tracking_id = history(Driver(app, NOW - timedelta(days=1)))
        app.close()  # releases the unused tracking numbers (recorded as events)
        app = open_app(settings, clock=lambda: NOW)
        rows = app.recorder.select_notifications(start=1, limit=10_000)
        with app.vault.keys.engine.connect() as conn:  # type: ignore[attr-defined]
            keys = conn.execute(select(reporter_keys)).mappings().all()
        app.close()
    commit = subprocess.run(
        ["git", "-C", str(Path(lapor_es.__file__).parent), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    fixture: dict[str, Any] = {
        "written_by": f"lapor-es at commit {commit or 'unknown'} (write_history.py)",
        "reporter_pepper": PEPPER,
        "tracking_id": tracking_id,
        "stored_events": [
            {
                "originator_id": str(row.originator_id),
                "originator_version": row.originator_version,
                "topic": row.topic,
                "state": row.state.decode("utf-8"),
            }
            for row in rows
        ],
        "reporter_keys": [
            {
                "key_id": k["key_id"],
                "reporter_ref": k["reporter_ref"],
                "key": base64.b64encode(k["key"]).decode(),
                "created_at": k["created_at"].isoformat(),
            }
            for k in keys
        ],
    }
    OUT.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

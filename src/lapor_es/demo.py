"""A scripted sample lifecycle: what `make demo` shows a new user.

Four citizens' reports over the past weeks, each through a different path of the
workflow, all as commands through LaporApp, exactly as `lapor-es exec` would run them.
The caller (`lapor-es demo`) hands in the app and the read models' service it built.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lapor_es.application import LaporApp
from lapor_es.commands import Outcome, parse_command
from lapor_es.directory import load_default_directory
from lapor_es.views import Viewer, complaint_view
from lapor_es.workflow import JAKARTA

if TYPE_CHECKING:
    from lapor_es.readmodels.service import ReadModelService

# A tenth of the published 2022 year keeps `make demo` around a minute here;
# `lapor-es simulate --year 2022` runs all 113,989 complaints (docs/simulation.md).
DEMO_COMPLAINTS = 11_399


DESK = {"id": "admin.nasional", "role": "national_admin"}
SYSTEM = {"id": "sla-timer", "role": "system"}


def agency(code: str) -> dict[str, str]:
    return {"id": f"admin.{code.lower()}", "role": "agency_admin", "agency": code}


def reporter(ref: str) -> dict[str, str]:
    return {"id": ref, "role": "reporter"}


class Script:
    """Runs commands at a moving business time, starting some working days ago."""

    def __init__(self, lapor: LaporApp, start: datetime) -> None:
        self.lapor = lapor
        self.at = start

    def later(self, working_days: int = 0, hours: int = 2) -> Script:
        if working_days:
            self.at = self.lapor.calendar.add_working_days(self.at, working_days - 1)
            self.at += timedelta(hours=9)  # 09:00 WIB on that working day
        self.at += timedelta(hours=hours)
        return self

    def run(self, **command: Any) -> Outcome:
        return self.lapor.handle(parse_command({**command, "at": self.at.isoformat()}))


def run_demo(
    lapor: LaporApp,
    read_models: ReadModelService,
    console: Console,
    *,
    complaints: int = DEMO_COMPLAINTS,
) -> None:
    """The README's first command: the directory, four stories, then a national year."""
    tracking = run_stories(lapor, console)
    run_national_year(lapor, read_models, console, complaints=complaints)
    print_next_steps(console, tracking[0], lapor.settings.database_url)


def run_stories(lapor: LaporApp, console: Console) -> list[str]:
    new, _ = load_default_directory(lapor)
    agencies = sum(1 for _ in lapor.agencies())
    console.print(f"[bold]Agency directory:[/bold] {agencies} agencies and units ({new} new)")
    start_day = (lapor.now() - timedelta(days=45)).astimezone(JAKARTA).date()
    start = datetime.combine(start_day, clock_time(9), JAKARTA).astimezone(UTC)
    tracking: list[str] = []

    # 1. Social assistance not paid: verified, passed down to a unit, confirmed by the reporter.
    s = Script(lapor, start)
    siti = s.run(
        command="file",
        actor=reporter("web"),
        channel="web",
        kind="complaint",
        title="Bantuan PKH tidak cair sejak tiga bulan",
        description="Bantuan Program Keluarga Harapan untuk keluarga kami tidak cair "
        "sejak tiga bulan terakhir, padahal nama kami masih terdaftar.",
        category="Bantuan Sosial",
        target_agency="KEMENSOS",
        reporter={"name": "Siti Rahayu", "phone": "081234567001", "nik": "3273015505800001"},
        idempotency_key="demo-siti-pkh-0001",
    )
    tid = siti.tracking_id
    assert tid and siti.reporter_ref
    tracking.append(tid)
    s.later(1).run(
        command="verify",
        actor=DESK,
        complaint=tid,
        title="PKH tidak cair",
        category="Bantuan Sosial",
        kind="complaint",
        visibility="public",
        to_agency="KEMENSOS",
    )
    s.later(1).run(
        command="forward",
        actor=agency("KEMENSOS"),
        complaint=tid,
        to_agency="KEMENSOS.DITJENLINJAMSOS",
        note="Mohon ditindaklanjuti",
    )
    s.later(0).run(command="start", actor=agency("KEMENSOS.DITJENLINJAMSOS"), complaint=tid)
    s.later(2).run(
        command="respond",
        actor=agency("KEMENSOS.DITJENLINJAMSOS"),
        complaint=tid,
        kind="final",
        text="Data telah dipadankan; bantuan akan cair bulan ini.",
    )
    s.later(3).run(
        command="reply",
        actor=reporter(siti.reporter_ref),
        complaint=tid,
        kind="confirm",
        text="Terima kasih, bantuan sudah diterima.",
    )

    # 2. Anonymous SMS: postponed for details, declined by the province, re-forwarded to the
    #    regency, answered, and auto-closed when the reporter's 10 working days ran out.
    s = Script(lapor, start + timedelta(days=1))
    budi = s.run(
        command="file",
        actor=reporter("sms"),
        channel="sms-1708",
        title="Jalan rusak dekat sekolah",
        description="Jalan berlubang besar di depan sekolah dasar, membahayakan anak.",
        visibility="anonymous",
        reporter={"name": "Budi Santoso", "phone": "085712345002"},
    )
    tid = budi.tracking_id
    assert tid and budi.reporter_ref
    tracking.append(tid)
    s.later(1).run(
        command="postpone", actor=DESK, complaint=tid, reason="Mohon sebutkan nama jalan dan desa"
    )
    s.later(1).run(
        command="supplement",
        actor=reporter(budi.reporter_ref),
        complaint=tid,
        text="Jalan Raya Soreang, Desa Pamekaran",
    )
    s.later(1).run(
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Jalan rusak di Soreang",
        category="Infrastruktur",
        kind="complaint",
        visibility="anonymous",
        to_agency="PROV-JABAR",
    )
    s.later(1).run(
        command="decline",
        actor=agency("PROV-JABAR"),
        complaint=tid,
        reason="Jalan kabupaten, bukan kewenangan provinsi",
        suggested_agency="KAB-BANDUNG",
    )
    s.later(1).run(command="forward", actor=DESK, complaint=tid, to_agency="KAB-BANDUNG")
    s.later(2).run(
        command="respond",
        actor=agency("KAB-BANDUNG"),
        complaint=tid,
        kind="final",
        text="Perbaikan dijadwalkan dan telah dikerjakan.",
    )
    due = lapor.complaint(tid).due_at
    assert due is not None
    s.at = due
    s.run(
        command="resolve",
        actor=SYSTEM,
        complaint=tid,
        mode="auto_closed",
        note="10 hari kerja tanpa tanggapan pelapor",
    )

    # 3. Too general to act on: archived by the desk with its reason.
    s = Script(lapor, start + timedelta(days=2))
    vague = s.run(
        command="file",
        actor=reporter("android"),
        channel="android",
        title="Pelayanan buruk",
        description="Pelayanan pemerintah buruk sekali.",
        reporter={"name": "Andi", "email": "andi@example.id"},
    )
    assert vague.tracking_id
    tracking.append(vague.tracking_id)
    s.later(1).run(
        command="archive",
        actor=DESK,
        complaint=vague.tracking_id,
        reason="too_general",
        note="Tidak menyebut layanan atau instansi",
    )

    # 4. The same PKH problem reported again by a neighbour: merged into the first report.
    s = Script(lapor, start + timedelta(days=3))
    dup = s.run(
        command="file",
        actor=reporter("ios"),
        channel="ios",
        title="PKH belum cair",
        description="Bantuan PKH di RT kami belum cair.",
        reporter={"name": "Rina", "phone": "081398765004"},
    )
    assert dup.tracking_id
    tracking.append(dup.tracking_id)
    # The merge is recorded on the original too (DuplicateMerged), whose history never goes
    # back in time: the desk finds the duplicate after the original's last event.
    s.at = max(s.at, lapor.complaint(tracking[0]).last_event_at)
    s.later(0).run(command="merge", actor=DESK, complaint=dup.tracking_id, into=tracking[0])

    print_stories(lapor, console, tracking)
    return tracking


def print_stories(lapor: LaporApp, console: Console, tracking: list[str]) -> None:
    table = Table(
        "tracking id",
        "state",
        "LAPOR! bucket",
        "events",
        "holder",
        "resolution",
        title="Four sample stories",
    )
    for tid in tracking:
        view = complaint_view(lapor, lapor.complaint(tid), Viewer("national"))
        table.add_row(
            tid,
            view["state"],
            view["bucket"],
            str(view["version"]),
            escape(view["holder"] or "-"),
            view["resolution_mode"] or view["archive_reason"] or "-",
        )
    console.print(table)
    public = complaint_view(lapor, lapor.complaint(tracking[1]), Viewer("public"))
    console.print(
        f"Public view of the anonymous report {tracking[1]}: reporter shown as "
        f"{public['reporter']['name']!r}; path {' -> '.join(public['forwarding_path'])}"
    )


def run_national_year(
    lapor: LaporApp,
    read_models: ReadModelService,
    console: Console,
    *,
    complaints: int = DEMO_COMPLAINTS,
) -> None:
    """Simulate (a fraction of) 2022, build every read model in-process, print headlines."""
    from lapor_es.simulation.plan import PlanParams
    from lapor_es.simulation.run import simulate_streamed

    params = PlanParams(complaints=complaints)
    if lapor.complaint_exists(f"LAP-{params.year}-0000001"):
        console.print(f"{params.year} is already simulated in this database; reusing it.")
    else:
        started = time.perf_counter()
        with console.status(
            f"Simulating {complaints:,} complaints of {params.year} through LaporApp commands"
        ):
            report = simulate_streamed(lapor, params)  # bounded memory
        console.print(
            f"[bold]Simulated {params.year}:[/bold] {report.complaints:,} complaints, "
            f"{report.commands:,} commands ({report.rejected.total()} rejected), "
            f"{report.events:,} events in {time.perf_counter() - started:.0f} s"
        )
    started = time.perf_counter()
    with console.status("Building the read models in-process"):
        stats = read_models.catch_up(lapor.recorder, lapor.mapper)
    console.print(
        f"[bold]Projected[/bold] {stats.events:,} events into the read models in "
        f"{time.perf_counter() - started:.0f} s"
    )
    print_headlines(read_models, console, params.year, params.as_of)


def print_headlines(
    read_models: ReadModelService, console: Console, year: int, as_of: datetime
) -> None:
    from lapor_es.readmodels import stats as st
    from lapor_es.readmodels.complaints import ComplaintsModel

    cohort = st.Cohort(date(year, 1, 1), date(year, 12, 31), as_of)
    model = ComplaintsModel(calendar=read_models.settings.calendar)
    with read_models.engine.connect() as conn:
        [total] = st.completion(conn, model, cohort)
        slow = st.slowest(conn, model, cohort, limit=5)
        best = st.ranking(conn, model, cohort)
    console.print(
        f"\n[bold]{year}, as of {as_of.astimezone(JAKARTA):%d %b %Y %H:%M} WIB:[/bold] "
        f"{total.filed:,} filed, {total.verified:,} verified, {total.resolved:,} resolved, "
        f"{total.archived:,} archived"
    )
    console.print(
        f"  completion rate [bold]{total.completion_rate or 0:.2%}[/bold] "
        "(LAPOR! published 84.46% for 2022), "
        f"follow-up rate {total.follow_up_rate or 0:.2%}, "
        f"over verified complaints {total.verified_completion_rate or 0:.2%}, "
        f"without the desk's own closures {total.completion_rate_without_admin or 0:.2%}"
    )
    table = Table(
        "agency",
        "responded",
        "median",
        "p90",
        title="Slowest agencies to a first response (working days)",
    )
    for row in slow:
        table.add_row(escape(row.agency), str(row.count), str(row.median), str(row.p90))
    console.print(table)
    if best:
        top, bottom = best[0], best[-1]
        console.print(
            f"SLA compliance (follow-up within 5 working days): best {top.agency} "
            f"{top.compliance:.0%} of {top.judged}, worst {bottom.agency} "
            f"{bottom.compliance:.0%} of {bottom.judged}."
        )


def print_next_steps(console: Console, tracking_id: str, database_url: str) -> None:
    console.print(
        "\n[bold]Where to look next[/bold] (the command is .venv/bin/lapor-es; "
        "`source .venv/bin/activate` puts it on your PATH)\n"
        f"  lapor-es show {tracking_id} --as national   one complaint: history, SLA clock\n"
        "  lapor-es inbox KEMENSOS                    an agency's inbox and LAPOR! buckets\n"
        "  lapor-es stats completion --from 2022-01-01 --to 2022-12-31 "
        "--as-of 2022-12-31T23:59:59+07:00 --by category\n"
        "  lapor-es stats slowest | sla | ranking | durations\n"
        f"  SQL tables and views in {database_url}: docs/data-dictionary.md\n"
        "  lapor-es exec (JSON commands): docs/commands.md"
    )

"""Seeded, pure generation of a year of LAPOR! traffic: each complaint's life as dated steps.

No I/O and no store: the plan is a function of (parameters, directory, calendar, policy).
Outcomes are drawn first, for the whole cohort at once, so that exactly
round(rate * N) complaints are RESOLVED at the as-of time; each complaint's life is then
built backwards from its outcome, with delays drawn from `mix`. A life that would not fit
before the as-of time is rebuilt faster (the slow paths thus fall to earlier filings).

The SLA timer's own commands (warnings, breaches, escalations, auto-closure) are part of
the plan: a small clock model (`_Life`) follows the complaint's running clock exactly as
the aggregate does and inserts every ladder rung that falls before the next action.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from lapor_es.simulation import mix
from lapor_es.workflow import JAKARTA, SlaPolicy, WorkingCalendar, subtract_working_days

DESK = "desk"
SYSTEM = "system"
REPORTER = "reporter"
_EPS = timedelta(microseconds=1)
LOCAL_KINDS = frozenset({"province", "regency", "city"})
TOP_KINDS = frozenset(
    {"ministry", "institution", "province", "regency", "city", "soe", "university", "mission"}
)


class PlanError(ValueError):
    """Parameters that cannot give a valid year (e.g. an as-of time in the future)."""


# ===================================================================== inputs
@dataclass(frozen=True)
class DirectoryView:
    """What the plan needs of the agency directory: top-level agencies and their units."""

    top_level: tuple[str, ...]
    local: tuple[str, ...]
    units: Mapping[str, tuple[str, ...]]
    top_set: frozenset[str] = frozenset()

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> DirectoryView:
        top: list[str] = []
        local: list[str] = []
        units: dict[str, list[str]] = {}
        for row in rows:
            code, kind, parent = row["code"], row["kind"], row.get("parent") or None
            if kind in TOP_KINDS:
                top.append(code)
                if kind in LOCAL_KINDS:
                    local.append(code)
            elif kind == "unit" and parent:
                units.setdefault(parent, []).append(code)
        if not top:
            raise PlanError("the directory has no top-level agency to forward to")
        return cls(
            top_level=tuple(top),
            local=tuple(local) or tuple(top),
            units={k: tuple(v) for k, v in units.items()},
            top_set=frozenset(top),
        )


@dataclass(frozen=True)
class PlanParams:
    seed: int = 2022
    year: int = 2022
    complaints: int = mix.YEAR_2022_FILINGS
    days: int = mix.FILING_DAYS
    completion_rate: float = mix.COMPLETION_RATE_2022
    policy: SlaPolicy = field(default_factory=SlaPolicy)

    @property
    def as_of(self) -> datetime:
        """The statistics' as-of time: the year's last second in Jakarta."""
        return datetime(self.year, 12, 31, 23, 59, 59, tzinfo=JAKARTA).astimezone(UTC)

    @property
    def filing_end(self) -> datetime:
        """Exclusive end of the filing window: 00:00 WIB after the cut-off day (10 Dec)."""
        cutoff = date(self.year, 1, 1) + timedelta(days=mix.FILING_DAYS)
        return datetime.combine(cutoff, time(0), JAKARTA).astimezone(UTC)

    @property
    def filing_dates(self) -> list[date]:
        """The last `days` days up to the cut-off (so every window ends three weeks before
        the as-of time, like the published year)."""
        end = self.filing_end.astimezone(JAKARTA).date()
        return [end - timedelta(days=self.days - i) for i in range(self.days)]

    def validate(self, now: datetime) -> None:
        if self.complaints < 1:
            raise PlanError("complaints must be at least 1")
        if not 1 <= self.days <= mix.FILING_DAYS:
            raise PlanError(f"days must be between 1 and {mix.FILING_DAYS}")
        if not 0.0 <= self.completion_rate <= 1.0:
            raise PlanError("completion rate must be within [0, 1]")
        if self.year < 2012:
            raise PlanError("LAPOR! data starts in 2011; choose a year from 2012")
        if self.as_of > now:
            raise PlanError(
                f"{self.year} has not ended yet (as-of {self.as_of.isoformat()} is in the future)"
            )

    @property
    def resolved_target(self) -> int:
        return round(self.completion_rate * self.complaints)


# ===================================================================== outputs
@dataclass(frozen=True, slots=True)
class Step:
    """One command of a complaint's life. `actor` is DESK, SYSTEM, REPORTER or an agency
    code; `into` names another complaint of the plan (merge) by its index."""

    at: datetime
    command: str
    actor: str
    fields: Mapping[str, Any]
    into: int | None = None


@dataclass(frozen=True, slots=True)
class ComplaintPlan:
    index: int  # filing order in the run: the index-th tracking number of the run
    filed_at: datetime
    category: str
    channel: str
    kind: str
    visibility: str
    outcome: str  # the path drawn, e.g. "auto_closed", "archive:spam", "RESPONDED"
    final_state: str  # the state at the as-of time
    resolved_at: datetime | None
    steps: tuple[Step, ...]  # steps[0] is the filing


@dataclass(frozen=True)
class SimulationPlan:
    params: PlanParams
    as_of: datetime
    complaints: tuple[ComplaintPlan, ...]

    def final_states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.complaints:
            counts[p.final_state] = counts.get(p.final_state, 0) + 1
        return counts

    @property
    def command_count(self) -> int:
        return sum(len(p.steps) for p in self.complaints)


# ===================================================================== helpers
def weighted(rng: random.Random, table: Mapping[Any, float]) -> Any:
    keys = list(table)
    return rng.choices(keys, weights=[table[k] for k in keys])[0]


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integer counts summing exactly to `total`, proportional to `weights` (largest
    remainder; ties to the earlier entry, so it is deterministic)."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def filing_times(
    params: PlanParams, calendar: WorkingCalendar, rng: random.Random
) -> list[datetime]:
    """N filing instants over the window, in order: more on working days, diurnal hours."""
    dates = params.filing_dates
    weights = []
    for d in dates:
        if calendar.is_working_day(d):
            weights.append(1.0)
        elif d.weekday() >= 5:
            weights.append(mix.WEEKEND_WEIGHT)
        else:
            weights.append(mix.HOLIDAY_WEIGHT)
    times: list[datetime] = []
    hours = range(24)
    for d, count in zip(dates, apportion(params.complaints, weights), strict=True):
        picked = rng.choices(hours, weights=mix.HOUR_WEIGHTS, k=count)
        day = [
            datetime.combine(d, time(h, rng.randrange(60), rng.randrange(60)), JAKARTA)
            for h in picked
        ]
        times.extend(t.astimezone(UTC) for t in sorted(day))
    return times


# ===================================================================== the clock model
class Unfit(Exception):
    """The life drawn does not fit before the as-of time: draw it again, faster."""


class _Life:
    """Builds one complaint's steps while tracking its SLA clock like the aggregate does."""

    def __init__(
        self, calendar: WorkingCalendar, policy: SlaPolicy, rng: random.Random, limit: datetime
    ) -> None:
        self.cal, self.policy, self.rng, self.limit = calendar, policy, rng, limit
        self.steps: list[Step] = []
        self.last = datetime.min.replace(tzinfo=UTC)
        self.clock: str | None = None
        self.due: datetime | None = None
        self.remaining: int | None = None  # paused verification clock
        self.done: set[str] = set()
        self.chain: list[str] = []
        self.resolved_at: datetime | None = None

    # -- time helpers
    def office(self, after: datetime, working_days: int, speed: float = 1.0) -> datetime:
        """A moment during office hours (08-16 WIB) `working_days` working days after
        `after` (0: later the same working day if possible), never before `after`."""
        days = int(working_days * speed)
        d = after.astimezone(JAKARTA).date()
        if days == 0 and not self.cal.is_working_day(d):
            d = self.cal.next_working_day(d)
        for _ in range(days):
            d = self.cal.next_working_day(d)
        at = datetime.combine(d, time(8), JAKARTA) + timedelta(minutes=self.rng.randrange(480))
        at = at.astimezone(UTC)
        if at <= after:
            at = after + timedelta(minutes=self.rng.randrange(5, 90))
        return at

    def citizen(self, after: datetime, lo_days: float, hi_days: float) -> datetime:
        return after + timedelta(days=self.rng.uniform(lo_days, hi_days))

    # -- steps
    def add(
        self, at: datetime, command: str, actor: str, into: int | None = None, **fields: Any
    ) -> None:
        if at < self.last:
            at = self.last
        if at > self.limit:
            raise Unfit(command)
        self._ladder(until=at, inclusive=False)
        self.steps.append(Step(at, command, actor, fields, into))
        self.last = at
        self._apply(at, command, actor, fields)

    def finish(self) -> None:
        """The timer's rungs still due before the as-of time."""
        self._ladder(until=self.limit, inclusive=True)

    def _ladder(self, until: datetime, inclusive: bool) -> None:
        if self.clock not in ("verification", "follow_up") or self.due is None:
            return
        due = self.due
        warn = subtract_working_days(due, self.policy.warn_before_days, self.cal)
        national = self.cal.add_working_days(due - _EPS, self.policy.national_escalation_after_days)
        rungs: list[tuple[datetime, str, str, dict[str, Any]]] = [
            (warn, "warn", "warn_sla", {}),
            (due, "breach", "breach_sla", {}),
            (due, "parent", "escalate", {"level": "parent"}),
            (national, "national", "escalate", {"level": "national"}),
        ]
        for when, mark, command, extra in rungs:
            key = f"{mark}:{self.clock}:{due.isoformat()}"
            if key in self.done or when > until or (when == until and not inclusive):
                continue
            at = max(when, self.last) + timedelta(seconds=self.rng.randrange(1, 300))
            if at > until:
                at = max(when, self.last)
            self.done.add(key)
            fields = {"clock": self.clock, "due_at": due, **extra}
            self.steps.append(Step(at, command, SYSTEM, fields))
            self.last = at

    def _start(self, clock: str | None, due: datetime | None) -> None:
        self.clock, self.due, self.remaining = clock, due, None

    def _apply(self, at: datetime, command: str, actor: str, fields: Mapping[str, Any]) -> None:
        p, cal = self.policy, self.cal
        if command == "file":
            self._start("verification", cal.add_working_days(at, p.verification_days))
        elif command == "postpone":
            assert self.due is not None
            self.remaining = max(0, cal.working_days_left(at, self.due))
            self.due = None
        elif command == "supplement":
            self._start("verification", cal.add_working_days(at, self.remaining or 0))
        elif command in ("archive", "merge"):
            self._start(None, None)
        elif command in ("verify", "forward"):
            target = fields["to_agency"]
            if actor in (DESK,):
                self.chain = [target]
            else:
                self.chain = [*self.chain[: self.chain.index(actor) + 1], target]
            self._start("follow_up", cal.add_working_days(at, p.follow_up_days))
        elif command == "decline":
            self.chain = self.chain[:-1]
            if not self.chain:
                self._start("verification", cal.add_working_days(at, p.verification_days))
        elif command == "respond":
            if fields["kind"] == "final":
                self._start("auto_resolve", cal.add_working_days(at, p.auto_resolve_days))
            else:
                self._start("follow_up", cal.add_working_days(at, p.follow_up_days))
        elif command == "reply":
            if fields["kind"] == "dispute":
                self._start("follow_up", cal.add_working_days(at, p.follow_up_days))
            elif fields["kind"] == "comment" and self.clock == "auto_resolve":
                self._start("auto_resolve", cal.add_working_days(at, p.auto_resolve_days))
            elif fields["kind"] == "confirm":
                self._start(None, None)
                self.resolved_at = at
        elif command == "resolve":
            self._start(None, None)
            self.resolved_at = at
        elif command == "reopen":
            self.resolved_at = None
            self._start("follow_up", cal.add_working_days(at, p.follow_up_days))


# ===================================================================== the generator
TEXTS = {
    "postpone": "Mohon lengkapi lokasi kejadian dan bukti pendukung.",
    "supplement": "Berikut lokasi lengkap dan foto bukti yang diminta.",
    "decline": "Bukan kewenangan instansi kami.",
    "interim": "Laporan sedang kami koordinasikan dengan unit terkait.",
    "final": "Laporan telah ditindaklanjuti; rincian tindak lanjut terlampir.",
    "comment": "Terima kasih, saya akan cek kembali di lapangan.",
    "dispute": "Tanggapan belum menyelesaikan masalah saya.",
    "confirm": "Masalah sudah selesai, terima kasih.",
    "reopen": "Pelapor menyampaikan masalah terulang kembali.",
    "admin": "Diselesaikan oleh Admin Nasional setelah konfirmasi langsung.",
    "visibility": "Identitas pelapor perlu dilindungi.",
}
SOCIAL_PLATFORMS = ("twitter", "instagram", "facebook")  # where LAPOR! takes reports
NAMES = ("Siti", "Budi", "Dewi", "Agus", "Rina", "Andi", "Sri", "Joko", "Nur", "Wahyu", "Ayu")
SURNAMES = ("Rahayu", "Santoso", "Lestari", "Saputra", "Wijaya", "Hidayat", "Kurniawan", "Putri")


@dataclass(frozen=True)
class _Ctx:
    params: PlanParams
    directory: DirectoryView
    calendar: WorkingCalendar
    as_of: datetime


@dataclass(slots=True)
class _Draft:
    """What is known of a complaint before its life is built (a few hundred bytes: a year's
    drafts are kept while the lives, ten times larger, are built one at a time)."""

    index: int
    filed_at: datetime
    category: mix.CategorySpec
    channel: str
    kind: str
    visibility: str
    target: str
    unit: str | None
    targeted: bool
    reporter_no: int
    outcome: str
    into: int | None = None


@dataclass(frozen=True)
class LazyPlan:
    """A cohort's plan whose lives are built on demand, in any order: each life draws from
    a generator of its own (seeded by the complaint's index), so `life(i)` is the same
    ComplaintPlan that `build_plan` holds at index i. What the simulator runs a full year
    on, holding only the complaints in flight (the whole year's lives take about 400 MiB)."""

    params: PlanParams
    as_of: datetime
    _ctx: _Ctx
    _drafts: Sequence[_Draft]

    def __len__(self) -> int:
        return len(self._drafts)

    def filed_at(self, index: int) -> datetime:
        """The filing instant of complaint `index` (non-decreasing with the index)."""
        return self._drafts[index].filed_at

    def life(self, index: int) -> ComplaintPlan:
        return _live(self._ctx, self._drafts[index])


def draft_plan(
    params: PlanParams,
    directory: DirectoryView,
    calendar: WorkingCalendar,
    *,
    now: datetime | None = None,
) -> LazyPlan:
    """The cohort drawn (filing times, outcomes, routes, merges), lives not yet built."""
    params.validate(now or datetime.now(UTC))
    ctx = _Ctx(params, directory, calendar, params.as_of)
    rng = random.Random(f"lapor-sim:{params.seed}")
    times = filing_times(params, calendar, rng)
    outcomes = draw_outcomes(params, times, rng)
    drafts = [_draft(ctx, i, t, outcomes[i], rng) for i, t in enumerate(times)]
    _pick_merge_originals(drafts, rng)
    return LazyPlan(params, ctx.as_of, ctx, drafts)


def build_plan(
    params: PlanParams,
    directory: DirectoryView,
    calendar: WorkingCalendar,
    *,
    now: datetime | None = None,
) -> SimulationPlan:
    """The whole cohort's plan. Same inputs, same plan."""
    lazy = draft_plan(params, directory, calendar, now=now)
    plans = tuple(lazy.life(i) for i in range(len(lazy)))
    return SimulationPlan(params=params, as_of=lazy.as_of, complaints=plans)


def draw_outcomes(params: PlanParams, times: Sequence[datetime], rng: random.Random) -> list[str]:
    """Per complaint, the state it ends the year in (the resolved ones get a path label).

    Exactly `resolved_target` are resolved. Archived and postponed ones are spread over the
    whole year; the still-open ones are drawn with a recency bias (weighted sampling without
    replacement), so recent complaints are the ones still in the pipeline.
    """
    n = len(times)
    open_total = n - params.resolved_target
    states = list(mix.OPEN_STATES)
    counts = dict(zip(states, apportion(open_total, list(mix.OPEN_STATES.values())), strict=True))
    outcome: list[str | None] = [None] * n
    everywhere = counts["ARCHIVED"] + counts["POSTPONED"]
    anywhere = rng.sample(range(n), everywhere)
    for k, i in enumerate(anywhere):
        outcome[i] = "ARCHIVED" if k < counts["ARCHIVED"] else "POSTPONED"
    end = params.filing_end
    keyed: list[tuple[float, int]] = []
    for i, t in enumerate(times):
        u = rng.random()
        if outcome[i] is not None:
            continue
        age = (end - t).total_seconds() / 86_400
        w = max(math.exp(-age / mix.OPEN_RECENCY_DAYS), mix.OPEN_FLOOR_WEIGHT)
        keyed.append((math.log(u or 1e-300) / w, i))  # Efraimidis-Spirakis key, log form
    keyed.sort(reverse=True)
    chosen = [i for _, i in keyed[: open_total - everywhere]]
    rng.shuffle(chosen)
    pos = 0
    for state in states[2:]:
        for i in chosen[pos : pos + counts[state]]:
            outcome[i] = state
        pos += counts[state]
    return [o if o is not None else weighted(rng, mix.RESOLVED_PATHS) for o in outcome]


def _draft(ctx: _Ctx, i: int, filed_at: datetime, outcome: str, rng: random.Random) -> _Draft:
    spec = rng.choices(mix.CATEGORIES, weights=[c.share for c in mix.CATEGORIES])[0]
    target, unit = _route(ctx.directory, spec, rng)
    reporter_no = i if i == 0 or rng.random() >= mix.REPEAT_REPORTER_SHARE else rng.randrange(i)
    if outcome == "ARCHIVED":
        outcome = f"archive:{weighted(rng, mix.ARCHIVE_PATHS)}"
    return _Draft(
        index=i,
        filed_at=filed_at,
        category=spec,
        channel=weighted(rng, mix.CHANNELS),
        kind=weighted(rng, mix.KINDS),
        visibility=weighted(rng, mix.VISIBILITY),
        target=target,
        unit=unit,
        targeted=rng.random() < mix.TARGETED_SHARE,
        reporter_no=reporter_no,
        outcome=outcome,
    )


def _identity(seed: int, reporter_no: int, channel: str) -> dict[str, Any]:
    """The reporter as the channel knows them: an SMS to 1708 only the sender's phone, a
    social-media report only the account; the web and the apps the registered person."""
    r = random.Random(f"lapor-sim-reporter:{seed}:{reporter_no}")
    name = f"{r.choice(NAMES)} {r.choice(SURNAMES)}"
    phone = f"0812{reporter_no % 10**8:08d}"
    if channel == "sms-1708":
        return {"phone": phone}
    if channel == "social":
        handle = f"{name.split()[0].lower()}{reporter_no % 10**8:04d}"  # fits every platform
        return {"social_handle": {"platform": r.choice(SOCIAL_PLATFORMS), "handle": handle}}
    return {
        "name": name,
        "nik": f"{3_100_000_000_000_000 + (seed % 1000) * 10**10 + reporter_no}",
        "phone": phone,
    }


def _route(
    directory: DirectoryView, spec: mix.CategorySpec, rng: random.Random
) -> tuple[str, str | None]:
    """The agency the desk forwards to, and the unit that agency passes it to."""
    existing = [a for a in spec.agencies if a in directory.top_set]
    if rng.random() < spec.local_share:
        target = rng.choice(directory.local)
    elif existing:
        target = rng.choice(existing)
    else:
        target = rng.choice(directory.top_level)
    units = directory.units.get(target, ())
    preferred = f"{target}.{spec.local_unit}" if spec.local_unit else None
    if preferred in units:
        return target, preferred
    return target, (rng.choice(units) if units else None)


def _pick_merge_originals(drafts: list[_Draft], rng: random.Random) -> None:
    """A duplicate is merged into a recent earlier report that is never archived."""
    for d in drafts:
        if d.outcome != "archive:merge":
            continue
        candidates = [
            e.index
            for e in drafts[max(0, d.index - 300) : d.index]
            if not e.outcome.startswith("archive:")
        ]
        if candidates:
            d.into = rng.choice(candidates)
        else:
            d.outcome = "archive:too_general"


def _live(ctx: _Ctx, d: _Draft) -> ComplaintPlan:
    """Build the life; if it does not fit before the as-of time, rebuild it faster."""
    rng = random.Random(f"lapor-sim-life:{ctx.params.seed}:{d.index}")
    for speed in (1.0, 1.0, 0.5, 0.25, 0.0):
        life = _Life(ctx.calendar, ctx.params.policy, rng, ctx.as_of)
        try:
            final = _script(ctx, d, life, speed)
        except Unfit:
            continue
        life.finish()
        return ComplaintPlan(
            index=d.index,
            filed_at=d.filed_at,
            category=d.category.name,
            channel=d.channel,
            kind=d.kind,
            visibility=d.visibility,
            outcome=d.outcome,
            final_state=final,
            resolved_at=life.resolved_at,
            steps=tuple(life.steps),
        )
    raise PlanError(f"complaint {d.index} ({d.outcome}) cannot fit before the as-of time")


def _script(ctx: _Ctx, d: _Draft, life: _Life, speed: float) -> str:
    """One complaint's life for its drawn outcome. Returns its state at the as-of time."""
    rng, o = life.rng, d.outcome
    file_fields: dict[str, Any] = {
        "channel": d.channel,
        "kind": d.kind,
        "title": f"{d.category.name}: laporan warga",
        "description": f"Laporan tentang {d.category.name.lower()} yang perlu ditindaklanjuti.",
        "category": d.category.name,
        "visibility": d.visibility,
        "reporter": _identity(ctx.params.seed, d.reporter_no, d.channel),
        "target_agency": d.target if d.targeted else None,
    }
    life.add(d.filed_at, "file", REPORTER, **file_fields)
    verify_days = int(weighted(rng, mix.VERIFY_DAYS))

    def desk_time(days: int = verify_days) -> datetime:
        return life.office(life.last, days, speed)

    # --- never verified
    if o.startswith("archive:"):
        reason = o.split(":", 1)[1]
        if reason == "merge":
            life.add(desk_time(), "merge", DESK, into=d.into)
        elif reason == "no_supplement":
            life.add(desk_time(), "postpone", DESK, reason=TEXTS["postpone"])
            life.add(life.office(life.last, 10), "archive", DESK, reason="no_supplement", note="")
        else:
            life.add(desk_time(), "archive", DESK, reason=reason, note="")
        return "ARCHIVED"
    if o == "POSTPONED":
        life.add(desk_time(), "postpone", DESK, reason=TEXTS["postpone"])
        return "POSTPONED"
    if rng.random() < mix.POSTPONE_FIRST_SHARE:
        life.add(desk_time(), "postpone", DESK, reason=TEXTS["postpone"])
        life.add(life.citizen(life.last, 0.1, 5 * speed + 0.2), "supplement", REPORTER,
                 text=TEXTS["supplement"])  # fmt: skip
    if o == "SUBMITTED" and rng.random() < 0.5:
        return "SUBMITTED"  # the desk has not got to it: its verification clock ran out

    target = d.target
    life.add(desk_time(), "verify", DESK, title=file_fields["title"], category=d.category.name,
             kind=d.kind, visibility=d.visibility, to_agency=target, note="")  # fmt: skip
    if o == "SUBMITTED" or o == "decline":
        life.add(life.office(life.last, rng.randint(1, 3), speed), "decline", target,
                 reason=TEXTS["decline"], suggested_agency=None)  # fmt: skip
        if o == "SUBMITTED":
            return "SUBMITTED"  # back at the desk, not yet re-forwarded
        others = [a for a in ctx.directory.top_level if a != target]
        target = rng.choice(others)
        life.add(life.office(life.last, rng.randint(0, 2), speed), "forward", DESK,
                 to_agency=target, note="diteruskan ulang")  # fmt: skip
    if rng.random() < mix.VISIBILITY_FIX_SHARE:
        new = "confidential" if d.visibility != "confidential" else "anonymous"
        life.add(life.last, "change_visibility", DESK, visibility=new, reason=TEXTS["visibility"])
    units = ctx.directory.units.get(target, ())
    unit = d.unit if d.unit in units else (rng.choice(units) if units else None)
    if unit and rng.random() < mix.UNIT_FORWARD_SHARE:
        life.add(life.office(life.last, rng.randint(0, 1), speed), "forward", target,
                 to_agency=unit, note="")  # fmt: skip
    if o == "FORWARDED":
        return "FORWARDED"
    worker = life.chain[-1]
    follow_up = int(weighted(rng, mix.FOLLOW_UP_DAYS))
    if rng.random() < 0.5 or o in ("IN_PROGRESS", "by_admin"):
        life.add(life.office(life.last, min(follow_up, 2), speed), "start", worker)
    if rng.random() < mix.INTERIM_SHARE or o == "IN_PROGRESS":
        life.add(life.office(life.last, follow_up, speed), "respond", worker, kind="interim",
                 text=TEXTS["interim"])  # fmt: skip
        follow_up = int(weighted(rng, mix.FOLLOW_UP_DAYS))
    if o == "IN_PROGRESS":
        return "IN_PROGRESS"
    if o == "by_admin":
        life.add(life.office(life.last, rng.randint(1, 5), speed), "resolve", DESK,
                 mode="by_admin", note=TEXTS["admin"])  # fmt: skip
        return "RESOLVED"
    if o == "RESPONDED":
        _respond_in_window(ctx, life, worker)
        return "RESPONDED"

    def respond_final(days: int) -> None:
        life.add(life.office(life.last, days, speed), "respond", worker, kind="final",
                 text=TEXTS["final"])  # fmt: skip

    def close(confirm: bool) -> None:
        assert life.due is not None
        if confirm or speed == 0.0:  # the last, fastest attempt: no 10-day wait
            latest = min(life.last + timedelta(days=6 * speed + 0.1), life.due - timedelta(hours=1))
            at = life.last + (latest - life.last) * rng.random()
            life.add(at, "reply", REPORTER, kind="confirm", text=TEXTS["confirm"])
            return
        if rng.random() < mix.COMMENT_SHARE:
            at = life.last + (life.due - timedelta(hours=1) - life.last) * rng.random()
            life.add(at, "reply", REPORTER, kind="comment", text=TEXTS["comment"])
            assert life.due is not None
        life.add(life.due + timedelta(minutes=rng.randrange(1, 30)), "resolve", SYSTEM,
                 mode="auto_closed", note="")  # fmt: skip

    respond_final(follow_up)
    if o == "dispute":
        life.add(life.citizen(life.last, 0.2, 4 * speed + 0.3), "reply", REPORTER,
                 kind="dispute", text=TEXTS["dispute"])  # fmt: skip
        respond_final(int(weighted(rng, mix.FOLLOW_UP_DAYS)))
        close(confirm=rng.random() < 0.4)
        return "RESOLVED"
    if o in ("reopen", "REOPENED"):
        close(confirm=rng.random() < 0.5)
        assert life.resolved_at is not None
        reopen_at = life.office(life.last, rng.randint(1, 15), speed)
        if reopen_at > life.resolved_at + timedelta(days=ctx.params.policy.reopen_window_days):
            reopen_at = life.last + timedelta(hours=2)
        life.add(reopen_at, "reopen", DESK, reason=TEXTS["reopen"])
        if o == "REOPENED":
            return "IN_PROGRESS"
        respond_final(int(weighted(rng, mix.FOLLOW_UP_DAYS)))
        close(confirm=rng.random() < 0.3)
        return "RESOLVED"
    close(confirm=o == "confirmed")
    return "RESOLVED"


def _respond_in_window(ctx: _Ctx, life: _Life, worker: str) -> None:
    """A final response recent enough that the reporter's window is still open at as-of."""
    cal, rng, days = ctx.calendar, life.rng, ctx.params.policy.auto_resolve_days
    # The earliest instant whose window ends after the as-of time.
    earliest = subtract_working_days(ctx.as_of, days, cal)
    d = max(earliest, life.last).astimezone(JAKARTA).date()
    candidates: list[date] = []
    last_day = ctx.as_of.astimezone(JAKARTA).date()
    while d <= last_day:
        if cal.is_working_day(d):
            candidates.append(d)
        d += timedelta(days=1)
    if not candidates:
        raise Unfit("respond")
    day = rng.choice(candidates)
    at = datetime.combine(day, time(8), JAKARTA).astimezone(UTC)
    at += timedelta(minutes=rng.randrange(480))
    at = max(at, earliest, life.last + timedelta(minutes=5))
    if cal.add_working_days(at, days) <= ctx.as_of or at > ctx.as_of:
        raise Unfit("respond")
    life.add(at, "respond", worker, kind="final", text=TEXTS["final"])

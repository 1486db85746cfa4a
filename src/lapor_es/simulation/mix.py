"""The traffic mix as data: volumes, categories, channels, kinds, visibility and outcomes.

Every published figure is cited from the team's LAPOR! domain notes, lapor-domain.md
(section 2, "Published statistics", and section 1; kept outside this repository).
LAPOR! publishes its category *ranking* but not the shares, so the category shares below
are assumptions that keep the published order; the same holds for channels, kinds,
visibility and paths, which LAPOR! does not publish at all. Tests check the generated
traffic against these numbers, not against constants.
"""

from __future__ import annotations

from dataclasses import dataclass

# lapor-domain.md section 2: "113,989 reports in 2022, about 331 a day; 84.46% completed".
YEAR_2022_FILINGS = 113_989
DAILY_FILINGS = 331
COMPLETION_RATE_2022 = 0.8446
# lapor-domain.md section 2 [INF]: 113,989 / 331 = 344 filing days, i.e. a cut-off around
# 11 Dec 2022. We file from 1 Jan to 10 Dec inclusive (344 days), which also leaves every
# complaint at least three weeks before the year's end to go through its workflow.
FILING_DAYS = 344

# Relative filing volume per day type [assumption]: the web and apps never close, but
# offline-driven channels (walk-ins turned into web reports, SMS campaigns) follow office days.
WEEKEND_WEIGHT = 0.6
HOLIDAY_WEIGHT = 0.7
# Filing hour (WIB) weights [assumption]: office morning peak and an evening phone peak.
HOUR_WEIGHTS: tuple[float, ...] = (
    0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.5, 2.4, 3.0, 3.0, 2.6,  # 00-11
    2.0, 2.4, 2.5, 2.2, 1.8, 1.4, 1.4, 1.8, 2.0, 1.6, 1.0, 0.5,  # 12-23
)  # fmt: skip


@dataclass(frozen=True)
class CategorySpec:
    """A complaint category, its share, and who handles it.

    `agencies` are top-level agencies the desk forwards to; `local_unit` is the unit suffix
    of a regency/city/province office for the same matter (e.g. DINSOS), used when the
    complaint goes to a local government instead (`local_share` of the time).
    """

    name: str
    share: float
    agencies: tuple[str, ...]
    local_unit: str | None
    local_share: float


# lapor-domain.md section 1 and the issue: LAPOR! reports most complaints on social
# assistance, then education and culture, population administration, public order, fraud
# content, Kartu Prakerja; then the national programmes PKH, BPNT, consumer protection, land
# disputes, sanitation and clean water, stunting. Shares [assumption] keep that order.
CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("Bantuan Sosial", 0.14, ("KEMENSOS",), "DINSOS", 0.6),
    CategorySpec("Pendidikan dan Kebudayaan", 0.10, ("KEMENDIKBUDRISTEK",), "DISDIK", 0.6),
    CategorySpec("Administrasi Kependudukan", 0.09, ("KEMENDAGRI",), "DISDUKCAPIL", 0.8),
    CategorySpec("Ketentraman dan Ketertiban Umum", 0.07, ("POLRI",), None, 0.5),
    CategorySpec("Konten Penipuan", 0.06, ("KEMENKOMINFO",), "DISKOMINFO", 0.1),
    CategorySpec("Kartu Prakerja", 0.05, ("KEMENKOPEREKONOMIAN", "KEMNAKER"), None, 0.0),
    CategorySpec("Program Keluarga Harapan (PKH)", 0.04, ("KEMENSOS",), "DINSOS", 0.4),
    CategorySpec("Bantuan Pangan Non Tunai (BPNT)", 0.035, ("KEMENSOS",), "DINSOS", 0.4),
    CategorySpec("Perlindungan Konsumen", 0.03, ("KEMENDAG", "OJK"), None, 0.0),
    CategorySpec("Sengketa Pertanahan", 0.03, ("KEMENATRBPN",), None, 0.0),
    CategorySpec("Sanitasi dan Air Bersih", 0.025, ("KEMENPUPR",), "DPUPR", 0.7),
    CategorySpec("Stunting", 0.02, ("BKKBN", "KEMENKES"), "DINKES", 0.5),
    # Everything else (roads, health services, permits, transport, civil service...): local
    # governments' own offices mostly, and any other agency sometimes.
    CategorySpec("Lainnya", 0.31, (), None, 0.75),
)

# lapor-domain.md section 1: web, SMS 1708, Android, iOS, Twitter, other integrated channels.
# Shares [assumption].
CHANNELS: dict[str, float] = {
    "web": 0.45,
    "android": 0.25,
    "sms-1708": 0.10,
    "social": 0.09,
    "ios": 0.06,
    "api": 0.05,
}
# lapor-domain.md section 1 (classification): pengaduan, aspirasi, permintaan informasi.
KINDS: dict[str, float] = {"complaint": 0.80, "aspiration": 0.12, "information_request": 0.08}
# lapor-domain.md section 1 (confidential vs anonymous) [assumption on shares].
VISIBILITY: dict[str, float] = {"public": 0.70, "anonymous": 0.20, "confidential": 0.10}
# Share of filings that name the agency themselves (they still pass the desk) [assumption].
TARGETED_SHARE = 0.30
# Share of filings by a reporter who filed before in the run [assumption].
REPEAT_REPORTER_SHARE = 0.08

# ----------------------------------------------------------------- outcomes
# The complaints NOT resolved by the year's end (1 - 84.46% = 15.54% of the cohort), split
# by the state they end the year in [assumption; lapor-domain.md section 5: "the other
# ~17,700 are split across ARSIP, TERTUNDA, open states and in-window DITANGGAPI"; the
# Lebaran 2018 tally in section 2 shows deletions/archives as the largest non-completed part].
OPEN_STATES: dict[str, float] = {
    "ARCHIVED": 0.42,
    "POSTPONED": 0.08,
    "SUBMITTED": 0.04,
    "FORWARDED": 0.12,
    "IN_PROGRESS": 0.14,
    "RESPONDED": 0.15,
    "REOPENED": 0.05,
}
# How archived ones got there [assumption]; reasons from lapor-domain.md section 1.
ARCHIVE_PATHS: dict[str, float] = {
    "too_general": 0.30,
    "wrong_format": 0.15,
    "not_government": 0.20,
    "spam": 0.05,
    "no_supplement": 0.15,  # postponed, the reporter never answered, then archived
    "merge": 0.15,  # a duplicate of an earlier report
}
# How resolved ones got there [assumption]. Auto-closure after 10 silent working days is the
# common end in LAPOR! (lapor-domain.md section 1, "Closure"); reporters confirm some.
RESOLVED_PATHS: dict[str, float] = {
    "auto_closed": 0.52,
    "confirmed": 0.22,
    "by_admin": 0.05,
    "dispute": 0.08,  # reporter disputes the response, agency answers again
    "decline": 0.08,  # bukan wewenang: back to the desk, re-forwarded elsewhere
    "reopen": 0.05,  # resolved, reopened by the desk, resolved again
}
# Path modifiers, independent of the path [assumption].
POSTPONE_FIRST_SHARE = 0.07  # the desk asks for details first; the reporter supplies them
UNIT_FORWARD_SHARE = 0.55  # the agency passes it down to one of its units
INTERIM_SHARE = 0.30  # an interim answer before the final one
COMMENT_SHARE = 0.10  # the reporter comments during the reply window
VISIBILITY_FIX_SHARE = 0.01  # the desk corrects the visibility later (e.g. a leaked identity)
# Working days the agency takes to follow up: mostly inside the 5-day limit, a tail beyond
# it (those produce SLA warnings, breaches and escalations).
FOLLOW_UP_DAYS: dict[int, float] = {
    1: 0.18, 2: 0.20, 3: 0.17, 4: 0.13, 5: 0.10, 6: 0.07, 7: 0.05, 9: 0.05, 12: 0.03, 15: 0.02,
}  # fmt: skip
# Working days the desk takes to verify (limit 3).
VERIFY_DAYS: dict[int, float] = {0: 0.25, 1: 0.35, 2: 0.22, 3: 0.12, 4: 0.04, 6: 0.02}
# Recency bias of the still-open ones [assumption]: open states concentrate on recent
# filings, with a floor so some stay stuck for months.
OPEN_RECENCY_DAYS = 25.0
OPEN_FLOOR_WEIGHT = 0.03

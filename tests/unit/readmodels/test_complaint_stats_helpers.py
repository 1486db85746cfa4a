"""Pure helpers of the complaints read model and its statistics (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar, cast

import pytest

from lapor_es.aggregates.values import ComplaintState
from lapor_es.cli.stats import parse_as_of
from lapor_es.contract import payloads as p
from lapor_es.readmodels.complaints import bucket, filed_day
from lapor_es.readmodels.lifecycle import chain_after, state_after
from lapor_es.readmodels.stats import Cohort, competition_ranks, percentile, ratio

P = TypeVar("P", bound=p.EventPayload)


def make(cls: type[P], **fields: Any) -> P:
    """A payload with just the fields `state_after` looks at (no validation needed)."""
    return cast(P, cls.model_construct(**fields))


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([7], 50, 7),
        ([7], 90, 7),
        ([4, 1, 3, 2], 50, 2),  # even n: the lower middle (rank ceil(0.5 * 4) = 2)
        ([1, 2, 3, 4, 11], 50, 3),
        ([1, 2, 3, 4, 11], 90, 11),  # rank ceil(4.5) = 5
        (list(range(1, 11)), 90, 9),  # rank 9 exactly, no float rounding up to 10
        (list(range(1, 101)), 7, 7),  # 7 * 100 / 100 = 7 (0.07 * 100 in floats is 7.0000...1)
        ([5, 5, 5], 100, 5),
    ],
)
def test_nearest_rank_percentile(values: list[int], pct: int, expected: int) -> None:
    assert percentile(values, pct) == expected


def test_percentile_of_nothing_and_bad_pct() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 0)


def test_ratio_and_ranks() -> None:
    assert ratio(1, 4) == 0.25
    assert ratio(3, 0) is None
    assert competition_ranks([0.9, 0.75, 0.75, 0.5]) == [1, 2, 2, 4]
    assert competition_ranks([]) == []


def test_buckets_are_laporS() -> None:
    assert bucket("SUBMITTED") == "Belum Terverifikasi"
    assert bucket("POSTPONED") == "Laporan Tertunda"
    assert bucket("FORWARDED") == "Terdisposisi, Belum Ditindaklanjuti"
    assert bucket("IN_PROGRESS") == bucket("RESPONDED") == "Terdisposisi, Sedang Diproses"
    assert bucket("RESOLVED") == "Terdisposisi, Selesai"
    assert bucket("ARCHIVED") == "Laporan Arsip"


@pytest.mark.parametrize(
    ("payload", "before", "after"),
    [
        (make(p.Filed), None, "SUBMITTED"),
        (make(p.Postponed), "SUBMITTED", "POSTPONED"),
        (make(p.InformationSupplemented), "POSTPONED", "SUBMITTED"),
        (make(p.Verified), "SUBMITTED", "SUBMITTED"),  # Forwarded follows it
        (make(p.Forwarded), "IN_PROGRESS", "FORWARDED"),
        (make(p.ForwardingDeclined, returned_to=None), "FORWARDED", "SUBMITTED"),
        (make(p.ForwardingDeclined, returned_to="KEMENKES"), "FORWARDED", "FORWARDED"),
        (make(p.WorkStarted), "FORWARDED", "IN_PROGRESS"),
        (make(p.Responded, kind="interim"), "FORWARDED", "IN_PROGRESS"),
        (make(p.Responded, kind="final"), "IN_PROGRESS", "RESPONDED"),
        (make(p.ReporterReplied, kind="dispute"), "RESPONDED", "IN_PROGRESS"),
        (make(p.ReporterReplied, kind="comment"), "RESPONDED", "RESPONDED"),
        (make(p.ReporterReplied, kind="confirm"), "RESPONDED", "RESPONDED"),
        (make(p.Resolved), "RESPONDED", "RESOLVED"),
        (make(p.Reopened), "RESOLVED", "IN_PROGRESS"),
        (make(p.Archived), "POSTPONED", "ARCHIVED"),
        (make(p.Merged), "SUBMITTED", "ARCHIVED"),
        (make(p.SlaBreached), "FORWARDED", "FORWARDED"),
        (make(p.VisibilityChanged), "RESOLVED", "RESOLVED"),
        (make(p.ReporterErased), "ARCHIVED", "ARCHIVED"),
    ],
)
def test_state_after_follows_the_workflow(
    payload: p.EventPayload, before: str | None, after: str
) -> None:
    previous = None if before is None else ComplaintState(before)
    assert state_after(previous, payload) == after


def test_forwarding_changes_the_holder_chain() -> None:
    def forwarded(frm: str | None, to: str) -> p.Forwarded:
        return make(p.Forwarded, from_agency=frm, to_agency=to, tracking_id="LAP-2026-0000001")

    assert chain_after(("KEMENSOS", "KEMENSOS.LINJAMSOS"), forwarded(None, "KEMENKES")) == (
        "KEMENKES",
    )
    assert chain_after(("A", "A.B", "A.B.C"), forwarded("A", "A.D")) == ("A", "A.D")
    assert chain_after((), forwarded(None, "A")) == ("A",)


def test_filed_day_is_the_jakarta_date() -> None:
    assert filed_day(datetime(2026, 1, 5, 16, 59, tzinfo=UTC)) == date(2026, 1, 5)
    assert filed_day(datetime(2026, 1, 5, 17, 0, tzinfo=UTC)) == date(2026, 1, 6)  # 00:00 WIB


def test_cohort_normalises_to_utc_and_checks() -> None:
    wib = timezone(timedelta(hours=7))
    cohort = Cohort(date(2026, 1, 1), date(2026, 3, 31), datetime(2026, 4, 1, tzinfo=wib))
    assert cohort.as_of == datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        Cohort(date(2026, 1, 2), date(2026, 1, 1), cohort.as_of)
    with pytest.raises(ValueError):
        Cohort(date(2026, 1, 1), date(2026, 1, 2), datetime(2026, 1, 3))


def test_as_of_option() -> None:
    # A bare date means its 00:00 WIB: the end of the day before, the natural quarter end.
    assert parse_as_of("2026-04-01") == datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    assert parse_as_of("2026-04-01T02:00:00Z") == datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
    assert parse_as_of("2026-04-01T02:00:00") == datetime(2026, 4, 1, 2, 0, tzinfo=UTC)

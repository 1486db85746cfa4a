"""Open311 GeoReport v2's read side: the services it offers and which requests a list shows.

Services are the LAPOR! complaint categories (design.md section 7: service = category). A
complaint's category is free text on the native API and the desk may change it when it
verifies, so a category outside the catalog is shown as the catch-all service `lainnya`:
every complaint has exactly one service, and filtering by a service finds what it shows.

`select_requests` chooses the complaints a `GET requests.json` answers with, from
`complaint_facts` (the complaints model): never a confidential one, filtered by category,
open/closed and filing time, newest first, at most `limit`. The door then reads each chosen
complaint from the event store for the fields no read model keeps (description, location,
the last response's text), so one request looks the same in a list as on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, MetaData, Table, func, or_, select

from lapor_es.aggregates.values import ComplaintState
from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.workflow import WorkingCalendar

# Open311's two statuses: a complaint is closed once resolved or archived (merged ones are
# archived too), open in every other state.
CLOSED_STATES = frozenset({ComplaintState.RESOLVED, ComplaintState.ARCHIVED})
OPEN, CLOSED = "open", "closed"


def open311_status(state: str) -> str:
    return CLOSED if ComplaintState(state) in CLOSED_STATES else OPEN


@dataclass(frozen=True)
class Service:
    """One Open311 service: a complaint category with a stable code for clients."""

    code: str
    name: str  # the category as complaints carry it
    group: str
    description: str
    keywords: tuple[str, ...]


# The categories LAPOR! reports most (lapor-domain.md section 1; the simulation's mix uses
# the same names), then the catch-all.
OTHER = Service(
    "lainnya",
    "Lainnya",
    "Lainnya",
    "Other matters: roads, health services, permits, transport, civil service",
    ("jalan", "kesehatan", "perizinan", "transportasi"),
)
SERVICES: tuple[Service, ...] = (
    Service(
        "bantuan-sosial",
        "Bantuan Sosial",
        "Sosial",
        "Social assistance: eligibility, distribution, data",
        ("bansos", "bantuan", "dtks"),
    ),
    Service(
        "pkh",
        "Program Keluarga Harapan (PKH)",
        "Sosial",
        "The conditional cash transfer programme (PKH)",
        ("pkh", "keluarga harapan"),
    ),
    Service(
        "bpnt",
        "Bantuan Pangan Non Tunai (BPNT)",
        "Sosial",
        "Non-cash food assistance (BPNT, sembako)",
        ("bpnt", "sembako", "pangan"),
    ),
    Service(
        "pendidikan",
        "Pendidikan dan Kebudayaan",
        "Pendidikan",
        "Schools, universities, scholarships, culture",
        ("sekolah", "kip", "beasiswa", "ppdb"),
    ),
    Service(
        "adminduk",
        "Administrasi Kependudukan",
        "Kependudukan",
        "Population administration: KTP, KK, birth and death certificates",
        ("ktp", "kk", "akta", "dukcapil"),
    ),
    Service(
        "ketertiban",
        "Ketentraman dan Ketertiban Umum",
        "Keamanan",
        "Public order and safety",
        ("keamanan", "ketertiban", "polisi"),
    ),
    Service(
        "penipuan",
        "Konten Penipuan",
        "Digital",
        "Fraudulent content, online scams",
        ("penipuan", "hoaks", "online"),
    ),
    Service(
        "prakerja",
        "Kartu Prakerja",
        "Ketenagakerjaan",
        "The pre-employment card programme",
        ("prakerja", "pelatihan"),
    ),
    Service(
        "konsumen",
        "Perlindungan Konsumen",
        "Ekonomi",
        "Consumer protection: goods, services, financial products",
        ("konsumen", "pinjol", "produk"),
    ),
    Service(
        "pertanahan",
        "Sengketa Pertanahan",
        "Pertanahan",
        "Land disputes and certificates",
        ("tanah", "sertifikat", "bpn"),
    ),
    Service(
        "air-bersih",
        "Sanitasi dan Air Bersih",
        "Infrastruktur",
        "Sanitation and clean water",
        ("air", "pdam", "sanitasi"),
    ),
    Service(
        "stunting",
        "Stunting",
        "Kesehatan",
        "Stunting prevention: nutrition, posyandu",
        ("stunting", "gizi", "posyandu"),
    ),
    OTHER,
)
_BY_CODE = {s.code: s for s in SERVICES}
_BY_NAME = {s.name.casefold(): s for s in SERVICES}
_NAMED = tuple(s.name for s in SERVICES if s is not OTHER)


def service_by_code(code: str) -> Service | None:
    return _BY_CODE.get(code)


def service_for(category: str | None) -> Service:
    """The service a complaint of `category` is shown under (`lainnya` outside the catalog)."""
    if category is None:
        return OTHER
    return _BY_NAME.get(category.strip().casefold(), OTHER)


@dataclass(frozen=True)
class RequestFilter:
    """What `GET requests.json` asked for, already checked by the door. `tracking_ids`, when
    given, overrides the other filters (as the spec says)."""

    tracking_ids: tuple[str, ...] = ()
    services: tuple[Service, ...] = ()  # empty: any
    statuses: frozenset[str] = frozenset()  # open / closed; empty: both
    start: datetime | None = None  # requested_datetime >= start
    end: datetime | None = None  # requested_datetime <= end
    limit: int = 1000


def select_requests(
    conn: Connection, wanted: RequestFilter, *, calendar: WorkingCalendar
) -> list[str]:
    """Tracking ids of the public (non-confidential) complaints `wanted` names, newest
    first, at most `wanted.limit`."""
    # A private MetaData: the query never registers anything in the shared live metadata.
    facts = ComplaintsModel(calendar=calendar, table_metadata=MetaData()).facts
    query = select(facts.c.tracking_id).where(facts.c.visibility != "confidential")
    if wanted.tracking_ids:
        query = query.where(facts.c.tracking_id.in_(wanted.tracking_ids))
    else:
        query = query.where(*_conditions(facts, wanted))
    query = query.order_by(facts.c.filed_at.desc(), facts.c.tracking_id.desc()).limit(wanted.limit)
    return list(conn.execute(query).scalars())


def _conditions(facts: Table, wanted: RequestFilter) -> list[ColumnElement[bool]]:
    closed = [str(s) for s in CLOSED_STATES]
    conditions = []
    if wanted.services:
        conditions.append(_shown_under(facts.c.category, wanted.services))
    if wanted.statuses == {OPEN}:
        conditions.append(facts.c.state.not_in(closed))
    elif wanted.statuses == {CLOSED}:
        conditions.append(facts.c.state.in_(closed))
    if wanted.start is not None:
        conditions.append(facts.c.filed_at >= wanted.start)
    if wanted.end is not None:
        conditions.append(facts.c.filed_at <= wanted.end)
    return conditions


def _shown_under(category: ColumnElement[str], services: Iterable[Service]) -> ColumnElement[bool]:
    """The complaints `service_for` puts under one of `services`: their categories (without
    case), and for `lainnya` every category outside the catalog, or none."""
    chosen = list(services)
    lowered = func.lower(category)
    names = [s.name.casefold() for s in chosen if s is not OTHER]
    shown: list[ColumnElement[bool]] = [lowered.in_(names)]
    if OTHER in chosen:
        known = [name.casefold() for name in _NAMED]
        shown.append(or_(category.is_(None), lowered.not_in(known)))
    return or_(*shown)

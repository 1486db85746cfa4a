"""One short Indonesian sentence per event, for the public tracking page, and the event's
public text. Pure.

Sentences are built from codes and fixed phrases only, never from free text: the page shows
an event's public text beside its sentence (`public_text`, chosen by
aggregates.disclosure), and internal notes never. Agency codes are not personal data (the
page puts each agency's name beside its code when it is read); actor ids never appear.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from lapor_es.aggregates.disclosure import PUBLIC_TEXT_FIELDS
from lapor_es.contract.payloads import (
    AnyPayload,
    Archived,
    DuplicateMerged,
    Escalated,
    Filed,
    Forwarded,
    ForwardingDeclined,
    InformationSupplemented,
    Merged,
    Postponed,
    Reopened,
    ReporterErased,
    ReporterReplied,
    Resolved,
    Responded,
    SlaBreached,
    SlaWarned,
    Verified,
    VisibilityChanged,
    WorkStarted,
)
from lapor_es.workflow import JAKARTA

NATIONAL_DESK = "LAPOR"  # the desk's agency code (application.NATIONAL_DESK)

CHANNELS = {
    "web": "situs web",
    "sms-1708": "SMS 1708",
    "android": "aplikasi Android",
    "ios": "aplikasi iOS",
    "social": "media sosial",
    "api": "API",
}
ARCHIVE_REASONS = {
    "wrong_format": "kesalahan format",
    "too_general": "masukan terlalu umum",
    "not_government": "tidak relevan dengan kinerja pemerintah",
    "no_supplement": "pelapor tidak melengkapi informasi",
    "spam": "spam",
    "duplicate": "duplikat",
    "other": "alasan lain",
}
CLOCKS = {
    "verification": "verifikasi",
    "follow_up": "tindak lanjut",
    "auto_resolve": "tanggapan pelapor",
}
VISIBILITIES = {"public": "publik", "anonymous": "anonim", "confidential": "rahasia"}
RESOLUTIONS = {
    "confirmed_by_reporter": "Laporan selesai: dikonfirmasi oleh pelapor",
    "auto_closed": "Laporan selesai: ditutup otomatis setelah batas waktu tanggapan pelapor",
    "by_admin": "Laporan diselesaikan oleh admin nasional",
}
REPLIES = {
    "comment": "Pelapor memberikan komentar",
    "dispute": "Pelapor menyanggah tanggapan; laporan kembali diproses",
    "confirm": "Pelapor menyatakan tanggapan sudah sesuai",
}


def _desk_or(agency: str) -> str:
    return "admin nasional" if agency == NATIONAL_DESK else agency


def _deadline(due_at: datetime) -> str:
    """A due time (00:00 WIB of the day after the last working day) as that last day."""
    return (due_at.astimezone(JAKARTA) - timedelta(microseconds=1)).strftime("%d-%m-%Y")


def summarize(payload: AnyPayload) -> str:
    """The public sentence for one event."""
    match payload:
        case Filed():
            return f"Laporan diterima melalui {CHANNELS[payload.channel]}"
        case Postponed():
            return "Laporan ditunda: menunggu informasi tambahan dari pelapor"
        case InformationSupplemented():
            return "Pelapor melengkapi informasi; laporan menunggu verifikasi"
        case Archived():
            return f"Laporan diarsipkan ({ARCHIVE_REASONS[payload.reason]})"
        case Verified():
            return "Laporan diverifikasi oleh admin nasional"
        case Forwarded() if payload.from_agency is None:
            return f"Laporan diteruskan ke {payload.to_agency}"
        case Forwarded():
            return f"Laporan didisposisikan oleh {payload.from_agency} ke {payload.to_agency}"
        case ForwardingDeclined():
            back = _desk_or(payload.returned_to or NATIONAL_DESK)
            return f"{payload.agency} menyatakan bukan wewenangnya; laporan dikembalikan ke {back}"
        case WorkStarted():
            return f"{payload.agency} mulai menindaklanjuti laporan"
        case Responded() if payload.kind == "final":
            return f"{payload.agency} memberikan tanggapan akhir"
        case Responded():
            return f"{payload.agency} memberikan tanggapan sementara"
        case ReporterReplied():
            return REPLIES[payload.kind]
        case Resolved():
            return RESOLUTIONS[payload.mode]
        case Reopened():
            return "Laporan dibuka kembali oleh admin nasional"
        case Merged():
            return f"Laporan digabungkan dengan {payload.into_tracking_id}"
        case DuplicateMerged():
            return f"Laporan duplikat {payload.duplicate_tracking_id} digabungkan ke laporan ini"
        case SlaWarned():
            return (
                f"Pengingat: batas waktu {CLOCKS[payload.clock]} berakhir "
                f"{_deadline(payload.due_at)}"
            )
        case SlaBreached():
            return f"Batas waktu {CLOCKS[payload.clock]} terlewati ({_deadline(payload.due_at)})"
        case Escalated():
            return f"Laporan dieskalasi ke {_desk_or(payload.to_agency)}"
        case VisibilityChanged():
            return f"Sifat laporan diubah menjadi {VISIBILITIES[payload.new]}"
        case ReporterErased():
            return "Data identitas pelapor dihapus atas permintaan"
    raise ValueError(f"no summary for event type {payload.type}")


def event_agency(payload: AnyPayload) -> str | None:
    """The agency an entry is about: where it went, or who acted."""
    match payload:
        case Forwarded() | Escalated():
            return payload.to_agency
        case ForwardingDeclined() | WorkStarted() | Responded():
            return payload.agency
    return payload.actor_agency


def public_text(payload: AnyPayload) -> str | None:
    """The event's text the public may read (a response, a reply, ...), or None."""
    field = PUBLIC_TEXT_FIELDS.get(payload.type)
    text = getattr(payload, field, None) if field else None
    return text if isinstance(text, str) and text.strip() else None


def with_agency_names(summary: str, name_of: Callable[[str], str | None]) -> str:
    """The sentence with each agency code in it shown as "Name (CODE)".

    Sentences are fixed lower-case phrases with agency codes as whole words, so a word that
    `name_of` knows is a code (tracking ids and dates are not agency codes)."""
    return " ".join(_named(word, name_of) for word in summary.split(" "))


def _named(word: str, name_of: Callable[[str], str | None]) -> str:
    name = name_of(word) if word.isupper() else None
    return f"{name} ({word})" if name else word

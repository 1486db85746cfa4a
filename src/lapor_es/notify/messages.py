"""Which events the reporter hears about, and what they are told (in Indonesian).

Only the public payload goes in: the text never contains the reporter's identity, which is
decrypted at send time only to address the message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lapor_es.contract.payloads import (
    AnyPayload,
    Archived,
    Escalated,
    Merged,
    Postponed,
    Resolved,
    Responded,
    Verified,
)
from lapor_es.workflow import JAKARTA

# The events that notify: verification, postponement, each response, escalation, closure
# (archiving, or merging into another report: the reporter follows that one instead).
NOTIFYING = frozenset(
    {"Verified", "Postponed", "Responded", "Escalated", "Resolved", "Archived", "Merged"}
)

AgencyName = Callable[[str], str]  # agency code -> its name (the code when unknown)

_ARCHIVE_REASONS = {
    "wrong_format": "format laporan tidak sesuai",
    "too_general": "laporan terlalu umum",
    "not_government": "bukan kewenangan instansi pemerintah",
    "no_supplement": "informasi tambahan tidak dilengkapi",
    "spam": "laporan dianggap spam",
    "duplicate": "laporan yang sama sudah ada",
    "other": "alasan lain",
}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def wib(moment: datetime) -> str:
    return moment.astimezone(JAKARTA).strftime("%d-%m-%Y %H:%M WIB")


def message_for(payload: AnyPayload, agency_name: AgencyName) -> Message | None:
    """The message for one event, or None when the reporter is not told about it."""
    tid = payload.tracking_id
    if isinstance(payload, Verified):
        return Message(
            f"Laporan {tid} telah diverifikasi",
            f"Laporan Anda {tid} ({payload.title}) telah diverifikasi dan akan diteruskan "
            "kepada instansi yang berwenang.",
        )
    if isinstance(payload, Postponed):
        return Message(
            f"Laporan {tid} ditunda",
            f"Laporan Anda {tid} ditunda: {payload.reason}. Mohon lengkapi informasi laporan "
            "Anda agar dapat diproses.",
        )
    if isinstance(payload, Responded):
        return _responded(payload, agency_name)
    if isinstance(payload, Escalated):
        return Message(
            f"Laporan {tid} dieskalasi",
            f"Batas waktu tindak lanjut laporan Anda {tid} terlewati; laporan dieskalasi "
            f"kepada {agency_name(payload.to_agency)}.",
        )
    if isinstance(payload, Resolved):
        return Message(f"Laporan {tid} selesai", _closure(tid, payload.mode))
    if isinstance(payload, Archived):
        return Message(
            f"Laporan {tid} diarsipkan",
            f"Laporan Anda {tid} diarsipkan: {_ARCHIVE_REASONS[payload.reason]}.",
        )
    if isinstance(payload, Merged):
        into = payload.into_tracking_id
        return Message(
            f"Laporan {tid} digabungkan dengan {into}",
            f"Laporan Anda {tid} menyampaikan masalah yang sama dengan laporan {into} dan "
            f"telah digabungkan ke laporan tersebut. Tindak lanjutnya dapat dipantau melalui "
            f"nomor {into}.",
        )
    return None


def _responded(payload: Responded, agency_name: AgencyName) -> Message:
    tid = payload.tracking_id
    agency = agency_name(payload.agency)
    lines = [f"Tanggapan {agency} atas laporan Anda {tid}:", payload.text]
    if payload.kind == "final" and payload.auto_resolve_due_at is not None:
        lines.append(
            "Jika Anda tidak memberi tanggapan sampai "
            f"{wib(payload.auto_resolve_due_at)}, laporan akan ditutup otomatis."
        )
    kind = "Tanggapan akhir" if payload.kind == "final" else "Tindak lanjut"
    return Message(f"{kind} atas laporan {tid}", "\n".join(lines))


def _closure(tid: str, mode: str) -> str:
    if mode == "confirmed_by_reporter":
        return f"Laporan Anda {tid} telah selesai. Terima kasih atas konfirmasi Anda."
    if mode == "auto_closed":
        return (
            f"Laporan Anda {tid} ditutup otomatis karena tidak ada tanggapan dari Anda "
            "dalam batas waktu."
        )
    return f"Laporan Anda {tid} ditutup oleh admin."

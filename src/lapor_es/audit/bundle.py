"""Audit bundles: complaints' full public histories, hashed and signed, checkable offline.

A bundle is a directory or a .zip holding

- `events.jsonl`: one canonical public payload per line (the exact bytes published on the
  topic), complaint by complaint, in version order;
- `manifest.json`: per complaint its count, first/last version and head hash, the SHA-256
  of events.jsonl, the export time and the source;
- `manifest.sig`: the Ed25519 signature of the bytes of manifest.json;
- `public_key.pem`: the signer's public key (a convenience: an auditor checks against the
  key they obtained separately, see docs/audit.md);
- `checkpoint.json`: a signed checkpoint of every chain head of the store at export time
  (audit/checkpoint.py), listed in the manifest's `attachments` with its SHA-256.

Signing the manifest, which carries the digest of the events, signs everything; the hash
chains inside make any edit, removal or reordering of an event visible on their own.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.utils import get_topic

from lapor_es.aggregates import Complaint
from lapor_es.contract.chainstate import ChainChecker, Where
from lapor_es.contract.payloads import encode_payload, public_payload

FORMAT = "lapor-es-audit-bundle/1"
EVENTS, MANIFEST, SIGNATURE, PUBLIC_KEY = (
    "events.jsonl",
    "manifest.json",
    "manifest.sig",
    "public_key.pem",
)
CHECKPOINT = "checkpoint.json"


# ------------------------------------------------------------------ keys
def load_or_create_key(path: Path | None, default: Path) -> tuple[Ed25519PrivateKey, Path, bool]:
    """The signing key at `path`; without one, the key at `default`, generated if absent.

    Returns (key, where it lives, whether it was just generated).
    """
    where = path or default
    if where.exists():
        key = serialization.load_pem_private_key(where.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{where} is not an Ed25519 private key")
        return key, where, False
    if path is not None:
        raise FileNotFoundError(f"signing key {path} does not exist")
    key = Ed25519PrivateKey.generate()
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    where.chmod(0o600)
    return key, where, True


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# ------------------------------------------------------------------ selecting
def filed_between(
    recorder: ApplicationRecorder, mapper: Mapper[Any], start: datetime, end: datetime
) -> list[UUID]:
    """Complaints filed in [start, end), in filing (store) order."""
    topics = [get_topic(Complaint.Filed)]
    found: list[UUID] = []
    position = 0
    while page := recorder.select_notifications(
        start=position, limit=2000, topics=topics, inclusive_of_start=False
    ):
        for notification in page:
            event = mapper.to_domain_event(notification)
            if isinstance(event, Complaint.Filed) and start <= event.at < end:
                found.append(event.originator_id)
        position = page[-1].id
    return found


def histories(
    complaint_ids: Iterable[UUID], get_history: Callable[[UUID], Iterable[Any]]
) -> Iterator[list[dict[str, Any]]]:
    """Each complaint's full public history from the store (one at a time: bounded memory)."""
    for complaint_id in complaint_ids:
        yield [public_payload(e) for e in get_history(complaint_id)]


# ------------------------------------------------------------------ writing
def bundle_files(
    histories: Iterable[Sequence[Mapping[str, Any]]],
    key: Ed25519PrivateKey,
    *,
    source: str,
    selection: Mapping[str, Any],
    exported_at: datetime,
    attachments: Mapping[str, bytes] | None = None,
) -> dict[str, bytes]:
    """File name -> bytes of a bundle of the given histories (one list per complaint);
    `attachments` (name -> bytes) are added and their SHA-256 signed in the manifest."""
    attachments = dict(attachments or {})
    events = io.BytesIO()
    complaints: list[dict[str, Any]] = []
    for history in histories:
        if not history:
            continue
        for payload in history:
            events.write(encode_payload(dict(payload)) + b"\n")
        complaints.append(
            {
                "complaint_id": history[0]["complaint_id"],
                "tracking_id": history[0]["tracking_id"],
                "count": len(history),
                "first_version": history[0]["version"],
                "last_version": history[-1]["version"],
                "head_hash": history[-1]["event_hash"],
            }
        )
    data = events.getvalue()
    manifest = {
        "format": FORMAT,
        "exported_at": exported_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "source": source,
        "selection": dict(selection),
        "events_file": EVENTS,
        "events_sha256": hashlib.sha256(data).hexdigest(),
        "event_count": sum(c["count"] for c in complaints),
        "complaints": complaints,
        "attachments": {
            name: hashlib.sha256(data).hexdigest() for name, data in attachments.items()
        },
        "signature": {"algorithm": "Ed25519", "file": SIGNATURE, "signed": MANIFEST},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    return {
        EVENTS: data,
        MANIFEST: manifest_bytes,
        SIGNATURE: key.sign(manifest_bytes),
        PUBLIC_KEY: public_pem(key),
        **attachments,
    }


def write_bundle(files: Mapping[str, bytes], out: Path) -> None:
    """A .zip if `out` ends in .zip, else a directory (which must not hold a bundle yet)."""
    if out.suffix == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).exists():
        raise FileExistsError(f"{out} already holds a bundle")
    for name, data in files.items():
        (out / name).write_bytes(data)


# ------------------------------------------------------------------ checking
@dataclass
class BundleCheck:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complaints: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def read_bundle(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def check_bundle(path: Path, public_key: bytes | None = None) -> BundleCheck:
    """Verify a bundle offline: signature, events digest, every chain, the manifest's counts.

    `public_key`: the signer's PEM as obtained by the auditor; without it the bundle's own
    copy is used, which proves integrity but not who signed (said in the notes).
    """
    result = BundleCheck()
    try:
        files = read_bundle(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"cannot read the bundle: {exc}")
        return result
    missing = [n for n in (EVENTS, MANIFEST, SIGNATURE) if n not in files]
    if missing:
        result.problems.append(f"bundle lacks {', '.join(missing)}")
        return result
    _check_signature(files, public_key, result)
    try:
        manifest = json.loads(files[MANIFEST])
    except ValueError:
        result.problems.append("manifest.json is not JSON")
        return result
    digest = hashlib.sha256(files[EVENTS]).hexdigest()
    if digest != manifest.get("events_sha256"):
        result.problems.append(
            f"events.jsonl has SHA-256 {digest}, the manifest says {manifest.get('events_sha256')}"
            ": the events were changed after export"
        )
    _check_chains(files[EVENTS], manifest, result)
    for name, digest in manifest.get("attachments", {}).items():
        if name not in files:
            result.problems.append(f"{name} is listed in the manifest but not in the bundle")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            result.problems.append(f"{name} was changed after export (SHA-256 differs)")
    return result


def _check_signature(files: Mapping[str, bytes], pem: bytes | None, result: BundleCheck) -> None:
    if pem is None:
        pem = files.get(PUBLIC_KEY)
        result.notes.append(
            "signature checked against the bundle's own public_key.pem: this proves the bundle "
            "is intact, not who signed it; pass the signer's key with --public-key"
        )
    if pem is None:
        result.problems.append("no public key to check the signature with")
        return
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        result.problems.append("the public key is not an Ed25519 key")
        return
    try:
        key.verify(files[SIGNATURE], files[MANIFEST])
    except InvalidSignature:
        result.problems.append("manifest.sig is not a valid signature of manifest.json by this key")


def _check_chains(data: bytes, manifest: Mapping[str, Any], result: BundleCheck) -> None:
    checker = ChainChecker("bundle")
    counts: dict[str, list[int]] = {}  # complaint -> [count, first, last]
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            payload = json.loads(line)
        except ValueError:
            result.problems.append(f"events.jsonl line {number} is not JSON")
            continue
        if not isinstance(payload, dict):
            result.problems.append(f"events.jsonl line {number} is not a JSON object")
            continue
        checker.observe(payload, Where(position=number))
        seen = counts.setdefault(str(payload.get("complaint_id")), [0, 0, 0])
        seen[0] += 1
        seen[1] = seen[1] or int(payload.get("version") or 0)
        seen[2] = int(payload.get("version") or 0)
    checker.finish()
    for f in checker.findings:
        result.problems.append(
            f"{f.kind}: complaint {f.tracking_id or f.complaint_id} version {f.version} "
            f"(events.jsonl line {f.position}): {f.detail}"
        )
    listed = {str(c.get("complaint_id")): c for c in manifest.get("complaints", [])}
    for cid, (count, first, last) in counts.items():
        entry = listed.pop(cid, None)
        if entry is None:
            result.problems.append(f"complaint {cid} is in events.jsonl but not in the manifest")
            continue
        head = checker.chains[cid].slot(last).hex()
        if (entry.get("count"), entry.get("first_version"), entry.get("last_version")) != (
            count,
            first,
            last,
        ) or entry.get("head_hash") != head:
            result.problems.append(
                f"complaint {entry.get('tracking_id')}: the manifest says {entry.get('count')} "
                f"events v{entry.get('first_version')}..v{entry.get('last_version')} head "
                f"{str(entry.get('head_hash'))[:16]}..., events.jsonl has {count} "
                f"v{first}..v{last} head {head[:16]}..."
            )
        if first != 1:
            result.problems.append(f"complaint {cid}: history starts at version {first}, not 1")
    for cid in listed:
        result.problems.append(f"complaint {cid} is in the manifest but not in events.jsonl")
    result.complaints, result.events = len(counts), checker.events

"""Signed checkpoints of every chain head: the anchor that catches a recomputed tail.

A hash chain shows any change to an event whose successor is intact, but whoever can
write the store can also rewrite a complaint's LAST event and recompute its hash, or
delete it: nothing after it is left to disagree. A checkpoint, taken periodically and
published where the store's writers cannot reach it (Kafka topic
`lapor.audit.checkpoints.v1`, audit exports, files kept by the auditor), fixes every head:

- `summary` (signed with the Ed25519 audit key, over its canonical JSON): the
  notification-log position it was taken at, per-year tracking-number high-water marks,
  counts, and SHA-256 digests of the complaint heads and of the directory's heads;
- `chains` (bound to the summary by those digests, so unsigned itself): each complaint's
  and agency's (version, head hash) at that position. The Kafka record leaves it out
  (size); the file keeps it, so a mismatch can name the chain.

`audit verify --checkpoint FILE` rebuilds the heads as they stood at the checkpoint's
position and compares: a tail rewritten or deleted BEFORE the checkpoint is a
`checkpoint_mismatch`; one rewritten after the last checkpoint is not detectable by it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lapor_es.audit.store import StoreScan
from lapor_es.contract import topics
from lapor_es.contract.audit_records import CHECKPOINT_FORMAT
from lapor_es.contract.chainstate import Finding
from lapor_es.kafka import clients
from lapor_es.kafka.relay import ensure_topic
from lapor_es.kafka.settings import KafkaSettings

FORMAT = CHECKPOINT_FORMAT
TOPIC = topics.AUDIT_CHECKPOINTS
Heads = dict[str, tuple[int, str]]


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted: unreadable, badly signed, or inconsistent."""


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def heads_digest(heads: Mapping[str, tuple[int, str]]) -> str:
    """SHA-256 of one line "<id> <version> <hash>\\n" per chain, sorted by id."""
    digest = hashlib.sha256()
    for chain_id in sorted(heads):
        version, head = heads[chain_id]
        digest.update(f"{chain_id} {version} {head}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    summary: dict[str, Any]
    signature: bytes
    chains: dict[str, dict[str, list[Any]]] | None = None  # None: the Kafka form
    notes: list[str] = field(default_factory=list)

    @property
    def position(self) -> int:
        return int(self.summary["position"])

    def to_json(self, *, with_chains: bool = True) -> bytes:
        document: dict[str, Any] = {
            "summary": self.summary,
            "signature": base64.b64encode(self.signature).decode(),
        }
        if with_chains and self.chains is not None:
            document["chains"] = self.chains
        return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def heads_at(stored: StoreScan, position: int) -> tuple[Heads, Heads]:
    """(complaint heads, agency heads) as they stood at `position`."""
    return stored.complaints.heads(upto=position), stored.agencies.heads(upto=position)


def take(stored: StoreScan, key: Ed25519PrivateKey, *, source: str, now: datetime) -> Checkpoint:
    """A signed checkpoint of the heads a finished store pass found."""
    complaints, agencies = heads_at(stored, stored.head)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    summary = {
        "format": FORMAT,
        "taken_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "source": source,
        "position": stored.head,
        "complaints": len(complaints),
        "complaint_heads_sha256": heads_digest(complaints),
        "agencies": len(agencies),
        "directory_heads_sha256": heads_digest(agencies),
        "tracking_high_water": stored.tracking_high_water(stored.head),
        "public_key": public_pem.decode(),
    }
    chains = {
        "complaint": {k: [v, h] for k, (v, h) in sorted(complaints.items())},
        "agency": {k: [v, h] for k, (v, h) in sorted(agencies.items())},
    }
    return Checkpoint(summary, key.sign(canonical(summary)), chains)


def load(data: bytes, public_key: bytes | None = None) -> Checkpoint:
    """Read and check a checkpoint (file or Kafka form). `public_key`: the signer's PEM as
    the auditor obtained it; without it the checkpoint's own copy is used (said in notes)."""
    try:
        document = json.loads(data)
        summary, signature = document["summary"], base64.b64decode(document["signature"])
        chains = document.get("chains")
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"not a checkpoint: {exc}") from exc
    if not isinstance(summary, dict) or summary.get("format") != FORMAT:
        raise CheckpointError(f"not a {FORMAT} checkpoint")
    notes = []
    if public_key is None:
        public_key = str(summary.get("public_key", "")).encode()
        notes.append(
            "checkpoint signature checked against its own public key: this proves it is "
            "intact, not who signed it; pass the signer's key with --public-key"
        )
    try:
        key = serialization.load_pem_public_key(public_key)
    except ValueError as exc:
        raise CheckpointError(f"unusable public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("the public key is not an Ed25519 key")
    try:
        key.verify(signature, canonical(summary))
    except InvalidSignature as exc:
        raise CheckpointError("the checkpoint's signature does not verify") from exc
    if chains is not None:
        for name, digest_field in (
            ("complaint", "complaint_heads_sha256"),
            ("agency", "directory_heads_sha256"),
        ):
            heads = {k: (int(v), str(h)) for k, (v, h) in chains.get(name, {}).items()}
            if heads_digest(heads) != summary[digest_field]:
                raise CheckpointError(f"its {name} heads do not match the signed {digest_field}")
    return Checkpoint(summary, signature, chains, notes)


def compare_checkpoint(checkpoint: Checkpoint, stored: StoreScan) -> list[Finding]:
    """Where the store, as it stood at the checkpoint's position, differs from it."""
    position = checkpoint.position
    findings: list[Finding] = []

    def report(stream: str, chain_id: str, label: str | None, version: int, detail: str) -> None:
        findings.append(
            Finding(
                complaint_id=chain_id,
                tracking_id=label,
                version=version,
                source="store",
                kind="checkpoint_mismatch",
                detail=detail,
                position=position,
                stream=stream,
            )
        )

    if stored.head < position:
        report(
            "store",
            "",
            None,
            0,
            f"the store ends at position {stored.head}, the checkpoint was taken at "
            f"{position}: events at the end of the log were deleted",
        )
    complaints, agencies = heads_at(stored, position)
    for name, heads, checker, digest_field in (
        ("complaint", complaints, stored.complaints, "complaint_heads_sha256"),
        ("agency", agencies, stored.agencies, "directory_heads_sha256"),
    ):
        if checkpoint.chains is None:
            if heads_digest(heads) != checkpoint.summary[digest_field]:
                report(
                    name,
                    "",
                    None,
                    0,
                    f"the {name} heads at position {position} differ from the signed "
                    f"{digest_field}; the checkpoint file (with its chains) names them",
                )
            continue
        anchored = {k: (int(v), str(h)) for k, (v, h) in checkpoint.chains[name].items()}
        for chain_id in sorted(set(anchored) | set(heads)):
            chain = checker.chains.get(chain_id)
            label = chain.tracking_id if chain else None
            detail = _head_difference(anchored.get(chain_id), heads.get(chain_id))
            if detail is not None:
                version = (anchored.get(chain_id) or heads.get(chain_id) or (0, ""))[0]
                report(name, chain_id, label, version, detail)
    marks = stored.tracking_high_water(position)
    for year, anchored_mark in sorted(checkpoint.summary["tracking_high_water"].items()):
        if marks.get(year, 0) != anchored_mark:
            report(
                "store",
                "",
                None,
                0,
                f"tracking numbers of {year} reach {marks.get(year, 0)} at position "
                f"{position}, the checkpoint says {anchored_mark}",
            )
    return findings


def _head_difference(anchored: tuple[int, str] | None, held: tuple[int, str] | None) -> str | None:
    if anchored == held:
        return None
    if anchored is None:
        return "in the store at or before the checkpoint's position, but not in the checkpoint"
    if held is None:
        return f"the checkpoint holds version {anchored[0]}; the store has none of it (deleted)"
    if held[0] < anchored[0]:
        return f"the checkpoint holds version {anchored[0]}, the store ends at {held[0]} (deleted)"
    if held[0] > anchored[0]:
        return (
            f"version {held[0]} is stored at or before the checkpoint, which ends at {anchored[0]}"
        )
    return (
        f"head of version {held[0]} is {held[1][:16]}..., the checkpoint says "
        f"{anchored[1][:16]}...: the tail was rewritten and its hashes recomputed"
    )


def publish(checkpoint: Checkpoint, kafka: KafkaSettings) -> None:
    """Append the checkpoint (summary and signature) to the checkpoint topic."""
    settings = replace(kafka, topic=TOPIC, partitions=1)
    ensure_topic(settings)
    producer = clients.producer(settings, client_id=f"{kafka.client_id}-checkpoint")
    try:
        producer.send(
            TOPIC,
            key=b"checkpoint",
            value=checkpoint.to_json(with_chains=False),
            headers=[("content-type", b"application/json")],
        ).get(timeout=60)
        producer.flush()
    finally:
        producer.close()

"""The record `lapor-es audit checkpoint` appends to lapor.audit.checkpoints.v1.

Key `checkpoint`, value the JSON below: the signed summary of every chain head at one
notification-log position, and its Ed25519 signature. The file form (audit exports, --out)
adds `chains`, each chain's head, which the Kafka record leaves out for size. What the
fields mean and how `audit verify --checkpoint` uses them: audit/checkpoint.py, docs/audit.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lapor_es.contract.payloads import Hash

CHECKPOINT_FORMAT = "lapor-es-audit-checkpoint/1"


class CheckpointSummary(BaseModel):
    """The signed part: the signature covers its canonical JSON (keys sorted, no spaces)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["lapor-es-audit-checkpoint/1"]
    taken_at: str = Field(description="when it was taken, UTC YYYY-MM-DDTHH:MM:SS.ffffffZ")
    source: str = Field(description="what was scanned, e.g. 'event store'")
    position: int = Field(ge=0, description="notification-log position the heads stand at")
    complaints: int = Field(ge=0, description="complaint chains at that position")
    complaint_heads_sha256: Hash = Field(
        description="SHA-256 of one line `<id> <version> <head hash>\\n` per complaint, "
        "sorted by id"
    )
    agencies: int = Field(ge=0, description="agency directory chains at that position")
    directory_heads_sha256: Hash = Field(description="the same digest over the agency chains")
    tracking_high_water: dict[str, int] = Field(
        description="per year, the highest tracking number issued at that position"
    )
    public_key: str = Field(description="the signer's Ed25519 public key, PEM")


class CheckpointRecord(BaseModel):
    """The value of a record on lapor.audit.checkpoints.v1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: CheckpointSummary
    signature: str = Field(description="Ed25519 signature of the summary's canonical JSON, base64")

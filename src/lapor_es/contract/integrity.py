"""Verify one complaint's published history: versions, hash chain, payload hashes.

Pure functions over payload dicts, so the same check runs on the topic, on the store,
and on an exported bundle an auditor verifies offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lapor_es.aggregates.chain import GENESIS, payload_hash

Kind = Literal[
    "modified",
    "missing",
    "reordered",
    "forged",
    "duplicated",
    # Found by the store pass of an audit (lapor_es.audit.store) and its checkpoint check:
    "unknown_topic",  # a stored event whose topic is not a lapor-es event of its stream
    "tracking_gap",  # a tracking number without its complaint, or one never issued
    "position_gap",  # notification-log positions absent where the store leaves no gaps
    "snapshot_mismatch",  # a stored snapshot that replaying its events does not produce
    "checkpoint_mismatch",  # the store disagrees with a signed checkpoint of chain heads
]


@dataclass(frozen=True)
class Discrepancy:
    complaint_id: str
    version: int
    kind: Kind
    detail: str


def verify_history(payloads: Iterable[Mapping[str, Any]]) -> list[Discrepancy]:
    """Check the events of ONE complaint, in the order they were read.

    - modified: the payload's hash does not match its content;
    - missing: a version is skipped, or the chain's previous hash does not match;
    - reordered: versions go backwards;
    - duplicated: the same version appears twice with the same content;
    - forged: the same version appears twice with different content, or a payload whose
      hash is right but which does not link to its predecessor.
    """
    problems: list[Discrepancy] = []
    seen: dict[int, str] = {}
    expected_version, expected_prev = 1, GENESIS
    for payload in payloads:
        cid, version = str(payload.get("complaint_id")), int(payload.get("version", 0))
        own_hash = str(payload.get("event_hash"))
        intact = payload_hash(payload) == own_hash
        if version in seen:
            kind: Kind = "duplicated" if seen[version] == own_hash else "forged"
            problems.append(Discrepancy(cid, version, kind, f"version {version} appears again"))
            continue
        seen[version] = own_hash
        if not intact:
            problems.append(
                Discrepancy(cid, version, "modified", "payload does not match its event_hash")
            )
        if version < expected_version:
            problems.append(
                Discrepancy(
                    cid, version, "reordered", f"version {version} after {expected_version - 1}"
                )
            )
            continue
        if version > expected_version:
            problems.append(
                Discrepancy(
                    cid,
                    expected_version,
                    "missing",
                    f"versions {expected_version}..{version - 1} absent",
                )
            )
        elif payload.get("prev_hash") != expected_prev and intact:
            problems.append(
                Discrepancy(cid, version, "forged", "prev_hash does not link to the previous event")
            )
        expected_version, expected_prev = version + 1, own_hash
    return problems

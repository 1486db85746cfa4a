"""Streaming hash-chain verification with a small running state per complaint.

`integrity.verify_history` checks one complaint whose payloads are all in memory. An
auditor replaying millions of events cannot hold them, so `ChainChecker` keeps per
complaint only what the checks need: the 32-byte digest and the position of each version
seen (for duplicates, forgeries and the topic-vs-store comparison), the hash the next
event must link to, and the versions still absent. That is about 48 bytes an event and no
payloads. The kinds and their meaning are those of `integrity.py`.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lapor_es.aggregates.chain import GENESIS, payload_hash
from lapor_es.contract.integrity import Kind

Source = Literal["topic", "store", "both", "bundle"]

DIGEST = 32
# Slot values: a version never seen, and one seen but already reported (unreadable,
# modified, forged), which the topic-vs-store comparison must not report a second time.
ABSENT = bytes(DIGEST)
REPORTED = b"\xff" * DIGEST
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Where:
    """Where an event was read: a store position, or a topic partition/offset."""

    position: int | None = None  # global position (the store's, or ce_position on the topic)
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Finding:
    complaint_id: str
    tracking_id: str | None
    version: int
    source: Source
    kind: Kind
    detail: str
    position: int | None = None
    partition: int | None = None
    offset: int | None = None
    # Which kind of stream: "complaint" (complaint_id/tracking_id name it), "agency"
    # (the agency's id and code), or "store" for the log as a whole (positions, numbers).
    stream: str = "complaint"

    @property
    def where(self) -> str:
        parts = []
        if self.partition is not None:
            parts.append(f"partition {self.partition} offset {self.offset}")
        if self.position is not None:
            parts.append(f"position {self.position}")
        return ", ".join(parts) or "-"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Chain:
    """What is known of one complaint's chain so far."""

    tracking_id: str | None = None
    hashes: bytearray = field(default_factory=bytearray)  # version v at [(v-1)*32, v*32)
    positions: array[int] = field(default_factory=lambda: array("q"))  # -1: absent
    offsets: array[int] = field(default_factory=lambda: array("q"))  # topic only; -1 in store
    partition: int | None = None
    next_prev: str | None = GENESIS  # None: unknown (after an unreadable event)
    gaps: dict[int, Where] | None = None  # absent versions -> where the gap was noticed

    @property
    def last_version(self) -> int:
        return len(self.hashes) // DIGEST

    def slot(self, version: int) -> bytes:
        if version < 1 or version > self.last_version:
            return ABSENT
        return bytes(self.hashes[(version - 1) * DIGEST : version * DIGEST])

    def set(self, version: int, digest: bytes, where: Where) -> None:
        start = (version - 1) * DIGEST
        self.hashes[start : start + DIGEST] = digest
        self.positions[version - 1] = -1 if where.position is None else where.position
        self.offsets[version - 1] = -1 if where.offset is None else where.offset

    def extend_to(self, version: int) -> None:
        while self.last_version < version:
            self.hashes += ABSENT
            self.positions.append(-1)
            self.offsets.append(-1)

    def where(self, version: int) -> Where:
        index = version - 1
        position = self.positions[index] if self.positions[index] >= 0 else None
        offset = self.offsets[index] if self.offsets[index] >= 0 else None
        return Where(position, self.partition if offset is not None else None, offset)

    def present(self) -> Iterator[tuple[int, bytes]]:
        """(version, digest) of every version seen and not already reported."""
        for version in range(1, self.last_version + 1):
            digest = self.slot(version)
            if digest not in (ABSENT, REPORTED):
                yield version, digest


def digest_of(event_hash: object) -> bytes | None:
    return (
        bytes.fromhex(event_hash)
        if isinstance(event_hash, str) and HEX64.match(event_hash)
        else None
    )


class ChainChecker:
    """Feed it one source's events in read order; it collects findings as it goes.

    By default it checks complaint chains; `stream`, `id_field` and `label_field` let the
    same checks run over another chained stream (the agency directory: "agency",
    "agency_id", "code").
    """

    def __init__(
        self,
        source: Source,
        *,
        stream: str = "complaint",
        id_field: str = "complaint_id",
        label_field: str = "tracking_id",
    ) -> None:
        self.source: Source = source
        self.stream = stream
        self.id_field = id_field
        self.label_field = label_field
        self.chains: dict[str, Chain] = {}
        self.findings: list[Finding] = []
        self.events = 0

    def chain(self, complaint_id: str) -> Chain:
        chain = self.chains.get(complaint_id)
        if chain is None:
            chain = self.chains[complaint_id] = Chain()
        return chain

    def report(
        self, complaint_id: str, version: int, kind: Kind, detail: str, where: Where
    ) -> None:
        chain = self.chains.get(complaint_id)
        self.findings.append(
            Finding(
                complaint_id=complaint_id,
                tracking_id=chain.tracking_id if chain else None,
                version=version,
                source=self.source,
                kind=kind,
                detail=detail,
                position=where.position,
                partition=where.partition,
                offset=where.offset,
                stream=self.stream,
            )
        )

    def unreadable(
        self, complaint_id: str, version: int, where: Where, detail: str, kind: Kind = "modified"
    ) -> None:
        """An event whose content cannot even be read (or is not of this stream): reported
        once, and the chain goes on."""
        self.events += 1
        chain = self.chain(complaint_id)
        self._place(chain, complaint_id, version, where)
        if version >= 1:
            chain.set(version, REPORTED, where)
        chain.next_prev = None  # its hash is unknown, so the next link cannot be checked
        self.report(complaint_id, version, kind, detail, where)

    def unhashed(
        self, chain_id: str, version: int, label: str | None, marker: str, where: Where
    ) -> None:
        """An event stored before its stream was chained (it has `marker` for hashes): not
        checkable and not a finding; the next event must link to `marker`. One after a
        chained event of its stream was stripped of its hashes: forged."""
        self.events += 1
        chain = self.chain(chain_id)
        chain.tracking_id = chain.tracking_id or label
        if next(chain.present(), None) is not None:
            detail = "stored without hashes after its stream was hash-chained"
            self.report(chain_id, version, "forged", detail, where)
        self._place(chain, chain_id, version, where)
        chain.set(version, REPORTED, where)  # present, but nothing to compare
        chain.next_prev = marker

    def observe(self, payload: Mapping[str, Any], where: Where, *, flagged: bool = False) -> None:
        """One event's public payload. `flagged`: the caller already reported it."""
        self.events += 1
        complaint_id = str(payload.get(self.id_field))
        version_value = payload.get("version")
        version = version_value if isinstance(version_value, int) else 0
        own = payload.get("event_hash")
        chain = self.chain(complaint_id)
        if where.partition is not None:
            chain.partition = where.partition
        tracking = payload.get(self.label_field)
        if chain.tracking_id is None and isinstance(tracking, str):
            chain.tracking_id = tracking
        digest = digest_of(own)
        intact = digest is not None and payload_hash(payload) == own
        if version < 1:
            self.report(complaint_id, version, "forged", "version is not a positive integer", where)
            return
        if version <= chain.last_version:
            prev = payload.get("prev_hash")
            self._again(chain, complaint_id, version, digest, intact, where, str(prev))
            return
        self._place(chain, complaint_id, version, where)
        bad = flagged
        if not intact:
            self.report(
                complaint_id, version, "modified", "payload does not match its event_hash", where
            )
            bad = True
        elif (
            chain.next_prev is not None
            and (version == 1 or chain.slot(version - 1) != ABSENT)
            and payload.get("prev_hash") != (GENESIS if version == 1 else chain.next_prev)
        ):
            self.report(
                complaint_id,
                version,
                "forged",
                f"prev_hash does not link to version {version - 1}"
                + (" (and its hash is right: recomputed by someone)" if intact else ""),
                where,
            )
            bad = True
        chain.set(version, REPORTED if bad or digest is None else digest, where)
        chain.next_prev = own if isinstance(own, str) else None

    def _place(self, chain: Chain, complaint_id: str, version: int, where: Where) -> None:
        """Make room for `version` at the end of the chain, remembering any gap before it."""
        if version > chain.last_version + 1:
            chain.gaps = chain.gaps or {}
            for absent in range(chain.last_version + 1, version):
                chain.gaps[absent] = where
        chain.extend_to(version)

    def _again(
        self,
        chain: Chain,
        complaint_id: str,
        version: int,
        digest: bytes | None,
        intact: bool,
        where: Where,
        payload_prev: str,
    ) -> None:
        """A version at or below the last one seen: late, repeated or a second version."""
        held = chain.slot(version)
        if held == ABSENT:
            assert chain.gaps is not None  # an absent slot below the end is always a gap
            chain.gaps.pop(version, None)
            self.report(
                complaint_id,
                version,
                "reordered",
                f"version {version} arrived after version {chain.last_version}",
                where,
            )
            before = chain.slot(version - 1) if version > 1 else bytes.fromhex(GENESIS)
            if not intact:
                self.report(
                    complaint_id,
                    version,
                    "modified",
                    "payload does not match its event_hash",
                    where,
                )
            elif before not in (ABSENT, REPORTED) and payload_prev != before.hex():
                self.report(
                    complaint_id,
                    version,
                    "forged",
                    f"prev_hash does not link to version {version - 1}",
                    where,
                )
                intact = False
            chain.set(version, digest if intact and digest else REPORTED, where)
            return
        if digest is not None and held == digest and intact:
            self.report(
                complaint_id, version, "duplicated", f"version {version} appears again", where
            )
            return
        self.report(
            complaint_id,
            version,
            "forged",
            f"version {version} appears again with different content",
            where,
        )

    def heads(self, upto: int | None = None) -> dict[str, tuple[int, str]]:
        """Each chain's last version (at or before position `upto`) and its hash; a hash
        the checks could not trust reads "unverified"."""
        heads: dict[str, tuple[int, str]] = {}
        for chain_id, chain in self.chains.items():
            for version in range(chain.last_version, 0, -1):
                position = chain.positions[version - 1]
                digest = chain.slot(version)
                if digest == ABSENT or (upto is not None and not 0 <= position <= upto):
                    continue
                heads[chain_id] = (version, "unverified" if digest == REPORTED else digest.hex())
                break
        return heads

    def finish(self) -> None:
        """Report the versions that never arrived."""
        for complaint_id, chain in self.chains.items():
            for version, where in sorted((chain.gaps or {}).items()):
                self.report(
                    complaint_id,
                    version,
                    "missing",
                    f"version {version} absent (version {chain.last_version} is present)",
                    where,
                )
            chain.gaps = None

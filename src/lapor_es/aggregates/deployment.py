"""The deployment: the facts that make one store's identifiers its own (issue 10 item 9d).

Complaint ids are derived from tracking ids (a tracking id is then a direct lookup), but a
derivation from the tracking id alone gave every deployment the same UUID for
LAP-2023-0000001: ids of two deployments (a test and production store, two regions, a
restored copy beside a live one) collided in merged exports, Kafka keys and audits. Each store
now records, once, a random namespace of its own (`Deployment.Started`), and derives its
complaint ids in it.

A store made before this existed already holds complaints derived in the one shared namespace;
it records that one (`adopted_shared: true`), so each tracking id keeps mapping to the same
UUID for the life of the store.

The other derived ids stay shared on purpose: agency ids derive from agency codes (the
national directory is the same everywhere), registry ids (tracking sequences, idempotency
keys) never leave the store, and reporter ids derive from `reporter_ref`, itself an HMAC under
the deployment's own pepper, so they already differ between deployments.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

DEPLOYMENT_ID = uuid5(NAMESPACE_URL, "https://lapor.go.id/ns/deployment")
# The namespace every store used before each had its own (stores made before issue 10 item 9d).
SHARED_COMPLAINT_NAMESPACE = uuid5(NAMESPACE_URL, "https://lapor.go.id/ns/complaint")


class Deployment(Aggregate):
    """One per store, created by the first process that opens it; never changed."""

    class Started(Aggregate.Created):
        class_version = 1
        complaint_namespace: UUID
        adopted_shared: bool

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return DEPLOYMENT_ID

    @event(Started)
    def __init__(self, *, complaint_namespace: UUID, adopted_shared: bool) -> None:
        self.complaint_namespace = complaint_namespace
        self.adopted_shared = adopted_shared

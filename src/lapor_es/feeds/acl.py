"""Broker-enforced isolation of agency feeds: SCRAM users and ACLs (secured clusters).

With `allow.everyone.if.no.acl.found=false` and the StandardAuthorizer, a principal can do
nothing without an ALLOW ACL. An agency principal `User:agency-<CODE>` gets exactly:

- READ + DESCRIBE on its feed topic, LITERAL (a PREFIXED ACL on `lapor.agency.KEMENKES`
  would also match `lapor.agency.KEMENKES.YANKES.v1`, a unit's feed);
- READ on consumer groups PREFIXED `<CODE>:` (offset commits and resumption).

Nothing on lapor.complaints.v1 or any other feed, so reading them fails with
TopicAuthorizationFailedError.

Every worker runs under a principal of its own with only what its job needs (`WORKERS`):

- relay: write (and create, describe, read its own tail) on the complaints topic, under its
  transactional id;
- projector: read the complaints topic, its consumer group;
- router: read the complaints topic, write every feed (PREFIXED on the feed prefix), its
  own state/DLQ/control topics, its group and transactional id;
- auditor: read the complaints topic (no group: audits assign partitions by hand).

`lapor-es feeds grant` (agencies) and `lapor-es feeds grant-worker` (workers) apply them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
    UserScramCredentialUpsertion,
)

from lapor_es.contract.feeds import feed_topic
from lapor_es.feeds.router import FeedSettings
from lapor_es.feeds.subscriber import agency_group
from lapor_es.kafka import clients
from lapor_es.kafka.clients import Endpoint

READ = (ACLOperation.READ, ACLOperation.DESCRIBE)
TXN = (ACLOperation.WRITE, ACLOperation.DESCRIBE)

LITERAL = ACLResourcePatternType.LITERAL
PREFIXED = ACLResourcePatternType.PREFIXED


def agency_principal(agency: str) -> str:
    return f"agency-{agency}"


@dataclass(frozen=True)
class Grant:
    resource: ResourceType
    name: str
    pattern: ACLResourcePatternType
    operations: tuple[ACLOperation, ...]

    def acls(self, user: str) -> list[ACL]:
        return [
            ACL(
                principal=f"User:{user}",
                host="*",
                operation=op,
                permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePattern(self.resource, self.name, self.pattern),
            )
            for op in self.operations
        ]


def agency_grants(agency: str, feed_prefix: str = "lapor.agency.") -> list[Grant]:
    return [
        Grant(ResourceType.TOPIC, feed_topic(feed_prefix, agency), LITERAL, READ),
        Grant(ResourceType.GROUP, agency_group(agency, ""), PREFIXED, READ),
    ]


@dataclass(frozen=True)
class Names:
    """The resource names worker grants refer to (the settings' values)."""

    topic: str = "lapor.complaints.v1"
    relay_transactional_id: str = "lapor-es-relay"
    projector_group: str = "lapor-es-projector"
    feeds: FeedSettings | None = None


def relay_grants(names: Names) -> list[Grant]:
    # READ: on start the relay reads the topic's committed tail to find where it got to.
    own = (ACLOperation.WRITE, ACLOperation.READ, ACLOperation.DESCRIBE, ACLOperation.CREATE)
    return [
        Grant(ResourceType.TOPIC, names.topic, LITERAL, own),
        Grant(ResourceType.TRANSACTIONAL_ID, names.relay_transactional_id, LITERAL, TXN),
    ]


def projector_grants(names: Names) -> list[Grant]:
    return [
        Grant(ResourceType.TOPIC, names.topic, LITERAL, READ),
        Grant(ResourceType.GROUP, names.projector_group, LITERAL, READ),
    ]


def auditor_grants(names: Names) -> list[Grant]:
    return [Grant(ResourceType.TOPIC, names.topic, LITERAL, READ)]


def router_grants(feeds: FeedSettings) -> list[Grant]:
    write = (ACLOperation.WRITE, ACLOperation.DESCRIBE, ACLOperation.CREATE)
    own = (ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE, ACLOperation.CREATE)
    return [
        Grant(ResourceType.TOPIC, feeds.input_topic, LITERAL, READ),
        Grant(ResourceType.TOPIC, feeds.feed_prefix, PREFIXED, write),
        Grant(ResourceType.TOPIC, feeds.router_topics, PREFIXED, own),
        Grant(ResourceType.GROUP, feeds.router_id, LITERAL, READ),
        Grant(ResourceType.TRANSACTIONAL_ID, feeds.router_id, LITERAL, TXN),
    ]


def _router(names: Names) -> list[Grant]:
    if names.feeds is None:
        raise ValueError("router grants need the feed settings")
    return router_grants(names.feeds)


WORKERS: dict[str, Callable[[Names], list[Grant]]] = {
    "relay": relay_grants,
    "projector": projector_grants,
    "router": _router,
    "auditor": auditor_grants,
}


def admin(endpoint: Endpoint) -> KafkaAdminClient:
    """An admin client as the principal `endpoint.security` names (a super user)."""
    return clients.admin(endpoint, client_id="lapor-es-acl")


def upsert_user(client: KafkaAdminClient, user: str, password: str) -> None:
    """Create or change a SCRAM-SHA-512 user (AlterUserScramCredentials, KIP-554)."""
    result = client.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, "SCRAM-SHA-512", password)]
    )
    if result.get(user):
        raise RuntimeError(f"could not set credentials of {user}: {result[user]}")


def apply_grants(client: KafkaAdminClient, user: str, grants: list[Grant]) -> int:
    acls = [acl for grant in grants for acl in grant.acls(user)]
    result = client.create_acls(acls)
    failed = result.get("failed") or []
    if failed:
        raise RuntimeError(f"could not create ACLs for {user}: {failed}")
    return len(acls)


def grant(endpoint: Endpoint, user: str, password: str, grants: list[Grant]) -> int:
    """Create or update SCRAM user `user` and add its grants; returns the ACL count. Runs as
    the admin principal of `endpoint`."""
    client = admin(endpoint)
    try:
        upsert_user(client, user, password)
        return apply_grants(client, user, grants)
    finally:
        client.close()


def grant_agency(
    endpoint: Endpoint, agency: str, password: str, feed_prefix: str = "lapor.agency."
) -> str:
    """Create the agency's user and its read grants; returns the user name."""
    user = agency_principal(agency)
    grant(endpoint, user, password, agency_grants(agency, feed_prefix))
    return user


def grant_worker(endpoint: Endpoint, role: str, user: str, password: str, names: Names) -> int:
    """Create worker `user` with the least privileges of `role` (a key of WORKERS)."""
    if role not in WORKERS:
        raise ValueError(f"unknown worker role {role!r}; one of {sorted(WORKERS)}")
    return grant(endpoint, user, password, WORKERS[role](names))


def grant_router(admin_endpoint: Endpoint, feeds: FeedSettings, user: str, password: str) -> None:
    grant(admin_endpoint, user, password, router_grants(feeds))

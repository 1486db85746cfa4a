"""Broker-enforced isolation of agency feeds: SCRAM users and ACLs (secured clusters).

With `allow.everyone.if.no.acl.found=false` and the StandardAuthorizer, a principal can do
nothing without an ALLOW ACL. An agency principal `User:agency-<CODE>` gets exactly:

- READ + DESCRIBE on its feed topic, LITERAL (a PREFIXED ACL on `lapor.agency.KEMENKES`
  would also match `lapor.agency.KEMENKES.YANKES.v1`, a unit's feed);
- READ on consumer groups PREFIXED `<CODE>:` (offset commits and resumption).

Nothing on lapor.complaints.v1 or any other feed, so reading them fails with
TopicAuthorizationFailedError. The router principal reads the main topic and its own
topics, writes all feeds (PREFIXED on the feed prefix) under its transactional id.
"""

from __future__ import annotations

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
from lapor_es.kafka.security import KafkaSecurity

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
    read = (ACLOperation.READ, ACLOperation.DESCRIBE)
    return [
        Grant(ResourceType.TOPIC, feed_topic(feed_prefix, agency), LITERAL, read),
        Grant(ResourceType.GROUP, agency_group(agency, ""), PREFIXED, read),
    ]


def router_grants(feeds: FeedSettings) -> list[Grant]:
    read = (ACLOperation.READ, ACLOperation.DESCRIBE)
    write = (ACLOperation.WRITE, ACLOperation.DESCRIBE, ACLOperation.CREATE)
    own = (ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE, ACLOperation.CREATE)
    return [
        Grant(ResourceType.TOPIC, feeds.input_topic, LITERAL, read),
        Grant(ResourceType.TOPIC, feeds.feed_prefix, PREFIXED, write),
        Grant(ResourceType.TOPIC, feeds.router_topics, PREFIXED, own),
        Grant(ResourceType.GROUP, feeds.router_id, LITERAL, read),
        Grant(
            ResourceType.TRANSACTIONAL_ID,
            feeds.router_id,
            LITERAL,
            (ACLOperation.WRITE, ACLOperation.DESCRIBE),
        ),
    ]


def admin(bootstrap: str, security: KafkaSecurity) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="lapor-es-acl", **security.client_kwargs()
    )


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


def grant_agency(
    bootstrap: str,
    admin_security: KafkaSecurity,
    agency: str,
    password: str,
    feed_prefix: str = "lapor.agency.",
) -> str:
    """Create the agency's user and its read grants; returns the user name."""
    user = agency_principal(agency)
    client = admin(bootstrap, admin_security)
    try:
        upsert_user(client, user, password)
        apply_grants(client, user, agency_grants(agency, feed_prefix))
    finally:
        client.close()
    return user


def grant_router(
    admin_security: KafkaSecurity, feeds: FeedSettings, user: str, password: str
) -> None:
    client = admin(feeds.bootstrap, admin_security)
    try:
        upsert_user(client, user, password)
        apply_grants(client, user, router_grants(feeds))
    finally:
        client.close()

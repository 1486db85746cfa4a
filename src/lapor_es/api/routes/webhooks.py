"""An agency's webhook endpoints: its feed delivered over HTTPS (docs/webhooks.md).

Agency admins only, and each for its own agency: the endpoint receives that agency's feed
(`lapor.agency.<CODE>.v1`, with its units' complaints), nothing else. Another agency's
endpoint answers 404, as if it did not exist. The signing secret is in the answer to the
registration and never again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from lapor_es.api.deps import CallerDep, DoorDep, principal_with_role
from lapor_es.api.door import Door
from lapor_es.api.problems import Problem
from lapor_es.auth.policy import Caller
from lapor_es.auth.principals import Principal, PrincipalRole
from lapor_es.feeds.webhook_store import Subscription, WebhookStore, WebhooksUnavailable
from lapor_es.feeds.webhooks import check_url

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

WebhookId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{24}$", description="e.g. wh_5f0c...")]
UNAVAILABLE = {
    503: {
        "description": "Webhooks are off on this server (`unavailable`: no "
        "LAPOR_WEBHOOKS_SECRET_KEY), or the request took longer than the limit (`timeout`)",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
}


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8,
        max_length=2048,
        description="https:// endpoint that receives the agency's feed, one POST per record",
    )
    description: str | None = Field(None, max_length=256, description="for the agency's own use")


class Webhook(BaseModel):
    id: str
    agency: str
    url: str
    description: str | None
    created_at: str


class RegisteredWebhook(Webhook):
    secret: str = Field(
        description="whsec_...: the key of the webhook-signature header. Shown only now; "
        "store it in the receiver's secret store"
    )


class WebhookStatus(Webhook):
    deliveries: dict[str, int] = Field(
        description="records queued for this endpoint per status: pending, delivered, parked"
    )


def _agency_admin(caller: Caller) -> tuple[Principal, str]:
    principal = principal_with_role(caller, PrincipalRole.AGENCY_ADMIN)
    if principal.agency is None:  # the principal store refuses this; be safe anyway
        raise Problem("forbidden", "this agency admin is bound to no agency")
    return principal, principal.agency


def _store(door: Door) -> WebhookStore:
    if door.webhooks is None:
        raise Problem("unavailable", "webhooks are off on this server", status=503)
    return door.webhooks


def _own(store: WebhookStore, webhook_id: str, agency: str) -> Subscription:
    subscription = store.get(webhook_id)
    if subscription is None or subscription.agency != agency:
        raise Problem("not_found", f"no webhook {webhook_id}")
    return subscription


@router.post(
    "",
    status_code=201,
    summary="Register an endpoint for the caller's agency feed (the secret is shown once)",
    responses=UNAVAILABLE,  # type: ignore[arg-type]
)
def register(body: NewWebhook, door: DoorDep, caller: CallerDep) -> RegisteredWebhook:
    principal, agency = _agency_admin(caller)
    store = _store(door)
    try:
        url = check_url(body.url, allow_insecure=door.settings.webhooks_allow_insecure)
    except ValueError as exc:
        error = {"field": "url", "rule": "webhook_url", "message": str(exc)}
        raise Problem("validation_error", f"url: {exc}", errors=[error]) from None
    try:
        subscription, secret = store.create(
            agency, url, body.description, created_by=principal.id, now=door.clock()
        )
    except WebhooksUnavailable as exc:
        raise Problem("unavailable", str(exc), status=503) from None
    return RegisteredWebhook(**subscription.to_json(), secret=secret)


@router.get("", summary="The caller's agency endpoints", responses=UNAVAILABLE)  # type: ignore[arg-type]
def list_webhooks(door: DoorDep, caller: CallerDep) -> list[Webhook]:
    _, agency = _agency_admin(caller)
    return [Webhook(**s.to_json()) for s in _store(door).active(agency)]


@router.get(
    "/{webhook_id}",
    summary="One endpoint of the caller's agency, with its deliveries per status",
    responses=UNAVAILABLE,  # type: ignore[arg-type]
)
def get_webhook(webhook_id: WebhookId, door: DoorDep, caller: CallerDep) -> WebhookStatus:
    _, agency = _agency_admin(caller)
    store = _store(door)
    subscription = _own(store, webhook_id, agency)
    counts: dict[str, Any] = store.counts(subscription.id)
    return WebhookStatus(**subscription.to_json(), deliveries=counts)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    summary="Stop delivering to an endpoint of the caller's agency",
    responses=UNAVAILABLE,  # type: ignore[arg-type]
)
def delete_webhook(webhook_id: WebhookId, door: DoorDep, caller: CallerDep) -> Response:
    _, agency = _agency_admin(caller)
    store = _store(door)
    subscription = _own(store, webhook_id, agency)
    store.delete(subscription.id, door.clock())
    return Response(status_code=204)

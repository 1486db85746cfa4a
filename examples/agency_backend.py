"""An agency backend: subscribe to the agency's feed and act on complaints assigned to it.

It needs two things from LAPOR!, and no database access: its Kafka user (SCRAM on the
secured cluster, plaintext locally) to read its feed, and its agency token to act through
the HTTP door (`lapor-es principals add NAME --role agency_admin --agency CODE`). For each
complaint forwarded to this agency itself (not to one of its units, which have backends of
their own), it starts work and sends an interim response with `POST /v1/commands` (httpx:
`pip install httpx`), printing what it does. The door derives the actor from the token: the
commands name no actor.
Events are deduplicated on ce_id, because delivery is at-least-once; a redelivery the
backend did not remember is refused by the engine (409 invalid_transition), never doubled.

    LAPOR_API_URL=http://127.0.0.1:8000 LAPOR_API_TOKEN=lpr_... \
    LAPOR_KAFKA_BOOTSTRAP=127.0.0.1:59092 python examples/agency_backend.py KEMENKES
    # secured cluster:
    LAPOR_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT LAPOR_KAFKA_SASL_USERNAME=agency-KEMENKES \
    LAPOR_KAFKA_SASL_PASSWORD=... LAPOR_API_URL=... LAPOR_API_TOKEN=... \
    python examples/agency_backend.py KEMENKES
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

import httpx

from lapor_es.config import Settings
from lapor_es.contract.feeds import ComplaintAssigned, ComplaintLeft
from lapor_es.feeds import AgencySubscriber
from lapor_es.feeds.subscriber import FeedEvent, agency_group
from lapor_es.kafka.settings import KafkaSecurity

INTERIM = "Laporan Anda sedang kami tindak lanjuti."


def send_commands(api: httpx.Client, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send commands as one batch: one result per command, in order (a refused command
    does not stop the rest). Raises on a refused request (bad token: 401, limits: 429)."""
    response = api.post("/v1/commands", json={"commands": commands})
    response.raise_for_status()
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def act_on(api: httpx.Client, tracking_id: str) -> None:
    results = send_commands(
        api,
        [
            {"command": "start", "complaint": tracking_id},
            {"command": "respond", "complaint": tracking_id, "kind": "interim", "text": INTERIM},
        ],
    )
    for r in results:
        outcome = "ok" if r["ok"] else f"{r['error']['code']}: {r['error']['message']}"
        print(f"{tracking_id}: {outcome}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("agency", help="this backend's agency code, e.g. KEMENKES")
    parser.add_argument("--name", default="backend", help="consumer group name (CODE:NAME)")
    parser.add_argument("--until-idle", action="store_true", help="stop when the feed is idle")
    args = parser.parse_args()
    settings = Settings()
    api_url, token = os.environ.get("LAPOR_API_URL"), os.environ.get("LAPOR_API_TOKEN")
    if not (settings.kafka_bootstrap and api_url and token):
        sys.exit("set LAPOR_KAFKA_BOOTSTRAP, LAPOR_API_URL and LAPOR_API_TOKEN")
    seen: set[str] = set()  # a real backend keeps this in its own database

    def handle(api: httpx.Client, event: FeedEvent) -> None:
        if event.ce_id in seen:
            return  # a redelivery after a crash: already acted on
        seen.add(event.ce_id)
        p = event.payload
        if isinstance(p, ComplaintAssigned):
            print(f"{p.tracking_id}: assigned ({p.title!r}, {p.visibility}, holder {p.holder})")
            if p.holder == args.agency:
                act_on(api, p.tracking_id)
            # else one of our units holds it: we watch, the unit acts
        elif isinstance(p, ComplaintLeft):
            print(f"{p.tracking_id}: left us ({p.reason})")
        else:
            print(f"{p.tracking_id}: {p.type} v{p.version}")

    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=api_url, headers=headers, timeout=30.0) as api,
        AgencySubscriber(
            settings.kafka_bootstrap,
            args.agency,
            agency_group(args.agency, args.name),
            security=KafkaSecurity.from_settings(settings),
            topic_prefix=settings.feeds_topic_prefix,
        ) as feed,
    ):
        signal.signal(signal.SIGTERM, lambda *_: feed.stop.set())
        feed.run(lambda event: handle(api, event), until_idle=args.until_idle)


if __name__ == "__main__":
    main()

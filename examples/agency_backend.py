"""An agency backend: subscribe to the agency's feed and act on complaints assigned to it.

For each complaint forwarded to this agency itself (not to one of its units, which have
backends of their own), it starts work and sends an interim response through the command
interface (`lapor-es exec`, JSON lines), printing what it does. Events are deduplicated on
ce_id, because delivery is at-least-once.

    LAPOR_KAFKA_BOOTSTRAP=127.0.0.1:59092 python examples/agency_backend.py KEMENKES
    # secured cluster:
    LAPOR_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT LAPOR_KAFKA_SASL_USERNAME=agency-KEMENKES \
    LAPOR_KAFKA_SASL_PASSWORD=... python examples/agency_backend.py KEMENKES
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys

from lapor_es.config import Settings
from lapor_es.contract.feeds import ComplaintAssigned, ComplaintLeft
from lapor_es.feeds import AgencySubscriber
from lapor_es.feeds.subscriber import FeedEvent, agency_group
from lapor_es.kafka.settings import KafkaSecurity


def send_commands(commands: list[dict[str, object]]) -> list[dict[str, object]]:
    """Run commands through `lapor-es exec`: one JSON line in, one JSON result line out."""
    lines = "".join(json.dumps(c) + "\n" for c in commands)
    done = subprocess.run(
        [sys.executable, "-m", "lapor_es.cli", "exec"],
        input=lines,
        capture_output=True,
        text=True,
        check=False,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("agency", help="this backend's agency code, e.g. KEMENKES")
    parser.add_argument("--name", default="backend", help="consumer group name (CODE:NAME)")
    parser.add_argument("--until-idle", action="store_true", help="stop when the feed is idle")
    args = parser.parse_args()
    settings = Settings()
    if not settings.kafka_bootstrap:
        sys.exit("set LAPOR_KAFKA_BOOTSTRAP")
    actor = {"id": f"backend-{args.agency}", "role": "agency_admin", "agency": args.agency}
    seen: set[str] = set()  # a real backend keeps this in its own database

    def handle(event: FeedEvent) -> None:
        if event.ce_id in seen:
            return  # a redelivery after a crash: already acted on
        seen.add(event.ce_id)
        p = event.payload
        if isinstance(p, ComplaintAssigned):
            print(f"{p.tracking_id}: assigned ({p.title!r}, {p.visibility}, holder {p.holder})")
            if p.holder != args.agency:
                return  # one of our units holds it: we watch, the unit acts
            results = send_commands(
                [
                    {"command": "start", "actor": actor, "complaint": p.tracking_id},
                    {
                        "command": "respond",
                        "actor": actor,
                        "complaint": p.tracking_id,
                        "kind": "interim",
                        "text": "Laporan Anda sedang kami tindak lanjuti.",
                    },
                ]
            )
            for r in results:
                print(f"{p.tracking_id}: {'ok' if r.get('ok') else r.get('error')}")
        elif isinstance(p, ComplaintLeft):
            print(f"{p.tracking_id}: left us ({p.reason})")
        else:
            print(f"{p.tracking_id}: {p.type} v{p.version}")

    with AgencySubscriber(
        settings.kafka_bootstrap,
        args.agency,
        agency_group(args.agency, args.name),
        security=KafkaSecurity.from_settings(settings),
        topic_prefix=settings.feeds_topic_prefix,
    ) as feed:
        signal.signal(signal.SIGTERM, lambda *_: feed.stop.set())
        feed.run(handle, until_idle=args.until_idle)


if __name__ == "__main__":
    main()

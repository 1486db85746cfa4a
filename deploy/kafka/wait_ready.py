"""Wait until the local Kafka broker answers a kafka-python admin client.

Used by deploy/kafka/broker start. Exit codes: 0 ready, 1 timed out, 2 the broker process
exited, 3 kafka-python is not importable by this interpreter.

    python wait_ready.py --bootstrap 127.0.0.1:59092 --pid 1234 --timeout 90

Secured mode adds `--sasl-username admin` (SASL_PLAINTEXT, SCRAM-SHA-512); the password comes
from the environment variable LAPOR_KAFKA_PROBE_PASSWORD so it never shows in `ps`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time


def process_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as dead."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): fall back to signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--pid", type=int, default=0, help="broker JVM pid (0: do not watch)")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--sasl-username", default=None, help="secured mode: SCRAM user")
    args = parser.parse_args()
    security: dict[str, str] = {}
    if args.sasl_username:
        security = {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": args.sasl_username,
            "sasl_plain_password": os.environ.get("LAPOR_KAFKA_PROBE_PASSWORD", ""),
        }

    try:
        from kafka import KafkaAdminClient
    except ImportError as exc:
        print(f"wait_ready: {sys.executable} cannot import kafka-python: {exc}", file=sys.stderr)
        return 3

    # kafka-python logs every refused connection at WARNING/ERROR while the broker boots.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)

    deadline = time.monotonic() + args.timeout
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if args.pid and not process_alive(args.pid):
            print(f"wait_ready: broker process {args.pid} exited", file=sys.stderr)
            return 2
        admin = None
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=args.bootstrap,
                client_id="lapor-wait-ready",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=3000,
                **security,
            )
            admin.list_topics()
            brokers = admin.describe_cluster().get("brokers") or []
            if brokers:
                return 0
            last_error = "describe_cluster returned no brokers"
        except Exception as exc:  # NoBrokersAvailable, KafkaError, timeouts, socket errors
            last_error = f"{type(exc).__name__}: {exc}"
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    admin.close()
        time.sleep(0.5)
    print(
        f"wait_ready: {args.bootstrap} not ready after {args.timeout:.0f}s ({last_error})",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())

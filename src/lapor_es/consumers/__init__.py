"""Kafka consumers: projector, agency feeds, audit replay/verify, SLA timer service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lapor_es.consumers.subscriber import AgencySubscriber


def __getattr__(name: str) -> Any:
    # Lazy, so importing one consumer module does not import every other one.
    if name == "AgencySubscriber":
        from lapor_es.consumers.subscriber import AgencySubscriber

        return AgencySubscriber
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AgencySubscriber"]

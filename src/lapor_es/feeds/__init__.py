"""Agency feeds: the router that fans the complaint topic out per agency, its routing state,
the subscriber client agency backends use, and the broker ACLs that keep feeds apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lapor_es.feeds.subscriber import AgencySubscriber


def __getattr__(name: str) -> Any:
    # Lazy, so an agency backend importing the subscriber does not import the router.
    if name == "AgencySubscriber":
        from lapor_es.feeds.subscriber import AgencySubscriber

        return AgencySubscriber
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AgencySubscriber"]

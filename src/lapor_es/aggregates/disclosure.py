"""Which free texts of a complaint's events the public may read (issue 10 item 4). Pure data.

The tracking page answers the reporter and the public: the desk's question when it postpones,
the reporter's supplement and replies, every agency response, the reason a complaint was
resolved by the desk or reopened. Working notes between the desk and the agencies stay
internal: why the desk overrode the reporter's chosen agency, a disposition note, a decline's
reason, an archive note, why visibility changed
(it may say why the reporter needs protecting), an erasure's reason.

Two further rules, applied where a page is built (readmodels.timeline, views):
- a confidential complaint shows no free text at all, only the step, the agency and the time;
- once a reporter is erased (crypto-shredding), the texts the reporter wrote are withheld:
  their identity can no longer be read, and what they wrote in their own words may still name
  them. The agencies' answers stay.
"""

from __future__ import annotations

# event type -> the field holding its public text
PUBLIC_TEXT_FIELDS: dict[str, str] = {
    "Postponed": "reason",
    "InformationSupplemented": "text",
    "Responded": "text",
    "ReporterReplied": "text",
    "Resolved": "note",
    "Reopened": "reason",
}

# event type -> its free-text fields that never leave the staff's views
INTERNAL_TEXT_FIELDS: dict[str, frozenset[str]] = {
    "Verified": frozenset({"override_reason"}),  # why the desk chose another agency
    "Forwarded": frozenset({"note"}),
    "ForwardingDeclined": frozenset({"reason"}),
    "Archived": frozenset({"note"}),
    "VisibilityChanged": frozenset({"reason"}),
    "ReporterErased": frozenset({"reason"}),
}


def shows_text(*, confidential: bool, reporter_erased: bool, by_reporter: bool) -> bool:
    """Whether a public text may be shown, given the complaint and who wrote it."""
    return not confidential and not (reporter_erased and by_reporter)

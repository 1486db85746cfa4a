"""Where the desk sends a complaint at verification: the reporter's chosen agency by default.

In LAPOR! a report addressed to an agency goes to that agency after verification. The desk
confirms the reporter's choice (naming no agency, or the same one) or overrides it, and an
override must say why: the reporter addressed someone else. With no choice recorded the desk
must name the agency itself. Pure: the aggregate raises the refusal this describes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Targeting:
    """The verification's target, or the command field the desk still has to give."""

    target: str | None  # the agency code it goes to; None when it cannot be decided
    overridden: bool  # the desk sends it elsewhere than the reporter's chosen agency
    missing: str | None  # "to_agency" or "override_reason" when refused; None when decided

    @property
    def decided(self) -> bool:
        return self.missing is None


def verification_target(
    chosen: str | None, to_agency: str | None, override_reason: str | None
) -> Targeting:
    """The target of a verification: `to_agency` if the desk named one, else `chosen`.

    Refused (`missing` set) when neither names an agency, or when the desk names one other
    than the reporter's choice without a reason (blank text is no reason)."""
    target = to_agency or chosen
    if target is None:
        return Targeting(None, overridden=False, missing="to_agency")
    overridden = chosen is not None and target != chosen
    if overridden and not (override_reason and override_reason.strip()):
        return Targeting(target, overridden=True, missing="override_reason")
    return Targeting(target, overridden=overridden, missing=None)

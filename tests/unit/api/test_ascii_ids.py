"""Tracking ids on the door take ASCII digits only, as commands do (issue 10 item 13): a regex
`\\d` would also take Arabic-Indic or full-width digits, giving one complaint two spellings."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import Fixture

NON_ASCII = ["LAP-٢٠٢٦-٠٠٠٠٠٠١", "LAP-２０２６-０００００００１"]


@pytest.mark.parametrize("tracking_id", NON_ASCII)
def test_a_tracking_id_with_non_ascii_digits_is_refused(fx: Fixture, tracking_id: str) -> None:
    view = fx.client.get(f"/v1/complaints/{tracking_id}", headers=fx.headers("desk"))
    timeline = fx.client.get(f"/v1/complaints/{tracking_id}/timeline")
    assert (view.status_code, timeline.status_code) == (400, 400)
    assert view.json()["code"] == "validation_error"


def test_an_ascii_tracking_id_passes_the_pattern(fx: Fixture) -> None:
    missing = fx.client.get("/v1/complaints/LAP-2026-0999999", headers=fx.headers("desk"))
    assert missing.status_code == 404

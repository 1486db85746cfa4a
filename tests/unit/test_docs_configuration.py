"""docs/operations.md lists every setting (a new setting without documentation fails)."""

from __future__ import annotations

from pathlib import Path

from lapor_es.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [
        f"LAPOR_{name.upper()}"
        for name in Settings.model_fields
        if f"`LAPOR_{name.upper()}`" not in text
    ]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []

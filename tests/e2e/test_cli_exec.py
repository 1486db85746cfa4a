"""`lapor-es` end to end: the real console script in a subprocess, on a fresh SQLite file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.builders import DESK, NIK, PHONE, agency_actor, file_cmd
from tests.support.cli import LAPOR, cli

pytestmark = pytest.mark.e2e


def jsonl(*commands: dict[str, Any] | str) -> str:
    return "\n".join(c if isinstance(c, str) else json.dumps(c) for c in commands) + "\n"


def results(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


def exec_bytes(tmp_path: Path, script: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`lapor-es exec` fed raw bytes on stdin (tests.support.cli speaks text only)."""
    return subprocess.run(
        [*LAPOR, "exec", *args],
        input=script,
        capture_output=True,
        env=os.environ
        | {"LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.sqlite3", "LAPOR_LOG_FORMAT": "json"},
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def result_lines(stdout: bytes) -> list[dict[str, Any]]:
    """One JSON object per physical line (split at newline bytes only, like a JSONL reader)."""
    return [json.loads(line) for line in stdout.split(b"\n") if line]


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    proc = cli(tmp_path, "agencies", "load")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["registered"] == 2717 and summary["rejected"] == 0
    return tmp_path


def test_script_with_bad_lines_keeps_going_and_loses_nothing(loaded: Path) -> None:
    t1 = "LAP-2026-0000001"
    script = jsonl(
        file_cmd(request_id="r1"),  # 1 ok
        "{this is not json",  # 2 bad JSON
        {"command": "teleport", "actor": DESK},  # 3 unknown command
        file_cmd(reporter={"name": "Yanto", "phone": "12345"}),  # 4 bad phone
        {
            "command": "reopen",
            "actor": DESK,
            "complaint": t1,
            "reason": "reporter asked",
        },  # 5 never resolved
        {
            "command": "verify",
            "actor": DESK,
            "complaint": t1,
            "title": "Air PDAM",
            "category": "Air Bersih",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENTERIAN-FIKTIF",
        },  # 6 unknown agency
        {
            "command": "verify",
            "actor": DESK,
            "complaint": t1,
            "title": "Air PDAM",
            "category": "Air Bersih",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        },  # 7 ok
        {"command": "start", "actor": agency_actor("KEMENSOS"), "complaint": t1},  # 8 not holder
        {
            "command": "start",
            "actor": agency_actor("KEMENKES"),
            "complaint": t1,
            "expected_version": 2,
        },  # 9 stale version
        {"command": "start", "actor": DESK, "complaint": "LAP-2026-0009999"},  # 10 not found
        "",  # blank: ignored
        {
            "command": "start",
            "actor": agency_actor("KEMENKES"),
            "complaint": t1,
            "expected_version": 3,
        },  # 12 ok
    )
    proc = cli(loaded, "exec", stdin=script)
    assert proc.returncode == 1
    out = results(proc)
    assert [r["line"] for r in out] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert [r["ok"] for r in out] == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
        False,
        False,
        True,
    ]
    codes = [r["error"]["code"] for r in out if not r["ok"]]
    assert codes == [
        "validation_error",
        "validation_error",
        "validation_error",
        "invalid_transition",
        "unknown_agency",
        "not_authorized",
        "conflict",
        "not_found",
    ]
    assert out[0]["tracking_id"] == t1 and out[0]["request_id"] == "r1"
    assert out[1]["error"]["message"] == "the line is not valid JSON"
    bad_phone = out[3]["error"]["details"]
    assert [d["field"] for d in bad_phone] == ["reporter.phone"]
    assert out[4]["error"]["message"].startswith("cannot reopen a complaint in state SUBMITTED")
    assert out[8]["error"]["details"] == {"current_version": 3, "expected_version": 2}
    assert out[10]["state"] == "IN_PROGRESS" and out[10]["version"] == 4

    shown = cli(loaded, "show", t1, "--format", "json", "--as", "national")
    view = json.loads(shown.stdout)
    assert view["state"] == "IN_PROGRESS" and view["version"] == 4
    assert [h["event"] for h in view["history"]] == [
        "Filed",
        "Verified",
        "Forwarded",
        "WorkStarted",
    ]
    assert view["reporter"]["phone"] == PHONE and view["reporter"]["nik"] == NIK
    assert view["sla"]["kind"] == "follow_up"


def test_all_good_script_exits_zero_and_show_masks_identity(loaded: Path) -> None:
    proc = cli(
        loaded,
        "exec",
        stdin=jsonl(file_cmd(visibility="anonymous"), file_cmd(visibility="confidential")),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    anon, secret = (r["tracking_id"] for r in results(proc))
    public = json.loads(cli(loaded, "show", anon, "--format", "json").stdout)
    assert public["reporter"] == {"name": "Anonim"}
    assert PHONE not in json.dumps(public) and NIK not in json.dumps(public)
    hidden = cli(loaded, "show", secret, "--format", "json")
    assert hidden.returncode == 1
    assert json.loads(hidden.stderr.splitlines()[-1])["code"] == "not_authorized"


def test_directory_reload_is_a_no_op_and_bad_rows_are_named(loaded: Path) -> None:
    again = cli(loaded, "agencies", "load")
    assert json.loads(again.stdout)["registered"] == 0
    bad = loaded / "extra.csv"
    bad.write_text(
        "code,name,kind,parent,region\n"
        "KEMENKES.BARU,Direktorat Baru,unit,KEMENKES,\n"
        "kecil,Lowercase Code,unit,KEMENKES,\n"
        "X.Y,Orphan,unit,NOPE,\n",
        encoding="utf-8",
    )
    proc = cli(loaded, "agencies", "load", str(bad))
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["registered"] == 1
    errors = [json.loads(line) for line in proc.stderr.splitlines() if '"row"' in line]
    assert [(e["row"], e["field"]) for e in errors] == [(2, "code"), (3, "parent")]
    listed = json.loads(
        cli(loaded, "agencies", "list", "--format", "json", "--parent", "KEMENKES").stdout
    )
    assert "KEMENKES.BARU" in {a["code"] for a in listed}
    ministries = json.loads(
        cli(loaded, "agencies", "list", "--format", "json", "--kind", "ministry").stdout
    )
    assert len(ministries) == 34


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    proc = cli(tmp_path, "demo", "--complaints", "300")
    assert proc.returncode == 0, proc.stderr
    assert "RESOLVED" in proc.stdout and "Anonim" in proc.stdout
    assert (tmp_path / "lapor.sqlite3").exists()


# ------------------------------------------------ bytes in (issue 10, item 10)
BAD_UTF8 = b'{"command": "file", "title": "Jalan rusak \xff parah"}'


def test_invalid_utf8_is_a_validation_error_for_that_line_only_from_file_and_stdin(
    loaded: Path,
) -> None:
    good = json.dumps(file_cmd()).encode()
    script = b"\n".join([good, BAD_UTF8, good.replace(b"Dewi", b"D\xc3\xa9wi"), b""])
    (loaded / "cmds.jsonl").write_bytes(script)
    from_file = exec_bytes(loaded, b"", "--file", "cmds.jsonl")
    from_stdin = exec_bytes(loaded, script)
    for proc in (from_file, from_stdin):
        assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
        assert proc.returncode == 1
        first, bad, third = result_lines(proc.stdout)
        assert first["ok"] and third["ok"]  # the line after the bad one still ran
        assert bad["line"] == 2 and bad["error"]["code"] == "validation_error"
        offset = BAD_UTF8.index(b"\xff")
        assert bad["error"]["message"] == (
            f"line 2 is not valid UTF-8: byte 0xff at byte offset {offset}"
        )
        assert bad["error"]["details"] == [
            {"field": None, "rule": "utf8_invalid", "message": bad["error"]["message"]}
        ]


def test_a_leading_byte_order_mark_is_skipped(loaded: Path) -> None:
    script = b"\xef\xbb\xbf" + json.dumps(file_cmd(request_id="bom")).encode() + b"\r\n"
    (loaded / "bom.jsonl").write_bytes(script)
    for proc in (exec_bytes(loaded, b"", "--file", "bom.jsonl"), exec_bytes(loaded, script)):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (result,) = result_lines(proc.stdout)
        assert result["ok"] and result["line"] == 1 and result["request_id"] == "bom"


# ------------------------------------------------ bounded, one-line echoes (issue 10, item 14)
def test_echoes_of_user_input_are_truncated_and_the_result_stays_small(loaded: Path) -> None:
    huge = "x" * 6_000_000
    script = jsonl(
        {"command": huge, "actor": DESK},  # an unknown tag
        file_cmd(**{huge: 1}),  # an unknown field
        file_cmd(**{f"extra_{i}": i for i in range(5_000)}),  # very many errors
    )
    proc = exec_bytes(loaded, script.encode())
    assert proc.returncode == 1
    assert len(proc.stdout) < 20_000, f"{len(proc.stdout)} bytes of results for 3 lines"
    tag, field, many = result_lines(proc.stdout)
    assert [r["error"]["code"] for r in (tag, field, many)] == ["validation_error"] * 3
    assert "x" * 80 + "…" in tag["error"]["message"] and "x" * 81 not in tag["error"]["message"]
    assert field["error"]["details"][0]["field"] == "x" * 80 + "…"
    assert len(many["error"]["details"]) == 21  # 20 errors and how many more
    assert many["error"]["details"][-1]["rule"] == "too_many_errors"
    assert "4980 more" in many["error"]["details"][-1]["message"]


def test_every_result_is_one_physical_line_whatever_the_request_id(loaded: Path) -> None:
    request_ids = ["a\u2028b", "c\u2029d", "e\u0085f", "g\x1ch", "nama: Dewi \u00e9"]
    script = jsonl(*(file_cmd(request_id=rid) for rid in request_ids))
    proc = exec_bytes(loaded, script.encode())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout.decode("utf-8")
    lines = text.splitlines()  # str.splitlines also breaks at U+2028, U+2029, U+0085, \x1c
    assert len(lines) == len(request_ids)
    assert [json.loads(line)["request_id"] for line in lines] == request_ids


# ------------------------------------------------ show on damaged data (issue 10, item 15)
def damaged_copy(source: Path, target: Path, damage: str, *params: str) -> Path:
    """A copy of `source`'s store (and its pepper file) in `target`, with one UPDATE applied
    to the copy: the original is never touched."""
    target.mkdir()
    shutil.copy(source / "lapor.sqlite3.pepper", target / "lapor.sqlite3.pepper")
    with (
        contextlib.closing(sqlite3.connect(source / "lapor.sqlite3")) as original,
        contextlib.closing(sqlite3.connect(target / "lapor.sqlite3")) as copy,
    ):
        original.backup(copy)
        changed = copy.execute(damage, params).rowcount
        copy.commit()
    assert changed == 1, f"the damage changed {changed} rows, not 1"
    return target


FILED = "topic = 'lapor_es.aggregates.complaint:Complaint.Filed'"


def resealed(sealed: str) -> str:
    """The sealed identity with one ciphertext character changed (its tag no longer fits)."""
    middle = len(sealed) - 8  # inside the base64 text, clear of any padding
    return sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        f"UPDATE stored_events SET topic = 'lapor_es.aggregates.complaint:Complaint.Gone'"
        f" WHERE {FILED}",
        f"UPDATE stored_events SET state = CAST(json_set(CAST(state AS TEXT), "
        f"'$.sealed_identity', ?) AS BLOB) WHERE {FILED}",
        f"UPDATE stored_events SET state = substr(state, 1, 40) WHERE {FILED}",
    ],
    ids=["unknown-topic", "corrupt-sealed-identity", "truncated-event"],
)
def test_show_on_damaged_data_prints_the_documented_error_not_a_traceback(
    loaded: Path, tmp_path_factory: pytest.TempPathFactory, damage: str
) -> None:
    filed = cli(loaded, "exec", stdin=jsonl(file_cmd()))
    assert filed.returncode == 0, filed.stdout + filed.stderr
    tracking_id = json.loads(filed.stdout)["tracking_id"]
    with contextlib.closing(sqlite3.connect(loaded / "lapor.sqlite3")) as conn:
        (state,) = conn.execute(f"SELECT state FROM stored_events WHERE {FILED}").fetchone()
    params = (resealed(json.loads(state)["sealed_identity"]),) if "?" in damage else ()
    copy = damaged_copy(loaded, tmp_path_factory.mktemp("damaged") / "store", damage, *params)
    for fmt in ("json", "text"):
        shown = cli(copy, "show", tracking_id, "--as", "national", "--format", fmt)
        assert shown.returncode == 1 and shown.stdout == ""
        assert "Traceback" not in shown.stderr, shown.stderr
        error = json.loads(shown.stderr.splitlines()[-1])
        assert error["code"] == "damaged_data", error
        assert tracking_id in error["message"] and "audit verify" in error["message"]
    intact = cli(loaded, "show", tracking_id, "--as", "national", "--format", "json")
    assert intact.returncode == 0 and json.loads(intact.stdout)["tracking_id"] == tracking_id


def test_show_still_names_a_bad_reference_or_viewer_as_validation_errors(loaded: Path) -> None:
    for args in (["NOT-A-REF"], ["LAP-2026-0000001", "--as", "boss" + "x" * 500]):
        shown = cli(loaded, "show", *args)
        assert shown.returncode == 1 and "Traceback" not in shown.stderr
        error = json.loads(shown.stderr.splitlines()[-1])
        assert error["code"] == "validation_error", error
        assert "x" * 81 not in error["message"]  # the echo of the input is cut (item 14)

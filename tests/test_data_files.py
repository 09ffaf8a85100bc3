"""Bad files and implausible values: one clear line naming the file, warnings by row, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.data import InputError, UnreadableFile, implausible_episodes, ingest_file, read_table

runner = CliRunner()
HEADER = "episode_id,unit,admitted_at,discharged_at,admission_type\n"
GOOD = HEADER + "E1,ward_a,2024-01-01,2024-01-03,acute\nE2,ward_a,2024-01-02,,elective\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def bedcast(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command as a user runs it: its own process, so a traceback would show on stderr."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-m", "forecast.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\n\n\n", "no header row"),
        ("latin1.csv", (GOOD + "E3,avdelning_\xe5,2024-01-02,,acute\n").encode("latin-1"), "not UTF-8 text (line 4"),
        ("book.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe", "an Excel workbook?"),
        ("ragged.csv", (GOOD + 'E3,"ward_a,2024-01-02\n').encode(), "not a well-formed CSV file"),
        ("broken.parquet", b"not parquet at all", "not a readable Parquet file"),
    ],
)
def test_unreadable_files_name_the_file_and_the_problem(tmp_path, name, content, says):
    path = write(tmp_path, name, content)
    with pytest.raises(UnreadableFile) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and says in message
    assert "\n" not in message
    assert "avdelning" not in message  # nothing of the content: it may be patient data


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(UnreadableFile, match="is a folder"):
        read_table(tmp_path)


def test_utf8_with_a_byte_order_mark_is_read(tmp_path):
    path = write(tmp_path, "excel.csv", b"\xef\xbb\xbf" + GOOD.encode())
    assert list(read_table(path).columns)[:2] == ["episode_id", "unit"]


def test_header_only_is_an_input_error_naming_the_file(tmp_path):
    path = write(tmp_path, "header.csv", HEADER)
    with pytest.raises(InputError) as caught:
        ingest_file(path)
    assert str(caught.value) == f"{path}: input, field episode_id: no valid episodes to count"


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("latin1.csv", (GOOD + "E3,avdelning_\xe5,2024-01-02,,acute\n").encode("cp1252"), "latin1.csv: not UTF-8 text"),
    ],
)
def test_ingest_command_fails_in_one_line_without_a_traceback(tmp_path, name, content, says):
    path = write(tmp_path, name, content)
    done = bedcast("ingest", str(path), "--out", str(tmp_path / "daily.csv"), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line
    assert not (tmp_path / "daily.csv").exists()


STAYS = (
    HEADER
    + "E1,ward_a,2024-01-01,2024-01-03,acute\n"
    + "C1,ward_a,1924-03-01,2024-03-01,acute\n"  # a hundred years
    + "E2,ward_a,2024-03-02,2024-03-05,elective\n"
    + "F9,ward_b,2042-03-04,,acute\n"  # after the last discharge (2024-03-05): a mistyped year
    + "L4,ward_b,2022-06-01,,elective\n"  # still in bed after almost two years
)


def test_implausible_values_are_warnings_with_row_field_and_id_only(tmp_path):
    path = write(tmp_path, "stays.csv", STAYS)
    ingested = ingest_file(path)
    assert [(w.row, w.field, w.episode_id) for w in ingested.warnings] == [
        (2, "discharged_at", "C1"),
        (4, "admitted_at", "F9"),
        (5, "discharged_at", "L4"),
    ]
    assert "over a year" in ingested.warnings[0].message
    assert "2024-03-05" in ingested.warnings[1].message  # the extract's end, not a date of the row
    lines = ingested.warning_lines()
    assert lines[0] == "warning: row 2, field discharged_at (episode_id C1): a stay of over a year: check the dates"
    text = "\n".join(lines)
    assert "1924" not in text and "2042" not in text and "ward_" not in text
    assert any("3 implausible value(s)" in line for line in ingested.report())


def test_ingest_command_prints_the_warnings_and_succeeds(tmp_path):
    path = write(tmp_path, "stays.csv", STAYS)
    result = runner.invoke(app, ["ingest", str(path), "--out", str(tmp_path / "daily.csv")])
    assert result.exit_code == 0, result.output
    assert "warning: row 2, field discharged_at (episode_id C1)" in result.stderr
    assert "warning: row 4, field admitted_at (episode_id F9)" in result.stderr


def test_plausible_stays_give_no_warning(tmp_path):
    assert ingest_file(write(tmp_path, "good.csv", GOOD)).warnings == []


def test_an_explicit_extract_end_is_used(tmp_path):
    episodes = pd.DataFrame(
        {
            "row": [1, 2],
            "episode_id": ["a", "b"],
            "admitted_at": pd.to_datetime(["2026-01-01", "2026-01-03"]),
            "discharged_at": pd.to_datetime(["2026-01-02", pd.NaT]),
        }
    )
    [late] = implausible_episodes(episodes, extract_end=pd.Timestamp("2026-01-02"), end_name="today")
    assert (late.row, late.field, late.episode_id) == (2, "admitted_at", "b")
    assert late.message.startswith("admitted after today (2026-01-02)")
    assert implausible_episodes(episodes.iloc[:0]) == []

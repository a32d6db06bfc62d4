"""Outputs: atomic publication, the edition lock, Parquet metadata, byte-identical reruns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from baro_pipeline.errors import OutputError, UsageError
from baro_pipeline.outputs import edition_lock, publish_run, read_manifest, read_table, table_metadata

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return {
        "estimates": pd.DataFrame({"question": ["Q1", "Q1"], "item": ["1", "2"], "estimate": [0.25, 0.75]}),
        "weights": pd.DataFrame({"population": ["ps", "ps"], "respondent_id": ["A", "B"], "weight": [0.5, 1.5]}),
    }


@pytest.fixture
def metadata() -> dict:
    return table_metadata("2025", {"ps": "Professionnels de santé"}, {"ps": "ab" * 32})


def publish(root: Path, tables: dict, metadata: dict, run: int = 1):
    with edition_lock(root, "2025"):
        return publish_run(root, "2025", tables, {"edition": "2025", "run": run}, metadata)


def test_publish_writes_tables_manifest_and_metadata(tmp_path, tables, metadata):
    published = publish(tmp_path, tables, metadata)
    folder = tmp_path / "outputs" / "2025"
    assert folder.is_symlink() and folder.resolve() == published.target.resolve()
    assert sorted(p.name for p in folder.iterdir()) == ["estimates.parquet", "manifest.json", "weights.parquet"]
    meta = json.loads(pq.read_schema(folder / "estimates.parquet").metadata[b"baro"])
    assert meta["edition"] == "2025" and meta["populations"] == {"ps": "Professionnels de santé"}
    assert meta["inputs_sha256"] == {"ps": "ab" * 32} and meta["pipeline_version"]
    assert read_manifest(tmp_path, "2025")["outputs"] == ["estimates.parquet", "manifest.json", "weights.parquet"]
    pd.testing.assert_frame_equal(read_table(tmp_path, "2025", "estimates"), tables["estimates"])


def test_second_run_replaces_the_first_and_removes_it(tmp_path, tables, metadata):
    first = publish(tmp_path, tables, metadata, run=1)
    second = publish(tmp_path, tables, metadata, run=2)
    assert not first.target.exists()
    assert read_manifest(tmp_path, "2025")["run"] == 2
    hidden = [p.name for p in (tmp_path / "outputs").iterdir() if p.name.startswith(".2025.") and p.is_dir()]
    assert hidden == [second.target.name]


def test_same_tables_give_byte_identical_parquet(tmp_path, tables, metadata):
    publish(tmp_path, tables, metadata)
    first = (tmp_path / "outputs" / "2025" / "estimates.parquet").read_bytes()
    publish(tmp_path, tables, metadata)
    assert (tmp_path / "outputs" / "2025" / "estimates.parquet").read_bytes() == first


def test_missing_table_says_to_run_first(tmp_path):
    with pytest.raises(UsageError, match=r"(?s)audit\.parquet: no audit\.parquet for edition 2025.*fix: run 'baro run 2025' first"):
        read_table(tmp_path, "2025", "audit")


def run_python(code: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, expected: str) -> None:
    line = proc.stdout.readline().strip()
    assert line == expected, f"helper process said {line!r}"


def test_second_writer_is_refused_with_a_clear_message(tmp_path):
    holder = run_python(
        f"""
        import time
        from pathlib import Path
        from baro_pipeline.outputs import edition_lock
        with edition_lock(Path({str(tmp_path)!r}), "2025"):
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    try:
        wait_for_line(holder, "locked")
        with pytest.raises(OutputError, match=r"(?s)\.2025\.lock: another run of edition 2025 is writing its outputs.*fix: wait for that run to end"):
            with edition_lock(tmp_path, "2025"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with edition_lock(tmp_path, "2025"):  # released by the kernel when the holder died
        pass


def test_run_killed_while_writing_leaves_previous_outputs_whole(tmp_path, tables, metadata):
    publish(tmp_path, tables, metadata, run=1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "outputs" / "2025").iterdir()}
    writer = run_python(
        f"""
        import time
        from pathlib import Path
        import pandas as pd
        from baro_pipeline import outputs
        real_write = outputs.write_table
        def slow_write(*args, **kwargs):
            name = real_write(*args, **kwargs)
            print("wrote", flush=True)
            time.sleep(60)
            return name
        outputs.write_table = slow_write
        root = Path({str(tmp_path)!r})
        with outputs.edition_lock(root, "2025"):
            outputs.publish_run(root, "2025", {{"estimates": pd.DataFrame({{"x": [9]}})}}, {{"run": 2}}, {{}})
        """
    )
    wait_for_line(writer, "wrote")
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    after = {p.name: p.read_bytes() for p in (tmp_path / "outputs" / "2025").iterdir()}
    assert after == before
    assert read_manifest(tmp_path, "2025")["run"] == 1
    # the killed run's folder stays until the next run of the edition removes it
    hidden = lambda: sorted(p.name for p in (tmp_path / "outputs").iterdir() if p.name.startswith(".2025."))  # noqa: E731
    assert len(hidden()) == 3  # the lock, the published run, the killed run's folder
    third = publish(tmp_path, tables, metadata, run=3)
    assert hidden() == sorted([".2025.lock", third.target.name])

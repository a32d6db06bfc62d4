"""Outputs: atomic publication, the edition lock, Parquet metadata, byte-identical reruns; a run
touches nothing in outputs/ that a run did not write."""

from __future__ import annotations

import json
import ctypes
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from baro_pipeline.errors import ForeignOutputError, OutputError, OutputReadError, UsageError
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


def publish(root: Path, tables: dict, metadata: dict, run: int = 1, edition: str = "2025"):
    with edition_lock(root, edition):
        return publish_run(root, edition, tables, {"edition": edition, "run": run}, metadata)


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


# --------------------------------------------------------------------------------------------
# What a run did not write: refused and untouched, or left alone
# --------------------------------------------------------------------------------------------


def everything(folder: Path) -> dict[str, object]:
    """Every file and link under ``folder`` (links not followed), with its bytes or target."""
    return {
        str(p.relative_to(folder)): f"-> {os.readlink(p)}" if p.is_symlink() else p.read_bytes() if p.is_file() else "folder"
        for p in sorted(folder.rglob("*"))
    }


def refused(root: Path, tables: dict, metadata: dict, match: str) -> None:
    """A run of edition 2025 is refused with ``match``, whether at the lock or when publishing, and writes nothing."""
    before = everything(root)
    with pytest.raises(ForeignOutputError, match=match) as refusal:
        publish(root, tables, metadata, run=2)
    assert refusal.value.exit_code == 73
    with pytest.raises(ForeignOutputError, match=match):
        publish_run(root, "2025", tables, {"edition": "2025"}, metadata)  # checked again when publishing
    assert everything(root) == before


def test_link_to_a_folder_elsewhere_is_refused_and_the_folder_kept(tmp_path, tables, metadata):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "thesis.docx").write_bytes(b"years of work")
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "2025").symlink_to(elsewhere)
    refused(tmp_path, tables, metadata, rf"(?s)outputs/2025: is a link to {elsewhere}, not to a run folder of edition 2025.*fix: move or remove the link")
    assert (elsewhere / "thesis.docx").read_bytes() == b"years of work"


def test_plain_folder_of_a_user_is_refused_and_kept(tmp_path, tables, metadata):
    mine = tmp_path / "outputs" / "2025"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    refused(tmp_path, tables, metadata, r"(?s)outputs/2025: is a folder without the manifest\.json of a run; a run replaces only what runs of edition 2025 wrote.*fix: move it out of outputs/")


def test_file_added_to_a_run_folder_is_refused_and_kept(tmp_path, tables, metadata):
    publish(tmp_path, tables, metadata)
    (tmp_path / "outputs" / "2025" / "notes.txt").write_text("mine")
    refused(tmp_path, tables, metadata, r"(?s)outputs/\.2025\.[0-9a-f]{12}: holds what its run did not write: notes\.txt.*fix: move it out of .*\.2025\.")


def test_link_to_another_editions_run_is_refused_and_that_run_kept(tmp_path, tables, metadata):
    other = publish(tmp_path, tables, metadata, edition="2024")
    (tmp_path / "outputs" / "2025").symlink_to(other.target.name)
    refused(tmp_path, tables, metadata, rf"outputs/2025: is a link to {other.target.name}, not to a run folder of edition 2025")
    assert read_manifest(tmp_path, "2024")["edition"] == "2024"


def test_run_folder_holding_another_editions_manifest_is_refused(tmp_path, tables, metadata):
    publish(tmp_path, tables, metadata)
    manifest = tmp_path / "outputs" / "2025" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"edition": "2025"', '"edition": "2024"'))
    refused(tmp_path, tables, metadata, r"holds a run of edition '2024' \(its manifest\.json says so\), not of '2025'")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda folder, elsewhere: folder.symlink_to(elsewhere), "is a link or a file, not a run folder"),
        (lambda folder, elsewhere: folder.mkdir(), "is a folder without the manifest\\.json of a run"),
    ],
    ids=["run-name-linking-elsewhere", "run-folder-without-manifest"],
)
def test_link_to_a_run_name_that_is_no_run_is_refused(tmp_path, tables, metadata, make, match):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data.csv").write_text("keep me")
    out = tmp_path / "outputs"
    out.mkdir()
    make(out / ".2025.0123456789ab", elsewhere)
    (out / "2025").symlink_to(".2025.0123456789ab")
    refused(tmp_path, tables, metadata, rf"outputs/\.2025\.0123456789ab: {match}")
    assert (elsewhere / "data.csv").read_text() == "keep me"


def test_dangling_link_elsewhere_is_refused_but_a_runs_own_is_replaced(tmp_path, tables, metadata):
    link = tmp_path / "outputs" / "2025"
    link.parent.mkdir()
    link.symlink_to("/nonexistent/2025")
    refused(tmp_path, tables, metadata, r"outputs/2025: is a link to /nonexistent/2025, not to a run folder")
    link.unlink()
    link.symlink_to(".2025.0123456789ab")  # its run folder removed by hand
    second = publish(tmp_path, tables, metadata, run=2)
    assert link.resolve() == second.target.resolve()


def test_files_and_folders_named_like_runs_are_left_alone(tmp_path, tables, metadata):
    out = tmp_path / "outputs"
    publish(tmp_path, tables, metadata)
    (out / ".2025.notes").write_text("mine")
    (out / ".2025.backup").mkdir()
    (out / ".2025.backup" / "estimates.parquet").write_bytes(b"an old copy")
    (out / ".2025.0123456789ab").mkdir()  # a run folder's name, no manifest
    (out / ".2025.link-0123abcd").symlink_to(tmp_path)  # a temporary link's name, another target
    theirs = (".2025.notes", ".2025.backup", ".2025.backup/estimates.parquet", ".2025.0123456789ab", ".2025.link-0123abcd")
    before = everything(out)
    second = publish(tmp_path, tables, metadata, run=2)
    after = everything(out)
    assert {name: after.get(name) for name in theirs} == {name: before[name] for name in theirs}
    runs = [p.name for p in out.iterdir() if (p / "manifest.json").exists() and not p.is_symlink()]
    assert runs == [second.target.name]


def test_outputs_as_a_link_to_another_disk_publishes_there(tmp_path, tables, metadata):
    disk = tmp_path / "disk"
    disk.mkdir()
    (disk / "readme.txt").write_text("shared disk")
    (tmp_path / "outputs").symlink_to(disk)
    publish(tmp_path, tables, metadata)
    second = publish(tmp_path, tables, metadata, run=2)
    assert sorted(p.name for p in disk.iterdir()) == sorted([".2025.lock", "2025", "readme.txt", second.target.name])
    assert read_manifest(tmp_path, "2025")["run"] == 2


def test_outputs_as_a_dangling_link_is_refused(tmp_path, tables, metadata):
    (tmp_path / "outputs").symlink_to(tmp_path / "unmounted")
    with pytest.raises(ForeignOutputError, match=rf"(?s)outputs: is a link to {tmp_path}/unmounted, which does not exist.*fix: create that folder"):
        publish(tmp_path, tables, metadata)
    assert not (tmp_path / "unmounted").exists()


def test_lock_file_as_a_link_is_refused_and_its_target_kept(tmp_path, tables, metadata):
    (tmp_path / "precious").write_text("do not truncate")
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / ".2025.lock").symlink_to(tmp_path / "precious")
    with pytest.raises(ForeignOutputError, match=r"(?s)\.2025\.lock: is not the lock file runs create \(a link, or a folder\).*fix: remove it"):
        publish(tmp_path, tables, metadata)
    assert (tmp_path / "precious").read_text() == "do not truncate"


def test_outputs_from_before_links_are_replaced(tmp_path, tables, metadata):
    first = publish(tmp_path, tables, metadata)
    link = tmp_path / "outputs" / "2025"
    link.unlink()
    first.target.rename(link)  # the plain folder older versions wrote
    second = publish(tmp_path, tables, metadata, run=2)
    assert link.is_symlink() and link.resolve() == second.target.resolve()
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == sorted([".2025.lock", "2025", second.target.name])


# --------------------------------------------------------------------------------------------
# The system refusing: a read-only outputs folder, a damaged table
# --------------------------------------------------------------------------------------------


def without_permission_override() -> None:
    """``preexec_fn`` under which file permissions apply to root too: root's override capabilities
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) leave the child's bounding set (Linux prctl)."""
    if os.geteuid() == 0:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        for capability in (1, 2, 3):
            if prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                os._exit(99)


@pytest.mark.parametrize("lock_exists", [False, True], ids=["first-run", "after-a-run"])
def test_read_only_outputs_folder_is_a_clear_error(tmp_path, tables, metadata, lock_exists):
    if lock_exists:
        publish(tmp_path, tables, metadata)
    else:
        (tmp_path / "outputs").mkdir()
    os.chmod(tmp_path / "outputs", 0o555)
    before = everything(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(
            f"""
            from pathlib import Path
            import pandas as pd
            from baro_pipeline.errors import BaroError
            from baro_pipeline.outputs import edition_lock, publish_run
            root = Path({str(tmp_path)!r})
            try:
                with edition_lock(root, "2025"):
                    publish_run(root, "2025", {{"estimates": pd.DataFrame({{"x": [1]}})}}, {{}}, {{}})
            except BaroError as exc:
                print(type(exc).__name__, exc.exit_code)
                print(exc.message)
            """
        )],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        preexec_fn=without_permission_override,
    )
    assert child.returncode == 0, child.stderr
    kind, message = child.stdout.split("\n", 1)
    assert kind == "OutputWriteError 73"
    assert re.match(rf"(?s){tmp_path}/outputs/\.2025\.\S+: the outputs cannot be written: Permission denied.*fix: make {tmp_path}/outputs writable for you \(chmod u\+w {tmp_path}/outputs\)", message), message
    assert everything(tmp_path) == before


def test_damaged_table_is_a_clear_error(tmp_path, tables, metadata):
    publish(tmp_path, tables, metadata)
    file = tmp_path / "outputs" / "2025" / "estimates.parquet"
    file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 2])
    with pytest.raises(OutputReadError, match=r"(?s)estimates\.parquet: is not a readable Parquet file \(damaged or cut short: .*fix: run 'baro run 2025' again"):
        read_table(tmp_path, "2025", "estimates")
    pq.write_table(pq.read_table(tmp_path / "outputs" / "2025" / "weights.parquet").replace_schema_metadata({}), file)
    with pytest.raises(OutputReadError, match=r"estimates\.parquet: was not written by a run \(no 'baro' metadata in its schema\)"):
        read_table(tmp_path, "2025", "estimates")

"""Privacy: what a run leaves behind holds no open text and respondent ids only where allowed.

The row-level run (tests/broken.py) plants "autre, précisez" answers carrying an ASCII marker in
both populations; its outputs, its stdout and stderr (``--verbose``: Prefect's own log too) and
the Prefect database (logs, artifacts, states) are searched for them and for every respondent id.
Also: small bases flagged and suppressed in the outputs, git-ignored respondent data, and no
unsafe loading or evaluation in the code.
"""

from __future__ import annotations

import ast
import re
import shutil
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from baro_pipeline.edition import load_edition
from baro_pipeline.estimation import SUPPRESSED_COLUMNS
from broken import EDITION, ID, OPEN_TEXT_MARKER, REPO, read_frame

# Open texts: the planted marker, and the ASCII part of `baro synth`'s "précision libre …" answers.
OPEN_TEXTS = (OPEN_TEXT_MARKER, "cision libre")
TABLES_WITH_IDS = ("weights.parquet", "quarantine.parquet")
TOKEN = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def respondent_ids() -> set[str]:
    return set(read_frame(REPO, "ps")[ID]) | set(read_frame(REPO, "gp")[ID])


# --------------------------------------------------------------------------------------------
# Everything a run leaves, as text
# --------------------------------------------------------------------------------------------


def parquet_text(path: Path) -> str:
    table = pq.read_table(path)
    metadata = b"".join(k + v for k, v in (table.schema.metadata or {}).items()).decode("utf-8", "replace")
    return metadata + "\n" + table.to_pandas().astype(str).to_csv(index=False)


def sqlite_text(path: Path) -> str:
    """Every row of every table (Prefect's logs, artifacts, states, events)."""
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"'))


def zip_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def file_text(path: Path) -> str:
    if path.suffix == ".parquet":
        return parquet_text(path)
    if path.suffix == ".db":
        return sqlite_text(path)
    if zipfile.is_zipfile(path):  # an Excel report
        return zip_text(path)
    return path.read_bytes().decode("utf-8", "replace")


def left_behind(run) -> Iterator[tuple[str, str]]:
    """(where, text) of every output file, of stdout and stderr, and of every file of PREFECT_HOME."""
    yield "stdout", run.result.stdout
    yield "stderr", run.result.stderr
    for folder in (run.root / "outputs" / EDITION, run.root / ".prefect"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(("-wal", "-shm"))):
            yield str(path.relative_to(run.root)), file_text(path)


def test_the_scan_sees_what_it_looks_for(row_level, respondent_ids):
    """The planted texts are in the export, Prefect's logs and artifacts are in its database."""
    assert read_frame(row_level.root)["Q3_98_other"].str.contains(OPEN_TEXT_MARKER).any()
    with sqlite3.connect(row_level.root / ".prefect" / "prefect.db") as db:
        assert db.execute("SELECT count(*) FROM log").fetchone()[0] > 0
        assert db.execute("SELECT count(*) FROM artifact").fetchone()[0] > 0
    weights = parquet_text(row_level.root / "outputs" / EDITION / "weights.parquet")
    assert respondent_ids & set(TOKEN.findall(weights))


def test_no_open_text_anywhere_and_ids_only_in_weights_and_quarantine(row_level, respondent_ids):
    for where, text in left_behind(row_level):
        assert not [t for t in OPEN_TEXTS if t in text], f"open text in {where}"
        if not where.endswith(TABLES_WITH_IDS):
            ids = respondent_ids & set(TOKEN.findall(text))
            assert not ids, f"respondent ids in {where}: {sorted(ids)[:3]}"


# --------------------------------------------------------------------------------------------
# Small bases
# --------------------------------------------------------------------------------------------


def test_small_bases_are_flagged_and_suppressed_in_every_output(row_level):
    thresholds = load_edition(EDITION, row_level.root).thresholds  # 700 and 500 in this project
    out = row_level.root / "outputs" / EDITION
    estimates = pd.read_parquet(out / "estimates.parquet")
    assert estimates["small_base"].eq(estimates["n"] < thresholds.flag_base).all()
    assert estimates["suppressed"].eq(estimates["n"] < thresholds.suppress_base).all()
    withheld = estimates[estimates["suppressed"]]
    assert len(withheld) and withheld[list(SUPPRESSED_COLUMNS)].isna().all().all() and withheld["n"].gt(0).all()
    shown = estimates[~estimates["suppressed"]]
    assert shown["estimate"].notna().all()
    audit = pd.read_parquet(out / "audit.parquet")
    small = audit[audit["n"] < thresholds.suppress_base]
    assert len(small) and small[["computed", "computed_pct", "difference_pts"]].isna().all().all() and small["n"].gt(0).all()


# --------------------------------------------------------------------------------------------
# Respondent data is never committed
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules_alone(tmp_path_factory) -> Path:
    """A git repository holding only the project's .gitignore: the checkout's own state (an outputs link) cannot interfere."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    folder = tmp_path_factory.mktemp("gitignore")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    shutil.copy(REPO / ".gitignore", folder / ".gitignore")
    return folder


@pytest.mark.parametrize(
    "path, ignored",
    [
        ("raw/2026/ps.csv", True),
        ("raw/2024/gp.xlsx", True),
        ("raw/ps.csv", True),
        ("raw/2025-real/ps.csv", True),
        ("exports/2026/ps.sav", True),  # an edition's `exports:` may point outside raw/
        ("outputs/2025/weights.parquet", True),
        ("outputs/2026/quarantine.parquet", True),
        ("outputs/.2025.lock", True),
        (".prefect/prefect.db", True),  # Prefect's logs
        ("raw/2025/ps.csv", False),  # the synthetic exports are committed
        ("raw/2025/gp.csv", False),
        ("editions/2025/codebook_ps.yaml", False),
    ],
)
def test_respondent_data_is_git_ignored(path, ignored, rules_alone):
    result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=rules_alone)
    assert result.returncode == (0 if ignored else 1), path


# --------------------------------------------------------------------------------------------
# Nothing read unsafely, nothing evaluated
# --------------------------------------------------------------------------------------------

BUILTINS_EVALUATING = {"eval", "exec", "compile", "__import__"}
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
UNSAFE_ATTRIBUTES = {"unsafe_load", "unsafe_load_all", "full_load", "full_load_all", "UnsafeLoader", "FullLoader", "read_pickle", "to_pickle", "eval", "query"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}


def safe_loader_classes(tree: ast.Module) -> set[str]:
    """Classes of the file that derive from yaml.SafeLoader (or another such class)."""
    safe = set(SAFE_LOADERS)
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if any(ast.unparse(base).split(".")[-1] in safe for base in node.bases):
            safe.add(node.name)
    return safe


def unsafe_uses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    safe = safe_loader_classes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILTINS_EVALUATING:
            yield node.lineno, f"{node.func.id}()"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            yield from ((node.lineno, f"import {n}") for n in names if n.split(".")[0] in UNSAFE_MODULES)
        elif isinstance(node, ast.Attribute) and (node.attr in UNSAFE_ATTRIBUTES or ast.unparse(node) == "yaml.Loader"):
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("yaml.load", "yaml.load_all"):
            loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
            if loader is None or ast.unparse(loader).split(".")[-1] not in safe:
                yield node.lineno, f"{ast.unparse(node.func)} without a SafeLoader"


def test_nothing_is_read_unsafely_or_evaluated():
    files = sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "flows").rglob("*.py"))
    found = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in files
        for line, what in unsafe_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert files and not found


@pytest.mark.parametrize(
    "code, found",
    [
        ("import yaml\nyaml.load(text)", ["yaml.load without a SafeLoader"]),
        ("import yaml\nyaml.load(text, Loader=yaml.Loader)", ["yaml.Loader", "yaml.load without a SafeLoader"]),
        ("import yaml\nclass L(yaml.SafeLoader): pass\nyaml.load(text, Loader=L)", []),
        ("import yaml\nyaml.safe_load(text)", []),
        ("import pickle as p", ["import pickle"]),
        ("frame.query(text)", ["frame.query"]),
        ("eval(text)", ["eval()"]),
    ],
)
def test_the_unsafe_code_scan_finds_what_it_must(code, found):
    assert sorted(what for _, what in unsafe_uses(ast.parse(code))) == sorted(found)

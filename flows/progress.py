"""The run's progress bar in the Prefect UI: a progress artifact moved once per phase, off the stages' path."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from baro_pipeline.pipeline import PHASES

ORDER = list(dict.fromkeys(PHASES.values()))


@contextmanager
def progress_bar(edition_id: str) -> Iterator[Callable[[str], None]]:
    """A progress artifact, and a function that moves it to the end of a stage's phase.

    The bar moves only forward (a per-population stage repeats its phase), one phase at a time (a
    stage started ahead of its phase, such as the ranking charts during estimation, does not move
    it), from one background thread, in order; the flow waits for it before it ends, and its
    errors are the flow's.
    """
    bar = cast(UUID, create_progress_artifact(0.0, description=f"baro run {edition_id}: {' > '.join(ORDER)}"))  # a UUID in a sync flow
    done = [0]
    moves: list[Future[Any]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="baro-progress") as mover:

        def move(name: str) -> None:
            phases = ORDER.index(PHASES[name]) + 1
            if phases == done[0] + 1:
                done[0] = phases
                # The thread sees this one's Prefect settings and run context (API URL, client).
                call = contextvars.copy_context().run
                moves.append(mover.submit(call, update_progress_artifact, bar, 100.0 * phases / len(ORDER), description=f"baro run {edition_id}: {name} done"))

        yield move
    for moved in moves:
        moved.result()

"""Validate many returns as tasks on a Dask distributed cluster (``--scheduler``).

Why this exists: the central team receives about 150 returns a quarter, over ten million
events a year. One machine checking them one after another is where a laptop stops being
enough; a Dask cluster (or ``--scheduler local``: a ``LocalCluster`` on this machine) spreads
the returns over its workers.

How, and why that way:

* Each return is one task running :func:`cld_polars.batch.run_return`, the same per-return
  code as the single-machine run (validate, write the outputs through ``batch.OUTPUTS``,
  skip returns that are up to date). Dask's own ``Client.submit`` and ``as_completed`` do the
  scheduling: no pool or queue of ours.
* The workers read each return and write its outputs themselves, so the returns and the
  output folder must be at a path every worker can reach (a shared file system), given as
  the workers see it. Only the small per-return result and counts travel back to the client,
  which writes the index and the national roll-up (:mod:`cld_polars.rollup`).
* A task that fails is one return's ``crashed`` line, never the run's end: a worker that
  dies (out of memory) makes Dask retry the task on another worker up to the scheduler's
  ``allowed-failures`` (3 by default), then give up with ``KilledWorker``; any other error is
  reported with its reason. Dask counts a death against every task assigned to that worker,
  so ``--scheduler local`` assigns a worker only the task it runs
  (:data:`ONE_TASK_PER_THREAD`) and an innocent return is not given up on with the killer.
* Dask is an optional extra (``pip install 'cld_polars[dask]'``); it is imported only here and
  only when a cluster is asked for, so the plain install works without it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cld_polars.batch import (
    BatchError,
    BatchOptions,
    BatchResult,
    Outcome,
    Stage,
    choose_workers,
    planned_run,
    run_return,
    uncompressed_size,
    usable_cores,
    write_index,
)
from cld_polars.rollup import write_rollup

if TYPE_CHECKING:
    from distributed import Client

#: ``worker-saturation`` of a ``LocalCluster``: a worker holds only the task it runs, so when
#: it dies only that return is suspected (Dask counts every task assigned to a dead worker
#: against ``allowed-failures``). Dask queues on the scheduler only when there are more than
#: twice as many tasks as threads; with fewer, the retries of ``allowed-failures`` are what
#: save a return that shared a worker with one that killed it.
ONE_TASK_PER_THREAD = 1.0
#: Seconds to wait for a remote scheduler to answer.
CONNECT_TIMEOUT = 30
INSTALL_HINT = "install it with: pip install 'cld_polars[dask]'"


def dask_missing() -> str | None:
    """Why the Dask runner cannot be used here (one line), or None when it can."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        return f"--scheduler needs Dask distributed, which is not installed ({exc}); {INSTALL_HINT}"
    return None


@contextlib.contextmanager
def connect(scheduler: str, *, workers: int | None = None) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler`` (``tcp://host:8786``), or of a new
    ``LocalCluster`` on this machine for ``"local"`` (``workers`` processes, default: as many
    as cores allow, one thread each, Polars given its share of the cores)."""
    problem = dask_missing()
    if problem:
        raise BatchError(problem)
    import dask
    from distributed import Client, LocalCluster

    if scheduler != "local":
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BatchError(
                f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc}); check the "
                "address (tcp://HOST:8786) or use --scheduler local"
            ) from exc
        with client:
            yield client
        return
    n_workers = max(1, workers or usable_cores())
    threads = str(max(1, usable_cores() // n_workers))
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": ONE_TASK_PER_THREAD}),
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,  # Polars holds memory per process; a dying worker is isolated
            dashboard_address=":0",  # any free port: another cluster may hold 8787
            env={"POLARS_MAX_THREADS": threads},  # set before the worker imports Polars
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def validate_on_cluster(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    scheduler: str,
    *,
    workers: int | None = None,
    xlsx: bool = False,
    errors_format: str | None = None,
    progress: Stage | None = None,
    debug: bool = False,
    reuse: bool = True,
    note: Callable[[str], None] | None = None,
) -> list[BatchResult]:
    """:func:`cld_polars.batch.validate_many` on a Dask cluster: every return's outputs, the
    index and the national roll-up; results in input order.

    ``scheduler``: the scheduler's address, or ``"local"`` for a ``LocalCluster`` here
    (``workers`` processes; default from cores and memory, as for the local run, but at
    least the cores when the returns are small). Raises :class:`BatchError` before any work
    when Dask is missing, the scheduler cannot be reached, the output folder is unusable or
    held by another run, or an output would overwrite a return (``batch.planned_run``, which
    this process holds for the whole run: the workers only write each return's outputs).
    """
    with planned_run(
        paths,
        out_dir,
        xlsx=xlsx,
        errors_format=errors_format,
        debug=debug,
        reuse=reuse,
        note=note,
    ) as plan:
        if scheduler == "local" and workers is None:
            fits = choose_workers(plan.paths)
            workers = min(len(plan.paths), usable_cores()) if fits == 1 else fits
        with connect(scheduler, workers=workers) as client:
            outcomes = run_on_cluster(
                client, plan.paths, plan.stems, plan.folder, plan.options, progress
            )
        results = [o.result for o in outcomes]
        write_index(plan.folder, results)
        counts = {o.result.stem: o.counts for o in outcomes if o.counts}
        write_rollup(plan.folder, results, counts)
    return results


def run_on_cluster(
    client: Client,
    paths: Sequence[Path],
    stems: Sequence[str],
    out_dir: Path,
    options: BatchOptions,
    progress: Stage | None = None,
) -> list[Outcome]:
    """One :func:`~cld_polars.batch.run_return` task per return, largest first; outcomes in
    input order. A task that fails (its worker died, or cld_polars is missing there) becomes
    that return's ``crashed`` outcome with the reason; the other tasks carry on."""
    from distributed import as_completed

    # Largest first, so the run ends evenly: one graph (client.map), in which Dask runs
    # independent tasks in the order given. One graph also lets the scheduler see them all
    # at once and queue them (see ONE_TASK_PER_THREAD); tasks sent one by one are assigned
    # to workers as they arrive.
    order = sorted(range(len(paths)), key=lambda i: -uncompressed_size(paths[i]))
    run = os.urandom(4).hex()
    mapped = client.map(
        run_return,
        [paths[i] for i in order],
        [out_dir] * len(order),
        [stems[i] for i in order],
        [options] * len(order),
        key=[f"cld-return-{i}-{run}" for i in order],
        pure=False,  # a rerun must run again (it may skip inside the task)
    )
    futures = [mapped[k] for k, _ in sorted(enumerate(order), key=lambda pair: pair[1])]
    place = {future.key: i for i, future in enumerate(futures)}
    outcomes: dict[int, Outcome] = {}
    if progress:
        progress(f"0/{len(paths)} returns done on the cluster")
    try:
        for future in as_completed(futures):
            i = place[future.key]
            if future.status == "finished":
                outcomes[i] = future.result()
            else:
                reason = _failure(future, paths[i])
                outcomes[i] = Outcome(_crashed(paths[i], stems[i], reason))
            future.release()
            if progress:
                progress(f"{len(outcomes)}/{len(paths)} returns done on the cluster")
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    return [outcomes[i] for i in range(len(paths))]


def _failure(future: Any, path: Path) -> str:
    """One line saying why a task gave no result."""
    from distributed import KilledWorker

    if future.status == "cancelled":
        return f"{path}: the cluster cancelled the task (was the scheduler restarted?)"
    exc = future.exception()
    if isinstance(exc, KilledWorker):
        return (
            f"{path}: the Dask worker checking it died (it may have run out of memory; give "
            "the workers more memory or check it alone with --workers 1)"
        )
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    if isinstance(exc, ModuleNotFoundError | ImportError):
        return f"{path}: the worker cannot run cld_polars ({first}); install it on every worker"
    return f"{path}: the task failed on the cluster ({type(exc).__name__}: {first})"


def _crashed(path: Path, stem: str, message: str) -> BatchResult:
    return BatchResult(file=str(path), stem=stem, status="crashed", exit_code=2, message=message)

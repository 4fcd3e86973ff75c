"""Sweeps: evaluate many independent points, locally or on an existing cluster.

``run_points(points, executor=None)`` runs ``point.run()`` for every point over a
``concurrent.futures`` executor and returns the results in the order of ``points``.

``executor`` may be:

- ``None`` (default): a local process pool (one worker per core);
- ``"serial"``: in this process, one point after the other;
- an integer N: a local process pool of N workers;
- a ``concurrent.futures.Executor`` (anything with ``submit``), used as is;
- ``"dask://HOST:PORT"`` or ``"tcp://HOST:PORT"``: an existing Dask scheduler (optional extra
  ``pip install 'inference-planner[cluster]'``);
- ``"ray://HOST:PORT"`` or ``"ray:auto"``: an existing Ray cluster (the same optional extra, Ray
  2.60.0; ``"ray:auto"`` also uses a Ray already started in this process with ``ray.init``).

Points carry everything they need (their seeds included) and are pure functions of their
fields, so the same points give the same results on every executor.  ``progress(done, total)``
is called after each point completes (from the calling thread).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import Any, Callable, Protocol, Sequence

from planner.errors import ExecutorError


class Point(Protocol):
    def run(self) -> Any: ...


def run_point(point: Point) -> Any:
    """Top-level so that process pools and clusters can pickle it."""
    return point.run()


class SerialExecutor(Executor):
    """Runs each submitted call at once, in this process."""

    def submit(self, fn, /, *args, **kwargs):
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut


class _RayExecutor(Executor):
    """Submit to Ray tasks; each ObjectRef's ``future()`` is a concurrent.futures.Future."""

    def __init__(self, ray, address: str):
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        self._remote = ray.remote(run_point)

    def submit(self, fn, /, *args, **kwargs):
        if fn is not run_point or kwargs or len(args) != 1:
            raise ExecutorError("the Ray executor only runs sweep points")
        return self._remote.remote(args[0]).future()


def _dask_executor(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise ExecutorError(
            f"--cluster {address} needs Dask: pip install 'inference-planner[cluster]' (dask[distributed])"
        ) from None
    addr = address.removeprefix("dask://")
    if "://" not in addr:
        addr = "tcp://" + addr
    try:
        client = Client(addr, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler at {addr}: {exc}") from None
    return client, client.get_executor(pure=False)


def _ray_executor(address: str):
    try:
        import ray
    except ImportError:
        raise ExecutorError(f"--cluster {address} needs Ray: pip install 'inference-planner[cluster]' (ray)") from None
    addr = address.removeprefix("ray:") if address.startswith("ray:auto") else address
    try:
        return _RayExecutor(ray, addr or "auto")
    except Exception as exc:  # noqa: BLE001 - ray raises ConnectionError and others
        raise ExecutorError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def resolve_executor(executor) -> tuple[Executor, Callable[[], None]]:
    """(executor, close) for the forms ``run_points`` accepts."""
    if executor is None or isinstance(executor, int):
        n = executor or os.cpu_count() or 1
        pool = ProcessPoolExecutor(max_workers=n)
        return pool, lambda: pool.shutdown(wait=True, cancel_futures=True)
    if isinstance(executor, str):
        s = executor.strip()
        if s == "serial":
            return SerialExecutor(), lambda: None
        if s.startswith("ray"):
            ex = _ray_executor(s)
            return ex, lambda: None
        if s.startswith(("dask://", "tcp://", "tls://")) or ":" in s:
            client, ex = _dask_executor(s)
            return ex, client.close
        raise ExecutorError(
            f"unknown executor '{executor}': use serial, a worker count, dask://HOST:PORT, "
            "tcp://HOST:PORT, ray://HOST:PORT or ray:auto"
        )
    if hasattr(executor, "submit"):
        return executor, lambda: None
    raise ExecutorError(
        f"executor must be None, 'serial', a worker count, a cluster address or an Executor, "
        f"got {type(executor).__name__}"
    )


def run_points(points: Sequence[Point], executor=None, progress: Callable[[int, int], None] | None = None) -> list:
    """Run ``point.run()`` for every point; results in the order of ``points``.

    A point that raises makes the sweep raise that exception (after the other points finish)."""
    points = list(points)
    total = len(points)
    if progress:
        progress(0, total)
    if not total:
        return []
    if total == 1 and executor is None:  # not worth starting a pool
        executor = "serial"
    ex, close = resolve_executor(executor)
    results: list = [None] * total
    try:
        futs = {ex.submit(run_point, p): i for i, p in enumerate(points)}
        done = 0
        first_error = None
        for fut in as_completed(futs):
            i = futs[fut]
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001
                first_error = first_error or exc
            done += 1
            if progress:
                progress(done, total)
        if first_error is not None:
            raise first_error
    finally:
        close()
    return results


def stderr_progress(label: str) -> Callable[[int, int], None]:
    """A plain-text progress bar on stderr: ``label [#####.....] 5/10``."""
    width = 30

    def show(done: int, total: int) -> None:
        filled = width * done // total if total else width
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
        sys.stderr.flush()

    return show

"""Where trials run: a local pool sized by the model server's slots, or an existing Ray cluster.

Both return standard `concurrent.futures.Future` objects whose result is a
:class:`~claw_nb.lab.trials.TrialOutcome`, so progress works the same way for all. Each trial is
submitted with its own stop token (a child of its run's), so a stop reaches the trials of that
run only: a local trial watches its token; a Ray trial is cancelled from the token's `on_stop`.
`submit_work` runs another unit of work keyed by a trial spec the same way (a fork,
`claw_nb.lab.fork.worker.run_fork`): a module-level function of plain data, whose task folder
travels with it as a trial's does.

- :func:`local_executor`: threads in this process. Its size is the number of requests the
  model server answers in parallel (``slots``: 1 for Ollama by default), not the CPU count:
  more trials than slots only queue at the server and hit their timeouts.
- :func:`ray_executor`: connects to a running Ray cluster (it never starts one; ``"auto"``
  finds a local one or fails at once) and runs each trial as a Ray task that needs one unit of
  a custom resource (``claw_model_slot``), so the cluster's slot count caps concurrency. The
  task's files travel with the trial and its journal comes back as bytes, which the driver
  ingests into its own log: there is never a shared DuckDB file.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError, LabError
from claw_nb.lab.trials import TrialProgress, TrialSpec, run_trial
from claw_nb.stop import StopToken

SLOT_RESOURCE = "claw_model_slot"
SLOTS_ENV = "CLAW_LAB_SLOTS"


def model_slots(workspace: str | Path | None = None) -> int:
    """The model server's parallel slots: ``$CLAW_LAB_SLOTS``, else ``[lab] slots`` in the
    workspace settings, else 1."""
    value: Any = os.environ.get(SLOTS_ENV)
    if not value:
        from claw_nb.config import read_settings_file

        value = (read_settings_file(Path(workspace or Path.cwd())).get("lab") or {}).get("slots", 1)
    try:
        slots = int(value)
        if slots < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"lab slots must be a positive integer, got {value!r}") from None
    return slots


class LocalExecutor:
    """Trials on a thread pool in this process, ``slots`` at a time."""

    kind = "local"

    def __init__(self, slots: int | None = None):
        self.slots = slots or model_slots()
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="claw-trial")

    def submit(
        self,
        spec: TrialSpec,
        on_progress: Callable[[TrialProgress], None] | None = None,
        stop: StopToken | None = None,
    ) -> Future:
        """Queue one trial; `stop` (its own token) ends it at its next safe point."""
        return self._pool.submit(run_trial, spec, on_progress, stop)

    def submit_work(
        self,
        work: Callable[..., Any],
        spec: TrialSpec,
        *args: Any,
        on_progress: Callable[[TrialProgress], None] | None = None,
        stop: StopToken | None = None,
    ) -> Future:
        """Queue ``work(spec, *args, stop=stop, on_progress=on_progress)``: a unit of work
        other than a trial, which hears its stop token and reports its steps as a trial does."""
        return self._pool.submit(work, spec, *args, stop=stop, on_progress=on_progress)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def __repr__(self) -> str:
        return f"LocalExecutor(slots={self.slots})"


def local_executor(slots: int | None = None) -> LocalExecutor:
    """The default executor: ``slots`` trials at a time (default: :func:`model_slots`)."""
    return LocalExecutor(slots)


class RayExecutor:
    """Trials as Ray tasks on an existing cluster, one ``claw_model_slot`` each."""

    kind = "ray"

    def __init__(self, address: str, resource: str, runtime_env: dict | None):
        import ray

        self.address = address
        self.resource = resource
        if not ray.is_initialized():
            with _driver_on_loopback(address):
                ray.init(
                    address=address,
                    log_to_driver=False,
                    runtime_env=runtime_env,
                    ignore_reinit_error=True,
                    **({"_node_ip_address": "127.0.0.1"} if _is_loopback(address) else {}),
                )
        available = ray.cluster_resources().get(resource, 0)
        if available < 1:
            raise LabError(
                f"the Ray cluster at {address!r} has no '{resource}' resource, which caps how "
                "many trials reach the model at once. Start its nodes with e.g. "
                f"`ray start --head --resources='{{\"{resource}\": 2}}'` (2 = the model "
                "server's parallel slots)."
            )
        self.slots = int(available)
        self._remote = ray.remote(num_cpus=0, resources={resource: 1}, max_retries=0)(_ray_work)
        self._refs: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._packed: dict[str, bytes] = {}

    def submit(
        self,
        spec: TrialSpec,
        on_progress: Callable[[TrialProgress], None] | None = None,
        stop: StopToken | None = None,
    ) -> Future:
        """Submit one trial; per-step progress stays on the worker (start and end are seen).

        The worker cannot see `stop`: stopping it cancels the Ray task instead."""
        return self.submit_work(run_trial, spec, stop=stop)

    def submit_work(
        self,
        work: Callable[..., Any],
        spec: TrialSpec,
        *args: Any,
        on_progress: Callable[[TrialProgress], None] | None = None,
        stop: StopToken | None = None,
    ) -> Future:
        """Submit ``work(spec, *args)`` as a Ray task (`work` travels by its module's name, the
        task's folder as a tar when the worker cannot see it); `stop` cancels the task. As for
        a trial, per-step progress stays on the worker: `on_progress` is not called."""
        import ray

        task = spec.task
        if task.path is not None and task.name not in self._packed:
            self._packed[task.name] = pack_task(task.path)
        ref = self._remote.remote(work, spec, self._packed.get(task.name), args)
        future = ref.future()
        with self._lock:
            self._refs[id(future)] = ref
        forget = stop.on_stop(lambda: ray.cancel(ref)) if stop is not None else None

        def done(finished: Future) -> None:
            with self._lock:
                self._refs.pop(id(finished), None)
            if forget is not None:
                forget()

        future.add_done_callback(done)
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Leave the cluster running (it is not ours); cancel what we started and is not done."""
        import ray

        with self._lock:
            refs = list(self._refs.values())
        for ref in refs:
            ray.cancel(ref)

    def __repr__(self) -> str:
        return f"RayExecutor({self.address!r}, slots={self.slots})"


def ray_executor(
    address: str = "auto", *, resource: str = SLOT_RESOURCE, runtime_env: dict | None = None
) -> RayExecutor:
    """Connect to the Ray cluster at ``address`` (``"auto"``: the one running on this machine).

    Never starts a cluster: with none there it fails at once with what to do.
    """
    try:
        import ray  # noqa: F401
    except ImportError:
        raise LabError(
            "Ray is not installed: pip install -e '.[ray]' in a claw_nb checkout (or `pip install "
            "ray`), then start a cluster with `ray start --head`."
        ) from None
    _probe(address)
    try:
        return RayExecutor(address, resource, runtime_env)
    except LabError:
        raise
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise LabError(
            f"could not connect to a Ray cluster at {address!r}: {exc}. Start one "
            "with `ray start --head --resources='{\"claw_model_slot\": 1}'` and "
            "pass its address (or 'auto' on the same machine)."
        ) from None


def _probe(address: str) -> None:
    """Fail at once when nothing listens at a HOST:PORT address (Ray itself retries for
    minutes); "auto" is Ray's own cheap probe of this machine."""
    import socket

    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except (OSError, ValueError) as exc:
        raise LabError(
            f"no Ray cluster answers at {address} ({exc}). Start one with `ray start "
            "--head --resources='{\"claw_model_slot\": 1}'` and pass its address "
            "(or 'auto' on the same machine)."
        ) from None


def pack_task(path: Path) -> bytes:
    """A task directory as a gzip'd tar (it travels to workers that cannot see this disk)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(path, arcname=path.name)
    return buffer.getvalue()


def _ray_work(
    work: Callable[..., Any], spec: TrialSpec, packed: bytes | None, args: tuple[Any, ...]
) -> Any:
    """Runs on a Ray worker: unpack the task if this node cannot see it, then ``work(spec,
    *args)`` (a trial, a fork)."""
    task = spec.task
    if packed is None or (task.path is not None and task.path.is_dir()):
        return work(spec, *args)
    with tempfile.TemporaryDirectory(prefix="claw-task-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        local = replace(task, path=Path(tmp) / task.path.name)
        return work(replace(spec, task=local), *args)


@contextlib.contextmanager
def _driver_on_loopback(address: str) -> Iterator[None]:
    """While the driver connects to a cluster on this machine's loopback, keep it there.

    Ray 2.60 turns 127.0.0.1 (the address and `_node_ip_address` alike) into the machine's
    network address through `get_node_ip_address`, unless its "clusters enabled" constant is
    off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which changes only that lookup). The constant
    is read when called, so it is turned off for the connect alone and put back after.
    """
    if not _is_loopback(address):
        yield
        return
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def _is_loopback(address: str) -> bool:
    """True for `127.x.y.z:PORT`, `localhost:PORT`, `[::1]:PORT` (with or without `ray://`)."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

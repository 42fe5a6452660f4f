"""The executors and the stop token: a Ray trial is cancelled from its own token, never another's.

Ray itself is replaced by a stand-in here (a real cluster: tests/lab/test_ray.py); what is under
test is which tasks a stop cancels.
"""

from __future__ import annotations

import sys
import types
from concurrent.futures import Future

import pytest

from claw_nb.lab.executors import SLOT_RESOURCE, RayExecutor
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.trials import TrialSpec
from claw_nb.lab.variants import Variant
from claw_nb.stop import StopToken
from tests.lab.lab_helpers import TASKS


class FakeRef:
    def __init__(self, name: str):
        self.name = name
        self._future: Future = Future()

    def future(self) -> Future:
        return self._future


@pytest.fixture
def fake_ray(monkeypatch):
    ray = types.ModuleType("ray")
    ray.cancelled = []
    ray.is_initialized = lambda: True
    ray.cluster_resources = lambda: {SLOT_RESOURCE: 2}
    ray.cancel = ray.cancelled.append

    class Remote:
        def remote(self, work, spec, packed, args):
            return FakeRef(spec.task.name)

    ray.remote = lambda **options: lambda fn: Remote()
    monkeypatch.setitem(sys.modules, "ray", ray)
    return ray


def specs() -> list[TrialSpec]:
    return [TrialSpec("e", Variant("v"), task, 0) for task in load_tasks(TASKS)]


def test_stopping_a_trials_token_cancels_its_ray_task_and_no_other(fake_ray):
    executor = RayExecutor("127.0.0.1:6379", SLOT_RESOURCE, None)
    run_a, run_b = StopToken(), StopToken()
    first, second, third = specs()
    executor.submit(first, None, run_a.child())
    executor.submit(second, None, run_b.child())
    finished = executor.submit(third, None, run_b.child())
    run_a.stop()
    assert [ref.name for ref in fake_ray.cancelled] == [first.task.name]
    finished.set_result("done")  # a finished trial is forgotten: a later stop does not cancel it
    run_b.stop()
    assert [ref.name for ref in fake_ray.cancelled] == [first.task.name, second.task.name]


def test_shutting_down_cancels_only_what_has_not_finished(fake_ray):
    executor = RayExecutor("127.0.0.1:6379", SLOT_RESOURCE, None)
    first, second, _ = specs()
    done = executor.submit(first, None, StopToken())
    executor.submit(second, None)
    done.set_result("done")
    executor.shutdown(wait=False)
    assert [ref.name for ref in fake_ray.cancelled] == [second.task.name]

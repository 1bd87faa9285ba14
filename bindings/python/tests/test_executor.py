"""Python executors run by a real agent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import corral
from corral import v1
from corral.testing import LocalCluster
from conftest import Recorder, launch_on_first_offer

ECHO = str(Path(__file__).resolve().parent / "echo_executor.py")


def echo_executor() -> v1.ExecutorInfo:
    return corral.executor("echo", [sys.executable, ECHO], resources=corral.resources(cpus=0.1, mem=32))


def test_a_python_executor_exchanges_framework_messages(cluster: LocalCluster) -> None:
    rec = Recorder()
    launch_on_first_offer(rec, lambda o: [corral.task("echo", echo_executor(), corral.resources(cpus=0.1, mem=16),
                                                      offer=o, task_id="echo")])
    with corral.SchedulerDriver(rec, "messages", cluster.master) as driver:
        running = rec.wait_state("echo", v1.TASK_RUNNING)
        assert running.message == "echo executor ready"
        assert running.source == v1.TaskStatus.SOURCE_EXECUTOR
        for i in range(3):
            driver.message(running.agent_id, "echo", f"hello {i}".encode())
        rec.wait(lambda: len(rec.messages) == 3)
        assert sorted(rec.messages) == [b"echo:hello 0", b"echo:hello 1", b"echo:hello 2"]
        driver.message(running.agent_id, "echo", b"finish")
        finished = rec.wait_state("echo", v1.TASK_FINISHED)
        assert finished.data == b"bye"


def test_tasks_under_a_python_executor_can_be_killed(cluster: LocalCluster) -> None:
    rec = Recorder()
    launch_on_first_offer(rec, lambda o: [corral.task(f"k{i}", echo_executor(), corral.resources(cpus=0.1, mem=16),
                                                      offer=o, task_id=f"k{i}") for i in range(2)])
    with corral.SchedulerDriver(rec, "exec-kill", cluster.master) as driver:
        for i in range(2):
            rec.wait_state(f"k{i}", v1.TASK_RUNNING)
        driver.kill("k0")
        rec.wait_state("k0", v1.TASK_KILLED)
        assert v1.TASK_KILLED not in rec.states("k1")


def test_an_exception_in_an_executor_callback_ends_the_executor(cluster: LocalCluster) -> None:
    rec = Recorder()
    launch_on_first_offer(rec, lambda o: [corral.task("bad", echo_executor(), corral.resources(cpus=0.1, mem=16),
                                                      offer=o, task_id="bad", data=b"raise")])
    with corral.SchedulerDriver(rec, "exec-raise", cluster.master):
        # ExecutorDriver.run() re-raises, the process exits non-zero, and the
        # agent reports the task it never started as failed.
        final = rec.wait(lambda: next((u for u in rec.updates if u.task_id.value == "bad"
                                       and corral.is_terminal(u.state)), None))
        assert final.state in (v1.TASK_FAILED, v1.TASK_LOST)


def test_an_executor_driver_outside_an_agent_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESOS_AGENT_ENDPOINT", raising=False)
    monkeypatch.delenv("CORRAL_AGENT_ENDPOINT", raising=False)
    driver = corral.ExecutorDriver(corral.Executor())
    with pytest.raises(corral.PreconditionError, match="not running"):
        driver.update("t1", v1.TASK_RUNNING)
    with pytest.raises(corral.PreconditionError, match="not running"):
        driver.send_framework_message(b"too early")
    with pytest.raises(corral.InvalidCallError, match="MESOS_AGENT_ENDPOINT"):
        driver.start()
    with pytest.raises(TypeError, match="executor"):
        corral.ExecutorDriver(object())  # type: ignore[arg-type]

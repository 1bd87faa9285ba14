"""Fixtures for the Python SDK's tests: recording schedulers, and clusters
both in-process (LocalCluster) and as separate corral-master/corral-agent
processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import corral
from corral import v1
from corral.testing import LocalCluster, binary, master_state, wait_for

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
TIMEOUT = 30.0


class Recorder(corral.Scheduler):
    """Records every event; tests wait on what they expect with a deadline."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.framework_id: str | None = None
        self.offers_seen: list[v1.Offer] = []
        self.updates: list[v1.TaskStatus] = []
        self.messages: list[bytes] = []
        self.errors: list[str] = []
        self.rescinded: list[str] = []
        self.on_offers: Callable[[corral.SchedulerDriver, list[v1.Offer]], None] | None = None

    def _record(self, fn: Callable[[], None]) -> None:
        with self.cond:
            fn()
            self.cond.notify_all()

    def subscribed(self, driver: corral.SchedulerDriver, framework_id: str, master: v1.MasterInfo) -> None:
        self._record(lambda: setattr(self, "framework_id", framework_id))

    def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        self._record(lambda: self.offers_seen.extend(offers))
        if self.on_offers is not None:
            self.on_offers(driver, offers)

    def rescind(self, driver: corral.SchedulerDriver, offer_id: str) -> None:
        self._record(lambda: self.rescinded.append(offer_id))

    def update(self, driver: corral.SchedulerDriver, status: v1.TaskStatus) -> None:
        self._record(lambda: self.updates.append(status))

    def message(self, driver: corral.SchedulerDriver, agent_id: str, executor_id: str, data: bytes) -> None:
        self._record(lambda: self.messages.append(data))

    def error(self, driver: corral.SchedulerDriver, message: str) -> None:
        self._record(lambda: self.errors.append(message))

    def wait(self, predicate: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the expected event did not arrive in time")
                self.cond.wait(left)

    def states(self, task_id: str) -> list[int]:
        return [u.state for u in self.updates if u.task_id.value == task_id]

    def wait_state(self, task_id: str, state: int, timeout: float = TIMEOUT) -> v1.TaskStatus:
        def find() -> v1.TaskStatus | None:
            return next((u for u in self.updates if u.task_id.value == task_id and u.state == state), None)
        return self.wait(find, timeout)


def launch_on_first_offer(recorder: Recorder, make_tasks: Callable[[v1.Offer], list[v1.TaskInfo]]) -> None:
    """Makes `recorder` launch make_tasks(offer) on the first offer, and decline the rest."""
    done = threading.Event()

    def on_offers(driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        for offer in offers:
            if done.is_set():
                driver.decline(offer, refuse_seconds=3600)
            else:
                done.set()
                driver.launch(offer, make_tasks(offer))
    recorder.on_offers = on_offers


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(agents=2, allocation_interval=0.2) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProcessCluster:
    """corral-master and corral-agent as separate processes, from the package's binaries."""

    def __init__(self, work_dir: Path, agents: int = 1) -> None:
        self.work_dir = work_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        port = free_port()
        self.master = f"127.0.0.1:{port}"
        self._spawn("master", [binary("corral-master"), f"--port={port}", f"--work_dir={work_dir / 'master'}",
                               "--allocation_interval=200ms"])
        for i in range(agents):
            self._spawn(f"agent-{i}", [binary("corral-agent"), f"--master={self.master}", "--port=0",
                                       f"--work_dir={work_dir / f'agent-{i}'}", "--cgroups=false",
                                       "--resources=cpus:4;mem:4096;disk:10240;ports:[31000-32000]",
                                       "--registration_backoff=100ms"])
        try:
            wait_for(self._ready, TIMEOUT)
        except TimeoutError:
            self.close()
            raise TimeoutError(f"the cluster did not come up:\n{self.dump_logs()}") from None

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.work_dir / f"{name}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))

    def _ready(self) -> bool:
        try:
            return len(master_state(self.master, 1.0).agents) == len(self.procs) - 1
        except RuntimeError:
            return False

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def dump_logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for log in self.logs if log.exists())


@pytest.fixture
def process_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ProcessCluster]:
    c = ProcessCluster(tmp_path)
    yield c
    c.close()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(c.dump_logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def run_python(args: list[str], timeout: float = 120.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Runs a Python script with this interpreter; output captured."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs)

"""Testing frameworks for real: a whole Corral cluster inside the test process.

    from corral.testing import LocalCluster

    def test_my_framework():
        with LocalCluster(agents=2) as cluster:
            driver = corral.SchedulerDriver(MyScheduler(), "mine", cluster.master)
            ...

With pytest, the ``local_cluster`` fixture gives a started cluster (see
:mod:`corral.testing.plugin`). Tasks run as real processes on this machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from corral import _testing
from corral._cli import BIN_DIR, binary
from corral._ids import non_negative
from corral.v1 import internal_pb2

T = TypeVar("T")

DEFAULT_RESOURCES = "cpus:4;mem:4096;disk:10240;ports:[31000-32000]"


class LocalCluster:
    """A master and ``agents`` agents on loopback, with a temporary work
    directory that is removed on close (unless ``keep_work_dir``).

    ``resources`` is each agent's resources in Mesos syntax. ``cgroups``
    enables resource limits where this machine allows. ``offer_timeout``
    and ``allocation_interval`` are the master's (seconds). ``log_level``
    (debug, info, warning, error) applies to the cluster's own log lines.
    """

    def __init__(
        self,
        agents: int = 2,
        *,
        resources: str = DEFAULT_RESOURCES,
        work_dir: str | None = None,
        keep_work_dir: bool = False,
        cgroups: bool = False,
        offer_timeout: float = 0.0,
        allocation_interval: float = 1.0,
        agent_ping_timeout: float = 15.0,
        max_agent_ping_timeouts: int = 5,
        log_level: str = "warning",
        start: bool = True,
    ) -> None:
        if isinstance(agents, bool) or not isinstance(agents, int) or agents < 0:
            raise ValueError(f"agents: expected a count >= 0, got {agents!r}")
        if not isinstance(resources, str):
            raise TypeError(f"resources: expected a str in Mesos syntax, got {type(resources).__name__}")
        self._args = (agents, resources, work_dir or "", bool(keep_work_dir), str(BIN_DIR), bool(cgroups),
                      non_negative(offer_timeout, "offer_timeout"),
                      non_negative(allocation_interval, "allocation_interval"),
                      non_negative(agent_ping_timeout, "agent_ping_timeout"), int(max_agent_ping_timeouts),
                      log_level)
        self._cluster: _testing.LocalCluster | None = None
        if start:
            self.start()

    def start(self) -> LocalCluster:
        """Starts the cluster and waits for every agent to register."""
        if self._cluster is None:
            self._cluster = _testing.LocalCluster(*self._args)
            self._cluster.wait_for_agents(30.0)
        return self

    @property
    def _c(self) -> _testing.LocalCluster:
        if self._cluster is None:
            raise RuntimeError("the cluster is not running")
        return self._cluster

    @property
    def master(self) -> str:
        """``127.0.0.1:port`` of the master, for SchedulerDriver(master=...)."""
        return self._c.master()

    @property
    def work_dir(self) -> str:
        return self._c.work_dir()

    @property
    def agent_count(self) -> int:
        return self._c.agent_count()

    def add_agent(self, resources: str = "") -> int:
        """Starts one more agent; returns its index."""
        index = self._c.add_agent(resources)
        self._c.wait_for_agents(30.0)
        return index

    def stop_agent(self, index: int) -> None:
        """Stops agent ``index`` as if its machine went away (its tasks die with it)."""
        self._c.stop_agent(index)

    def state(self) -> internal_pb2.ClusterState:
        """The master's view: agents, frameworks, tasks and completed tasks."""
        return internal_pb2.ClusterState.FromString(self._c.state())

    def wait_for(self, predicate: Callable[[internal_pb2.ClusterState], T | None], timeout: float = 30.0) -> T:
        """Polls the master's state until ``predicate`` returns something truthy."""
        return wait_for(lambda: predicate(self.state()), timeout)

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def master_state(master: str, timeout: float = 10.0) -> internal_pb2.ClusterState:
    """The state of the master at ``host:port`` (any master, not just a LocalCluster's)."""
    return internal_pb2.ClusterState.FromString(_testing.master_state(master, non_negative(timeout, "timeout")))


def wait_for(fn: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.02) -> T:
    """Calls ``fn`` until it returns something truthy, which is returned;
    raises TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


__all__ = ["LocalCluster", "master_state", "wait_for", "binary", "DEFAULT_RESOURCES"]

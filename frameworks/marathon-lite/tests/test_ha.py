"""Two corral-marathon instances elected through a real ZooKeeper server:
the standby names the leader and proxies requests to it, and takes over a
deployment when the leader is killed with SIGKILL, finishing it exactly
once (the `marathon` client from PyPI, against real daemons)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import BIN, Cluster, Daemon, free_port, wait_for
from framework_daemons import ZooKeeper, elected, run_cluster
from marathon import MarathonClient
from marathon.models import MarathonApp


class HaCluster(Cluster):
    """A master, two agents, ZooKeeper, and two corral-marathon with --zk."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.zk = ZooKeeper(root)
        self.ports = [free_port(), free_port()]
        self.instances: list[Daemon | None] = [None, None]

    def start(self) -> None:
        self.zk.start()
        super().start()

    def start_marathon(self) -> None:  # both instances; one leads
        for i in range(2):
            self.start_instance(i)
        wait_for(self.leader, what="an elected marathon-lite")

    def start_instance(self, i: int) -> None:
        d = Daemon([str(BIN / "corral-marathon"), f"--master=127.0.0.1:{self.master_port}",
                    f"--http_port={self.ports[i]}", f"--work_dir={self.root}/marathon{i}",
                    f"--zk={self.zk.url('/marathon')}", "--zk_session_timeout=3secs",
                    "--reconciliation_interval=5secs", "--log_level=warning"],
                   self.root / f"marathon{i}.log")
        d.start()
        self.instances[i] = d

    def url_of(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def leader(self) -> int | None:
        """The instance that leads and serves (subscribed), if one does (1-based)."""
        return elected([f"127.0.0.1:{p}" if d is not None and d.proc is not None and d.proc.poll() is None else None
                        for p, d in zip(self.ports, self.instances)], "/v2/leader", "/v2/info")

    def stop(self) -> None:
        for d in self.instances:
            if d is not None:
                d.stop()
        super().stop()
        self.zk.stop()


@pytest.fixture
def ha(request: pytest.FixtureRequest) -> Iterator[HaCluster]:
    yield from run_cluster(request, HaCluster, ["corral-master", "corral-agent", "corral-marathon"], "marathon-ha-")


def running(m: MarathonClient, app_id: str, n: int) -> list[Any] | None:
    tasks = [t for t in m.list_tasks(app_id) if t.state == "TASK_RUNNING"]
    return tasks if len(tasks) == n else None


def test_standby_redirects_and_takes_over_a_deployment_after_kill9(ha: HaCluster) -> None:
    leader = wait_for(ha.leader) - 1
    standby = 1 - leader
    leader_addr = f"127.0.0.1:{ha.ports[leader]}"
    # The standby names the leader and proxies requests to it, as Marathon's do.
    r = wait_for(lambda: (x := requests.get(ha.url_of(standby) + "/v2/leader", timeout=2)).ok and x, what="leader")
    assert r.json() == {"leader": leader_addr}
    r = requests.get(ha.url_of(standby) + "/v2/info", allow_redirects=False, timeout=2)
    assert r.status_code == 200 and r.headers["X-Marathon-Leader"] == f"http://{leader_addr}"
    framework_id = r.json()["frameworkId"]
    assert framework_id == requests.get(ha.url_of(leader) + "/v2/info", timeout=2).json()["frameworkId"]
    r = requests.get(ha.url_of(standby) + "/v2/apps/nope", allow_redirects=False, timeout=2)
    assert r.status_code == 404 and "nope" in r.json()["message"]  # the leader's answer, as it gave it
    r = requests.get(ha.url_of(standby) + "/v2/events", allow_redirects=False, timeout=2)
    assert r.status_code == 307  # an event stream is redirected, not proxied
    assert r.headers["Location"] == f"http://{leader_addr}/v2/events"
    assert requests.get(ha.url_of(standby) + "/ping", timeout=2).ok

    # A client of the standby writes through it to the leader.
    m = MarathonClient(ha.url_of(standby))
    m.create_app("/db", MarathonApp(cmd="sleep 1000", cpus=0.1, mem=16, instances=3))
    assert [a.id for a in MarathonClient(ha.url_of(leader)).list_apps()] == ["/db"]
    before = {t.id for t in wait_for(lambda: running(MarathonClient(ha.url_of(standby)), "/db", 3),
                                     what="3 running")}
    m.scale_app("/db", instances=6)
    killed = ha.instances[leader]
    assert killed is not None
    killed.kill9()  # mid-deployment

    assert wait_for(ha.leader, timeout=30, what="the standby leading") - 1 == standby
    m2 = MarathonClient(ha.url_of(standby))
    tasks = wait_for(lambda: running(m2, "/db", 6), timeout=60, what="6 running under the new leader")
    assert before <= {t.id for t in tasks}, "running tasks were adopted, not replaced"
    # The master agrees: six tasks, none orphaned or doubled, no deployment left.
    wait_for(lambda: len(ha.master_tasks()) == 6 and not ha.master_tasks("TASK_STAGING"), what="the master's tasks")
    assert {t["id"] for t in ha.master_tasks()} == {t.id for t in tasks}
    wait_for(lambda: not m2.list_deployments(), what="the deployment finished")
    info = requests.get(ha.url_of(standby) + "/v2/info", timeout=2).json()
    assert info["frameworkId"] == framework_id, "the new leader resubscribed as the same framework"
    assert requests.get(ha.url_of(standby) + "/v2/leader", timeout=2).json() == {"leader": f"127.0.0.1:{ha.ports[standby]}"}

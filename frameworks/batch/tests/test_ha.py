"""Two corral-batch instances elected through a real ZooKeeper server: the
standby names the leader and proxies requests to it, and when the leader is
killed with SIGKILL between a parent job and its child, the new leader
runs the child exactly once (the `chronos-python` client from PyPI,
against real daemons)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import chronos
import pytest
import requests
from conftest import BIN, Batch, Daemon, free_port, wait_for
from framework_daemons import ZooKeeper, elected, run_cluster
from test_batch import by_name, chronos_job


class HaBatch(Batch):
    """A master, one agent, ZooKeeper, and two corral-batch with --zk."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.zk = ZooKeeper(root)
        self.ports = [free_port(), free_port()]
        self.instances: list[Daemon | None] = [None, None]

    def start(self) -> None:
        self.zk.start()
        super().start()  # master, agent, then start_batch below

    def start_batch(self) -> None:
        for i in range(2):
            self.start_instance(i)
        wait_for(self.leader, what="an elected corral-batch")

    def start_instance(self, i: int) -> None:
        d = Daemon([str(BIN / "corral-batch"), f"--master=127.0.0.1:{self.master_port}",
                    f"--http_port={self.ports[i]}", f"--work_dir={self.root}/batch{i}",
                    f"--zk={self.zk.url('/batch')}", "--zk_session_timeout=3secs",
                    "--reconciliation_interval=5secs", "--log_level=warning"],
                   self.root / f"batch{i}.log")
        d.start()
        self.instances[i] = d

    def address_of(self, i: int) -> str:
        return f"127.0.0.1:{self.ports[i]}"

    def leader(self) -> int | None:
        """The instance that leads and serves (subscribed), if one does (1-based)."""
        return elected([self.address_of(i) if d is not None and d.proc is not None and d.proc.poll() is None else None
                        for i, d in enumerate(self.instances)], "/leader", "/info")

    def stop(self) -> None:
        for d in self.instances:
            if d is not None:
                d.stop()
        super().stop()
        self.zk.stop()


@pytest.fixture
def ha(request: pytest.FixtureRequest) -> Iterator[HaBatch]:
    yield from run_cluster(request, HaBatch, ["corral-master", "corral-agent", "corral-batch"], "batch-ha-")


def test_standby_redirects_and_runs_the_child_once_after_kill9_of_the_leader(ha: HaBatch, tmp_path: Path) -> None:
    leader = wait_for(ha.leader) - 1
    standby = 1 - leader
    leader_url, standby_url = f"http://{ha.address_of(leader)}", f"http://{ha.address_of(standby)}"
    # The standby names the leader and proxies requests to it, as Chronos's do.
    r = wait_for(lambda: (x := requests.get(standby_url + "/leader", timeout=2)).ok and x, what="leader")
    assert r.json() == {"leader": ha.address_of(leader)}
    assert requests.get(standby_url + "/ping", timeout=2).ok

    # Jobs added through the standby land on the leader.
    c = chronos.connect(ha.address_of(standby))
    out, gate = tmp_path / "child", tmp_path / "gate"
    c.add(chronos_job("parent", f"while [ ! -e {gate} ]; do sleep 0.05; done"))
    c.add({"name": "child", "command": f"echo ran >> {out}", "owner": "ops@example.com", "disabled": False,
           "parents": ["parent"], "cpus": 0.1, "mem": 32})
    assert {j["name"] for j in chronos.connect(ha.address_of(leader)).list()} == {"parent", "child"}
    framework_id = requests.get(leader_url + "/info", timeout=2).json()["frameworkId"]
    c.run("parent")
    wait_for(lambda: [t for t in ha.master_tasks("parent") if t["state"] == "TASK_RUNNING"], what="the parent running")

    killed = ha.instances[leader]
    assert killed is not None
    killed.kill9()
    gate.touch()  # the parent finishes while no instance leads
    wait_for(lambda: [t for t in ha.master_tasks("parent") if t["state"] == "TASK_FINISHED"],
             what="the parent finished")

    assert wait_for(ha.leader, timeout=30, what="the standby leading") - 1 == standby
    c2 = chronos.connect(ha.address_of(standby))
    wait_for(lambda: by_name(c2.list(), "child")["successCount"] == 1, timeout=30, what="the child ran")
    assert by_name(c2.list(), "parent")["successCount"] == 1
    assert out.read_text().split() == ["ran"]
    assert len(ha.master_tasks("child")) == 1
    assert len(ha.master_tasks("parent")) == 1, "the parent was adopted, not launched again"
    assert requests.get(standby_url + "/info", timeout=2).json()["frameworkId"] == framework_id

    # The killed instance, started again, stands by behind the new leader.
    ha.start_instance(leader)
    r = wait_for(lambda: (x := requests.get(leader_url + "/leader", timeout=2)).ok and x, what="the old leader standing by")
    assert r.json() == {"leader": ha.address_of(standby)}
    r = requests.get(leader_url + "/v1/jobs/parent", allow_redirects=False, timeout=2)
    assert r.status_code == 200 and r.json()["id"] == "parent"  # proxied to the new leader

"""Authorization by Mesos's local-authorizer ACLs: a corral-master and a
corral-agent started with the sample ACLs of docs/acls.sample.json (every
caller authenticated), driven over the Mesos HTTP API with HTTP Basic
credentials as pymesos sends them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesos_client import JSON, Subscription, free_port, get, post, wait_for_health

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CORRAL_BIN_DIR", ROOT / "build" / "bin"))
SAMPLE_ACLS = ROOT / "docs" / "acls.sample.json"
PRINCIPALS = ["ops", "alice", "bob", "agent"]


def basic(principal: str) -> dict[str, str]:
    token = base64.b64encode(f"{principal}:{principal}-secret".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def wait_until(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)  # polling an HTTP endpoint, bounded by the deadline
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class Cluster:
    master: str
    agent: str
    dir: Path

    def get(self, path: str, principal: str, at: str | None = None) -> tuple[int, Any]:
        status, body, _ = get(at or self.master, path, basic(principal))
        return status, json.loads(body) if status == 200 and body else body.decode()

    def call(self, call: dict[str, Any], principal: str, at: str | None = None) -> tuple[int, Any]:
        status, body, _ = post(at or self.master, "/api/v1", json.dumps(call).encode(),
                               {"Content-Type": JSON, "Accept": JSON, **basic(principal)})
        return status, json.loads(body) if status == 200 and body else body.decode()

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.dir / "audit.log").read_text().splitlines()]

    def start_agent(self, credential: str, name: str) -> subprocess.Popen[bytes]:
        port = free_port()
        (self.dir / f"{name}-credential").write_text(f"{credential} {credential}-secret\n")
        log = open(self.dir / f"{name}.err", "w")
        return subprocess.Popen(
            [str(BIN / "corral-agent"), f"--master={self.master}", f"--port={port}",
             f"--work_dir={self.dir / name}", "--resources=cpus:4;mem:4096;disk:1024", "--cgroups=false",
             "--registration_backoff=100ms", f"--credential={self.dir / f'{name}-credential'}",
             f"--http_credentials={self.dir / 'credentials'}", "--authenticate_http_readonly",
             "--authenticate_http_readwrite", f"--acls={SAMPLE_ACLS}", f"--audit_log={self.dir / 'agent-audit.log'}"],
            stdout=subprocess.DEVNULL, stderr=log)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    (tmp_path / "credentials").write_text(json.dumps(
        {"credentials": [{"principal": p, "secret": f"{p}-secret"} for p in PRINCIPALS]}))
    port = free_port()
    master_log = open(tmp_path / "master.err", "w")
    master = subprocess.Popen(
        [str(BIN / "corral-master"), f"--port={port}", f"--work_dir={tmp_path / 'master'}",
         f"--credentials={tmp_path / 'credentials'}", "--authenticate_frameworks", "--authenticate_agents",
         "--authenticate_http_readonly", "--authenticate_http_readwrite", "--allocation_interval=100ms",
         f"--acls={SAMPLE_ACLS}", f"--audit_log={tmp_path / 'audit.log'}"],
        stdout=subprocess.DEVNULL, stderr=master_log)
    procs = [master]
    try:
        address = f"127.0.0.1:{port}"
        wait_for_health(address, tmp_path / "master.err")
        c = Cluster(address, "", tmp_path)
        procs.append(c.start_agent("agent", "agent"))
        wait_until(lambda: len(c.get("/master/slaves", "ops")[1]["slaves"]) == 1, "the agent to register")
        slave = c.get("/master/slaves", "ops")[1]["slaves"][0]
        c.agent = f"127.0.0.1:{slave['port']}"
        yield c
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(10)
        master_log.close()


class Framework:
    """A scheduler over /api/v1/scheduler, authenticated as its principal."""

    def __init__(self, cluster: Cluster, principal: str, user: str, roles: list[str]) -> None:
        self.cluster = cluster
        self.principal = principal
        info = {"user": user, "name": f"{principal}-framework", "principal": principal, "roles": roles,
                "capabilities": [{"type": "MULTI_ROLE"}]}
        self.sub = Subscription(cluster.master, json.dumps({"type": "SUBSCRIBE", "subscribe": {
            "framework_info": info}}).encode(), JSON, JSON, headers=basic(principal))
        self.id = ""
        if self.sub.status == 200:
            self.id = self.sub.next("SUBSCRIBED")["subscribed"]["framework_id"]["value"]

    def call(self, call: dict[str, Any]) -> tuple[int, str]:
        call = dict(call, framework_id={"value": self.id})
        status, body, _ = post(self.cluster.master, "/api/v1/scheduler", json.dumps(call).encode(),
                               {"Content-Type": JSON, "Mesos-Stream-Id": self.sub.stream_id,
                                **basic(self.principal)})
        return status, body.decode()

    def launch(self, *tasks: tuple[str, str | None]) -> None:
        """Launches (name, user) command tasks on one offer."""
        offer = self.sub.next("OFFERS")["offers"]["offers"][0]
        infos = []
        for name, user in tasks:
            command: dict[str, Any] = {"shell": True, "value": "sleep 60"}
            if user is not None:
                command["user"] = user
            infos.append({"name": name, "task_id": {"value": name}, "agent_id": offer["agent_id"],
                          "command": command, "resources": [
                              {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]})
        status, body = self.call({"type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}],
            "filters": {"refuse_seconds": 3600}}})
        assert status == 202, body

    def update(self, task: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.sub.next("UPDATE", deadline - time.monotonic())["update"]["status"]
            if status["task_id"]["value"] == task:
                return status

    def close(self) -> None:
        self.sub.close()


def test_frameworks_subscribe_only_in_their_own_roles(cluster: Cluster) -> None:
    refused = Framework(cluster, "alice", "nobody", ["bob"])
    assert refused.sub.status == 403, refused.sub.error
    assert refused.sub.error == ("Failed to subscribe: Not authorized to register_frameworks with role 'bob' "
                                 "(principal 'alice'; see --acls)")
    for roles in (["alice"], ["alice/dev", "alice"]):
        fw = Framework(cluster, "alice", "nobody", roles)
        assert fw.sub.status == 200, fw.sub.__dict__.get("error")
        fw.close()
    assert {"principal": "alice", "action": "register_frameworks", "object": "bob", "allowed": False}.items() <= \
        cluster.audit()[0].items()


def test_the_sample_acls_refuse_tasks_as_root(cluster: Cluster) -> None:
    fw = Framework(cluster, "alice", "nobody", ["alice"])
    try:
        fw.launch(("as-root", "root"), ("as-nobody", None))
        updates = {s["task_id"]["value"]: s for s in (fw.update("as-root"), fw.update("as-nobody"))}
        root = updates["as-root"]
        assert root["state"] == "TASK_ERROR"
        assert root["reason"] == "REASON_TASK_UNAUTHORIZED"
        assert root["source"] == "SOURCE_MASTER"
        assert root["message"] == "Not authorized to run_tasks with user 'root' (principal 'alice'; see --acls)"
        assert updates["as-nobody"]["state"] in ("TASK_STARTING", "TASK_RUNNING")
    finally:
        fw.close()


def test_state_shows_each_principal_only_what_it_may_view(cluster: Cluster) -> None:
    alice = Framework(cluster, "alice", "alice", ["alice"])
    bob = Framework(cluster, "bob", "bob", ["bob"])
    try:
        # alice's framework runs a task as nobody: alice may view her
        # framework (user alice) but not that task (user nobody).
        alice.launch(("alice-task", "nobody"))
        alice.update("alice-task")

        def frameworks(body: dict[str, Any]) -> set[str]:
            return {f["id"] for f in body["frameworks"]}

        for path in ("/master/state", "/master/frameworks", "/master/state-summary"):
            assert frameworks(cluster.get(path, "ops")[1]) == {alice.id, bob.id}, path
            assert frameworks(cluster.get(path, "alice")[1]) == {alice.id}, path
            assert frameworks(cluster.get(path, "bob")[1]) == {bob.id}, path
        state = cluster.get("/master/state", "alice")[1]
        assert state["frameworks"][0]["tasks"] == []
        [seen_by_ops] = [f for f in cluster.get("/master/state", "ops")[1]["frameworks"] if f["id"] == alice.id]
        assert [t["id"] for t in seen_by_ops["tasks"]] == ["alice-task"]
        assert [t["id"] for t in cluster.get("/master/tasks", "ops")[1]["tasks"]] == ["alice-task"]
        assert cluster.get("/master/tasks", "alice")[1]["tasks"] == []
        # The operator API's views are filtered the same way.
        status, body = cluster.call({"type": "GET_FRAMEWORKS"}, "bob")
        assert status == 200, body
        assert [f["framework_info"]["id"]["value"] for f in body["get_frameworks"]["frameworks"]] == [bob.id]
        status, body = cluster.call({"type": "GET_TASKS"}, "alice")
        assert status == 200 and not body["get_tasks"].get("tasks"), body
        status, body = cluster.call({"type": "GET_TASKS"}, "ops")
        assert [t["task_id"]["value"] for t in body["get_tasks"]["tasks"]] == ["alice-task"]
        status, body = cluster.call({"type": "GET_EXECUTORS"}, "alice")
        assert status == 200 and not body["get_executors"].get("executors"), body
    finally:
        alice.close()
        bob.close()


def test_the_operator_event_stream_is_filtered_too(cluster: Cluster) -> None:
    first = Framework(cluster, "alice", "alice", ["alice"])
    events = Subscription(cluster.master, b'{"type": "SUBSCRIBE"}', JSON, JSON, path="/api/v1",
                          headers=basic("alice"))
    others: list[Framework] = []
    try:
        assert events.status == 200
        subscribed = events.next("SUBSCRIBED")["subscribed"]["get_state"]["get_frameworks"]["frameworks"]
        assert [f["framework_info"]["id"]["value"] for f in subscribed] == [first.id]
        others.append(Framework(cluster, "bob", "bob", ["bob"]))
        others.append(Framework(cluster, "alice", "alice", ["alice"]))
        # bob's framework came first, but alice is told only of her own.
        added = events.next("FRAMEWORK_ADDED")["framework_added"]["framework"]["framework_info"]
        assert added["id"]["value"] == others[1].id
    finally:
        events.close()
        for f in [first, *others]:
            f.close()


def test_each_operator_action_is_allowed_and_refused(cluster: Cluster) -> None:
    agent_id = cluster.get("/master/slaves", "ops")[1]["slaves"][0]["id"]
    # A machine without agents: taking it down for maintenance leaves the agent be.
    machine = {"hostname": "spare.example.com"}
    schedule = {"windows": [{"machine_ids": [machine],
                             "unavailability": {"start": {"nanoseconds": int(time.time() * 1e9)}}}]}
    alice = Framework(cluster, "alice", "nobody", ["alice"])
    try:
        def reservation(role: str, principal: str) -> dict[str, Any]:
            return {"agent_id": {"value": agent_id}, "resources": [{
                "name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
                "reservations": [{"type": "DYNAMIC", "role": role, "principal": principal}]}]}

        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "alice", "weight": 2}]}},
             "update_weights", "role 'alice'"),
            ({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
                {"role": "alice", "guarantees": {"cpus": {"value": 1}}}]}}, "update_quotas", "role 'alice'"),
            ({"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {"schedule": schedule}},
             "update_maintenance_schedules", ""),
            ({"type": "GET_MAINTENANCE_SCHEDULE"}, "get_maintenance_schedules", ""),
            ({"type": "GET_MAINTENANCE_STATUS"}, "get_maintenance_statuses", ""),
            ({"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}}, "start_maintenances", ""),
            ({"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [machine]}}, "stop_maintenances", ""),
            ({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": agent_id}}}, "drain_agents", ""),
            ({"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": agent_id}}},
             "reactivate_agents", ""),
            ({"type": "GET_FLAGS"}, "view_flags", ""),
            ({"type": "GET_METRICS"}, "get_endpoints", "path '/metrics/snapshot'"),
            ({"type": "RESERVE_RESOURCES", "reserve_resources": reservation("bob", "alice")},
             "reserve_resources", "role 'bob'"),
            ({"type": "TEARDOWN", "teardown": {"framework_id": {"value": alice.id}}},
             "teardown_frameworks", "framework principal 'alice'"),
        ]
        for call, action, noun in cases:
            status, body = cluster.call(call, "alice")
            what = f" with {noun}" if noun else ""
            assert (status, body) == (403, f"Not authorized to {action}{what} (principal 'alice'; see --acls)"), call
            status, body = cluster.call(call, "ops")
            assert status in (200, 202), (call, body)
        # A framework's principal reserves for its own role, and only the
        # principal that made a reservation (or ops) unreserves it.
        assert cluster.call({"type": "RESERVE_RESOURCES", "reserve_resources": reservation("alice", "alice")},
                            "alice")[0] == 202
        status, body = cluster.call({"type": "UNRESERVE_RESOURCES",
                                     "unreserve_resources": reservation("alice", "alice")}, "bob")
        assert (status, body) == (403, "Not authorized to unreserve_resources with reserver principal 'alice' "
                                       "(principal 'bob'; see --acls)")
        assert cluster.call({"type": "UNRESERVE_RESOURCES", "unreserve_resources": reservation("alice", "alice")},
                            "alice")[0] == 202
        # GET_QUOTA shows each principal the roles it may see.
        cluster.call({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
            {"role": "bob", "guarantees": {"cpus": {"value": 1}}}]}}, "ops")
        roles = lambda p: {c["role"] for c in cluster.call({"type": "GET_QUOTA"}, p)[1]["get_quota"]["status"].get(
            "configs", [])}
        assert roles("ops") == {"alice", "bob"}
        assert roles("alice") == {"alice"}
        # The endpoints behind get_endpoints and view_flags.
        for path in ("/metrics/snapshot", "/flags"):
            assert cluster.get(path, "alice")[0] == 403, path
            assert cluster.get(path, "ops")[0] == 200, path
        status, body = cluster.call({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent_id}}},
                                    "alice")
        assert (status, body) == (403, "Not authorized to mark_agents_gone (principal 'alice'; see --acls)")
        assert cluster.call({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent_id}}},
                            "ops")[0] == 200
        # The audit log has every refusal and every change operators made.
        audit = cluster.audit()
        refused = {r["action"] for r in audit if r.get("allowed") is False}
        assert {action for _, action, _ in cases} | {"unreserve_resources", "mark_agents_gone"} <= refused
        changes = [(r["principal"], r["call"], r["result"]) for r in audit if "call" in r]
        assert ("ops", "TEARDOWN", "OK") in changes
        assert ("ops", "MARK_AGENT_GONE", "OK") in changes
        assert ("alice", "DRAIN_AGENT", "Not authorized to drain_agents (principal 'alice'; see --acls)") in changes
        assert not any(r.get("call", "").startswith("GET_") for r in audit)
    finally:
        alice.close()


def test_agents_register_only_as_a_principal_the_acls_allow(cluster: Cluster) -> None:
    impostor = cluster.start_agent("alice", "impostor")
    try:
        assert impostor.wait(30) != 0
        assert "Not authorized to register_agents (principal 'alice'; see --acls)" in \
            (cluster.dir / "impostor.err").read_text()
        assert len(cluster.get("/master/slaves", "ops")[1]["slaves"]) == 1
    finally:
        if impostor.poll() is None:
            impostor.kill()
            impostor.wait(10)


def test_the_agents_state_is_filtered_as_the_masters(cluster: Cluster) -> None:
    alice = Framework(cluster, "alice", "alice", ["alice"])
    bob = Framework(cluster, "bob", "bob", ["bob"])
    try:
        # alice's framework runs a task as nobody (which alice may not
        # view), bob's one as bob (its framework's user).
        alice.launch(("alice-as-nobody", "nobody"))
        alice.update("alice-as-nobody")
        bob.launch(("bob-task", None))
        bob.update("bob-task")

        def seen(principal: str) -> tuple[set[str], set[str]]:
            status, state = cluster.get("/state", principal, at=cluster.agent)
            assert status == 200, state
            frameworks = {f["id"] for f in state["frameworks"]}
            tasks = {t["id"] for f in state["frameworks"] for e in f["executors"] + f["completed_executors"]
                     for t in e["tasks"] + e["completed_tasks"]}
            return frameworks, tasks

        def task_ids(get_tasks: dict[str, Any]) -> set[str]:  # launched, terminated (bob may not exist here), ...
            return {t["task_id"]["value"] for tasks in get_tasks.values() for t in tasks}

        assert seen("ops") == ({alice.id, bob.id}, {"alice-as-nobody", "bob-task"})
        assert seen("alice") == ({alice.id}, set())
        assert seen("bob") == ({bob.id}, {"bob-task"})
        # The agent's operator API answers the same way.
        status, body = cluster.call({"type": "GET_TASKS"}, "bob", at=cluster.agent)
        assert status == 200, body
        assert task_ids(body["get_tasks"]) == {"bob-task"}
        status, body = cluster.call({"type": "GET_FRAMEWORKS"}, "alice", at=cluster.agent)
        assert [f["framework_info"]["id"]["value"] for f in body["get_frameworks"]["frameworks"]] == [alice.id]
        status, body = cluster.call({"type": "GET_EXECUTORS"}, "alice", at=cluster.agent)
        assert status == 200 and not body["get_executors"].get("executors"), body
        status, body = cluster.call({"type": "GET_STATE"}, "ops", at=cluster.agent)
        assert task_ids(body["get_state"]["get_tasks"]) == {"alice-as-nobody", "bob-task"}
    finally:
        alice.close()
        bob.close()


def test_sandboxes_are_read_only_by_who_may_access_their_user(cluster: Cluster) -> None:
    fw = Framework(cluster, "alice", "alice", ["alice"])
    try:
        fw.launch(("output", "nobody"))
        assert fw.update("output")["state"] in ("TASK_STARTING", "TASK_RUNNING")
        [framework] = cluster.get("/state", "ops", at=cluster.agent)[1]["frameworks"]
        sandbox = framework["executors"][0]["directory"]
        path = f"/files/browse?path={sandbox}"
        status, body = cluster.get(path, "alice", at=cluster.agent)
        assert (status, body) == (403, "Not authorized to access_sandboxes with user 'nobody' "
                                       "(principal 'alice'; see --acls)")
        assert cluster.get(path, "ops", at=cluster.agent)[0] == 200
        status, body = cluster.call({"type": "LIST_FILES", "list_files": {"path": sandbox}}, "alice", at=cluster.agent)
        assert status == 403, body
    finally:
        fw.close()

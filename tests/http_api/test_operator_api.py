"""The operator API (POST /api/v1) and the JSON endpoints that Mesos tools
and dashboards read, checked field by field against the shapes Mesos
documents for a known cluster."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from corral.testing import LocalCluster, wait_for
from corral.v1 import master_pb2
from mesos_client import JSON, PROTOBUF, Subscription, get, get_json, operator_call
from test_scheduler_api import Scheduler, task

RESOURCES = {"cpus": 2.0, "gpus": 0.0, "mem": 2048.0, "disk": 4096.0, "ports": "[31000-31099]"}


def run_one_task(cluster: LocalCluster) -> tuple[Scheduler, dict[str, Any]]:
    s = Scheduler(cluster.master, JSON)
    s.subscribe()
    offer = s.sub.next("OFFERS")["offers"]["offers"][0]  # type: ignore[union-attr]
    code, body = s.call({"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("web", "sleep 60", offer)]}}],
        "filters": {"refuse_seconds": 3600}}})
    assert code == 202, body
    s.update("web", "TASK_RUNNING")
    return s, offer


def test_master_state_has_the_shape_mesos_documents(cluster: LocalCluster) -> None:
    s, offer = run_one_task(cluster)
    state = get_json(cluster.master, "/master/state")
    for alias in ("/state", "/state.json", "/master/state.json"):
        assert set(get_json(cluster.master, alias)) == set(state)

    assert set(state) >= {"version", "git_sha", "build_date", "build_time", "build_user", "start_time",
                          "elected_time", "id", "pid", "hostname", "activated_slaves", "deactivated_slaves",
                          "unreachable_slaves", "leader", "leader_info", "flags", "slaves", "frameworks",
                          "completed_frameworks", "orphan_tasks", "unregistered_frameworks"}
    assert re.fullmatch(r"master@127\.0\.0\.1:\d+", state["pid"])
    assert state["leader"] == state["pid"]
    assert state["activated_slaves"] == 2 and state["deactivated_slaves"] == 0
    assert state["unreachable_slaves"] == 0
    assert state["flags"]["allocation_interval"]

    slaves = {a["id"]: a for a in state["slaves"]}
    assert len(slaves) == 2
    agent = slaves[offer["agent_id"]["value"]]
    assert agent["resources"] == RESOURCES
    assert agent["used_resources"]["cpus"] == 0.1 and agent["used_resources"]["mem"] == 32
    assert agent["unreserved_resources"] == RESOURCES
    assert agent["active"] is True and agent["attributes"] == {}
    assert re.fullmatch(r"slave\(1\)@.+:\d+", agent["pid"])
    assert isinstance(agent["registered_time"], float)

    [fw] = state["frameworks"]
    assert fw["id"] == s.framework_id and fw["name"] == "http-test" and fw["user"] == "nobody"
    assert fw["active"] is True and fw["connected"] is True
    assert fw["roles"] == ["*"] and fw["failover_timeout"] == 3600
    assert fw["capabilities"] == ["MULTI_ROLE", "PARTITION_AWARE"]
    assert fw["used_resources"]["cpus"] == 0.1
    [t] = fw["tasks"]
    assert {k: t[k] for k in ("id", "name", "framework_id", "executor_id", "slave_id", "state", "role")} == {
        "id": "web", "name": "web", "framework_id": s.framework_id, "executor_id": "",
        "slave_id": offer["agent_id"]["value"], "state": "TASK_RUNNING", "role": "*"}
    assert t["resources"] == {"cpus": 0.1, "gpus": 0.0, "mem": 32.0, "disk": 0.0}
    assert [st["state"] for st in t["statuses"]] == ["TASK_RUNNING"]
    assert fw["completed_tasks"] == [] and fw["unreachable_tasks"] == []

    summary = get_json(cluster.master, "/master/state-summary")
    [sfw] = summary["frameworks"]
    assert sfw["TASK_RUNNING"] == 1 and sfw["slave_ids"] == [offer["agent_id"]["value"]]
    assert sum(a["TASK_RUNNING"] for a in summary["slaves"]) == 1

    assert {a["id"] for a in get_json(cluster.master, "/master/slaves")["slaves"]} == set(slaves)
    assert [t["id"] for t in get_json(cluster.master, "/master/tasks")["tasks"]] == ["web"]
    assert get_json(cluster.master, "/master/tasks?limit=1&offset=1")["tasks"] == []
    status, body, _ = get(cluster.master, "/master/tasks?order=sideways")
    assert status == 400 and b"order" in body
    roles = get_json(cluster.master, "/master/roles")["roles"]
    assert [(r["name"], r["frameworks"]) for r in roles] == [("*", [s.framework_id])]


def test_get_state_over_the_operator_api(cluster: LocalCluster) -> None:
    s, offer = run_one_task(cluster)
    for fmt in (JSON, PROTOBUF):
        status, answer = operator_call(cluster.master, {"type": "GET_STATE"}, master_pb2.Response, fmt)
        assert status == 200, answer
        assert answer["type"] == "GET_STATE"
        st = answer["get_state"]
        [t] = st["get_tasks"]["tasks"]
        assert t["task_id"] == {"value": "web"} and t["state"] == "TASK_RUNNING"
        assert t["framework_id"] == {"value": s.framework_id} and t["agent_id"] == offer["agent_id"]
        [fw] = st["get_frameworks"]["frameworks"]
        assert fw["framework_info"]["name"] == "http-test" and fw["active"] and fw["connected"]
        agents = st["get_agents"]["agents"]
        assert len(agents) == 2 and all(a["active"] for a in agents)
        names = {r["name"] for r in agents[0]["total_resources"]}
        assert names == {"cpus", "mem", "disk", "ports"}

    for call, key in [("GET_AGENTS", "get_agents"), ("GET_FRAMEWORKS", "get_frameworks"), ("GET_TASKS", "get_tasks"),
                      ("GET_EXECUTORS", "get_executors"), ("GET_MASTER", "get_master"), ("GET_ROLES", "get_roles"),
                      ("GET_WEIGHTS", "get_weights"), ("GET_FLAGS", "get_flags"), ("GET_VERSION", "get_version"),
                      ("GET_LOGGING_LEVEL", "get_logging_level"), ("GET_MAINTENANCE_SCHEDULE", None)]:
        status, answer = operator_call(cluster.master, {"type": call})
        assert status == 200 and answer["type"] == call, (call, answer)
        if key is not None:
            assert key in answer, (call, answer)
    status, answer = operator_call(cluster.master, {"type": "GET_HEALTH"})
    assert answer == {"type": "GET_HEALTH", "get_health": {"healthy": True}}
    status, answer = operator_call(cluster.master, {"type": "GET_MASTER"})
    assert answer["get_master"]["master_info"]["port"] == int(cluster.master.rsplit(":", 1)[1])


def test_operator_calls_change_the_cluster(cluster: LocalCluster) -> None:
    s, offer = run_one_task(cluster)
    m = cluster.master
    agent_id = offer["agent_id"]["value"]
    host = get_json(m, "/master/slaves")["slaves"][0]["hostname"]

    schedule = {"windows": [{"machine_ids": [{"hostname": host}],
                             "unavailability": {"start": {"nanoseconds": "4102444800000000000"}}}]}
    assert operator_call(m, {"type": "UPDATE_MAINTENANCE_SCHEDULE",
                             "update_maintenance_schedule": {"schedule": schedule}}) == (200, "")
    status, answer = operator_call(m, {"type": "GET_MAINTENANCE_SCHEDULE"})
    assert answer["get_maintenance_schedule"]["schedule"]["windows"][0]["machine_ids"] == [{"hostname": host}]
    status, answer = operator_call(m, {"type": "GET_MAINTENANCE_STATUS"})
    assert answer["get_maintenance_status"]["status"]["draining_machines"][0]["id"] == {"hostname": host}
    assert operator_call(m, {"type": "UPDATE_MAINTENANCE_SCHEDULE",
                             "update_maintenance_schedule": {"schedule": {}}}) == (200, "")

    # DRAIN_AGENT kills the task and deactivates the agent.
    assert operator_call(m, {"type": "DRAIN_AGENT", "drain_agent": {
        "agent_id": {"value": agent_id}, "max_grace_period": "0s"}}) == (200, "")
    s.update("web", "TASK_KILLED")
    wait_for(lambda: get_json(m, "/master/state")["deactivated_slaves"] == 1, 30)
    assert operator_call(m, {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": agent_id}}}) == (
        200, "")
    wait_for(lambda: get_json(m, "/master/state")["activated_slaves"] == 2, 30)

    # MARK_AGENT_GONE removes it.
    assert operator_call(m, {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent_id}}}) == (
        200, "")
    assert agent_id not in {a["id"] for a in get_json(m, "/master/slaves")["slaves"]}

    # TEARDOWN of the framework by the operator ends its subscription.
    assert operator_call(m, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": s.framework_id}}}) == (200, "")
    assert s.sub.closed.wait(10)  # type: ignore[union-attr]
    assert get_json(m, "/master/frameworks")["frameworks"] == []


@pytest.mark.parametrize("fmt", [JSON, PROTOBUF])
def test_operator_subscribe_streams_what_happens(cluster: LocalCluster, fmt: str) -> None:
    m = cluster.master
    body = (json.dumps({"type": "SUBSCRIBE"}).encode() if fmt == JSON
            else master_pb2.Call(type=master_pb2.Call.SUBSCRIBE).SerializeToString())
    sub = Subscription(m, body, fmt, fmt, path="/api/v1", event=master_pb2.Event)
    assert sub.status == 200, sub.__dict__.get("error")
    try:
        subscribed = sub.next("SUBSCRIBED")["subscribed"]
        assert len(subscribed["get_state"]["get_agents"]["agents"]) == 2
        assert subscribed["heartbeat_interval_seconds"] > 0

        cluster.add_agent()
        new_agent = sub.next("AGENT_ADDED")["agent_added"]["agent"]
        assert new_agent["active"] and new_agent["agent_info"]["id"]["value"]
        assert new_agent["agent_info"]["id"]["value"] not in {
            a["agent_info"]["id"]["value"] for a in subscribed["get_state"]["get_agents"]["agents"]}

        s, offer = run_one_task(cluster)
        added = sub.next("FRAMEWORK_ADDED")["framework_added"]["framework"]
        assert added["framework_info"]["id"] == {"value": s.framework_id}
        assert added["framework_info"]["name"] == "http-test"
        task_added = sub.next("TASK_ADDED")["task_added"]["task"]
        assert task_added["task_id"] == {"value": "web"} and task_added["state"] == "TASK_STAGING"
        assert task_added["agent_id"] == offer["agent_id"]
        while True:
            updated = sub.next("TASK_UPDATED")["task_updated"]
            assert updated["framework_id"] == {"value": s.framework_id}
            if updated["state"] == "TASK_RUNNING":
                break
        assert updated["status"]["task_id"] == {"value": "web"}

        assert operator_call(m, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": s.framework_id}}}) == (
            200, "")
        removed = sub.next("FRAMEWORK_REMOVED")["framework_removed"]
        assert removed["framework_info"]["id"] == {"value": s.framework_id}

        agent_id = offer["agent_id"]["value"]
        assert operator_call(m, {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent_id}}}) == (
            200, "")
        assert sub.next("AGENT_REMOVED")["agent_removed"]["agent_id"] == {"value": agent_id}
    finally:
        sub.close()


def test_weights_and_quotas(cluster: LocalCluster) -> None:
    m = cluster.master
    assert operator_call(m, {"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
        {"role": "dev", "weight": 2.5}, {"role": "ops", "weight": 1}]}}) == (200, "")
    status, answer = operator_call(m, {"type": "GET_WEIGHTS"})
    assert answer["get_weights"]["weight_infos"] == [{"role": "dev", "weight": 2.5}, {"role": "ops", "weight": 1.0}]
    status, body = operator_call(m, {"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
        {"role": "dev", "weight": -1}]}})
    assert status == 400 and "dev" in body

    # The cluster has 4 cpus: a guarantee of 1 fits, one of 100 only when forced.
    quota = {"role": "dev", "guarantees": {"cpus": {"value": 1}}, "limits": {"cpus": {"value": 2}, "mem": {"value": 512}}}
    assert operator_call(m, {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [quota]}}) == (200, "")
    status, answer = operator_call(m, {"type": "GET_QUOTA"})
    assert answer["type"] == "GET_QUOTA"
    [config] = answer["get_quota"]["status"]["configs"]
    assert config == quota
    [info] = answer["get_quota"]["status"]["infos"]
    assert info["role"] == "dev" and info["guarantee"][0]["name"] == "cpus"

    big = {"role": "ops", "guarantees": {"cpus": {"value": 100}}}
    status, body = operator_call(m, {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [big]}})
    assert status == 409 and "force" in body
    assert operator_call(m, {"type": "UPDATE_QUOTA", "update_quota": {"force": True, "quota_configs": [big]}}) == (
        200, "")
    inverted = {"role": "qa", "guarantees": {"mem": {"value": 10}}, "limits": {"mem": {"value": 5}}}
    status, body = operator_call(m, {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [inverted]}})
    assert status == 400 and "limit" in body

    # Roles show weights and quotas, in the operator API and in /master/roles.
    status, answer = operator_call(m, {"type": "GET_ROLES"})
    roles = {r["name"]: r for r in answer["get_roles"]["roles"]}
    assert roles["dev"]["weight"] == 2.5 and roles["dev"]["quota"] == quota
    legacy = {r["name"]: r for r in get_json(m, "/master/roles")["roles"]}
    assert legacy["dev"]["weight"] == 2.5
    assert legacy["dev"]["quota"] == {"role": "dev", "guarantee": {"cpus": 1.0}, "limit": {"cpus": 2.0, "mem": 512.0}}

    # An empty config removes a role's quota.
    assert operator_call(m, {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [{"role": "ops"}]}}) == (
        200, "")
    status, answer = operator_call(m, {"type": "GET_QUOTA"})
    assert [c["role"] for c in answer["get_quota"]["status"]["configs"]] == ["dev"]


def test_reserve_and_unreserve_resources(cluster: LocalCluster) -> None:
    m = cluster.master
    agent_id = get_json(m, "/master/slaves")["slaves"][0]["id"]

    def call(kind: str, cpus: float, reservation: dict[str, str] | None = None) -> dict[str, Any]:
        resource = {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus},
                    "reservations": [reservation or {"type": "DYNAMIC", "role": "dev", "principal": "ops"}]}
        return {"type": kind, kind.lower(): {"agent_id": {"value": agent_id}, "resources": [resource]}}

    def agent() -> dict[str, Any]:
        return {a["id"]: a for a in get_json(m, "/master/state")["slaves"]}[agent_id]

    assert operator_call(m, call("RESERVE_RESOURCES", 1.5)) == (202, "")
    reserved = agent()
    assert reserved["reserved_resources"] == {"dev": {"cpus": 1.5, "disk": 0.0, "gpus": 0.0, "mem": 0.0}}
    assert reserved["unreserved_resources"]["cpus"] == 0.5
    assert reserved["resources"]["cpus"] == 2.0
    status, answer = operator_call(m, {"type": "GET_AGENTS"})
    [mine] = [a for a in answer["get_agents"]["agents"] if a["agent_info"]["id"]["value"] == agent_id]
    dynamic = [r for r in mine["total_resources"] if r.get("reservations")]
    assert dynamic[0]["reservations"] == [{"type": "DYNAMIC", "role": "dev", "principal": "ops"}]
    assert dynamic[0]["scalar"]["value"] == 1.5

    # Refusals: more than is unreserved (409), a reservation that is not
    # dynamic (400), an unknown agent (404).
    status, body = operator_call(m, call("RESERVE_RESOURCES", 1))
    assert status == 409 and "cpus" in body, body
    status, body = operator_call(m, call("RESERVE_RESOURCES", 0.5, {"type": "STATIC", "role": "dev"}))
    assert status == 400 and "DYNAMIC" in body, body
    wrong = call("UNRESERVE_RESOURCES", 0.5)
    wrong["unreserve_resources"]["agent_id"]["value"] = "nope"
    status, body = operator_call(m, wrong)
    assert status == 404 and "nope" in body
    assert agent()["reserved_resources"] == reserved["reserved_resources"]

    assert operator_call(m, call("UNRESERVE_RESOURCES", 1.5)) == (202, "")
    back = agent()
    assert back["reserved_resources"] == {}
    assert back["unreserved_resources"] == RESOURCES


def test_operator_errors(cluster: LocalCluster) -> None:
    m = cluster.master
    status, body = operator_call(m, {"type": "TEARDOWN"})
    assert status == 400 and "teardown.framework_id" in body
    status, body = operator_call(m, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nope"}}})
    assert status == 404 and "nope" in body
    status, body = operator_call(m, {"type": "GET_STATE", "extra": True})
    assert status == 200  # unknown keys are skipped, as Mesos does
    status, body = operator_call(m, {"type": "NOT_A_CALL"})
    assert status == 400 and "NOT_A_CALL" in body
    status, body = operator_call(m, {"type": "CREATE_VOLUMES"})
    assert status == 501 and "CREATE_VOLUMES" in body
    status, body = operator_call(m, {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "nope"}}})
    assert status == 404 and "nope" in body


def test_health_version_flags_and_metrics(cluster: LocalCluster) -> None:
    m = cluster.master
    run_one_task(cluster)
    assert get(m, "/health")[0] == 200
    assert get_json(m, "/version")["version"]
    assert "allocation_interval" in get_json(m, "/flags")["flags"]

    snapshot = get_json(m, "/metrics/snapshot")
    assert snapshot["master/tasks_running"] == 1
    assert snapshot["master/slaves_active"] == 2
    assert snapshot["master/frameworks_active"] == 1
    assert snapshot["master/cpus_total"] == 4 and snapshot["master/cpus_used"] == 0.1
    assert abs(snapshot["master/cpus_percent"] - 0.025) < 1e-9
    assert snapshot["master/elected"] == 1 and snapshot["allocator/mesos/allocation_runs"] >= 1

    status, body, headers = get(m, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert "# TYPE master_tasks_running gauge\nmaster_tasks_running 1\n" in text
    assert "# TYPE master_tasks_finished counter\n" in text
    samples = dict(line.split(" ") for line in text.splitlines() if not line.startswith("#"))
    assert float(samples["master_cpus_total"]) == snapshot["master/cpus_total"]

    status, answer = operator_call(m, {"type": "GET_METRICS"})
    metrics = {x["name"]: x.get("value", 0) for x in answer["get_metrics"]["metrics"]}
    assert metrics["master/tasks_running"] == 1

    status, _, headers = get(m, "/master/redirect")
    assert status == 307 and headers["location"] == "//" + m
    status, body, _ = get(m, "/master/state")
    json.loads(body)

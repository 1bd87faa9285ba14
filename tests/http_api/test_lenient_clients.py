"""Mesos's JSON the way real clients write it: keys of older and newer Mesos
versions beside the ones Corral knows, frameworks without MULTI_ROLE that
copy offered resources into their tasks verbatim, and the paths, calls and
query parameters Mesos accepts."""

from __future__ import annotations

import json
from typing import Any

from corral.testing import LocalCluster
from mesos_client import JSON, Subscription, get, get_json, operator_call, post

# An old-style framework: one `role`, no MULTI_ROLE, and keys Corral has no
# field for (a v0 name, a field of a later Mesos, an unknown capability).
OLD_FRAMEWORK = {"user": "nobody", "name": "lenient", "role": "*", "failover_timeout": 60,
                 "capabilities": [{"type": "PARTITION_AWARE"}, {"type": "SOME_FUTURE_CAPABILITY"}],
                 "slave_id": {"value": "ignored"}, "some_future_field": {"nested": [1, 2, 3]}}


def subscribe(master: str, info: dict[str, Any]) -> tuple[Subscription, str]:
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": info},
                       "unknown_top_level_key": True}).encode()
    sub = Subscription(master, body, JSON, JSON)
    assert sub.status == 200, sub.__dict__.get("error")
    return sub, sub.next("SUBSCRIBED")["subscribed"]["framework_id"]["value"]


def call(master: str, sub: Subscription, framework_id: str, c: dict[str, Any]) -> tuple[int, str]:
    c = dict(c, framework_id={"value": framework_id})
    status, body, _ = post(master, "/api/v1/scheduler", json.dumps(c).encode(),
                           {"Content-Type": JSON, "Mesos-Stream-Id": sub.stream_id or ""})
    return status, body.decode()


def test_an_old_style_framework_with_extra_keys_launches_what_it_was_offered(cluster: LocalCluster) -> None:
    m = cluster.master
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    offer = sub.next("OFFERS")["offers"]["offers"][0]
    # Mesos strips allocation_info for frameworks that are not MULTI_ROLE.
    assert "allocation_info" not in offer
    assert all("allocation_info" not in r for r in offer["resources"])
    wanted = [r for r in offer["resources"] if r["name"] in ("cpus", "mem")]
    for r in wanted:
        r["scalar"]["value"] = 0.1 if r["name"] == "cpus" else 32
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": offer["agent_id"],
            "slave_id": offer["agent_id"],  # the v0 name, sent beside the v1 one
            "command": {"value": "exit 0", "some_newer_key": "x"}, "resources": wanted}
    status, body = call(m, sub, fid, {"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
        "filters": {"refuse_seconds": 1}, "offer_filters_of_the_future": {}}})
    assert status == 202, body
    states = []
    while not states or states[-1] not in ("TASK_FINISHED", "TASK_FAILED", "TASK_ERROR"):
        update = sub.next("UPDATE")["update"]["status"]
        states.append(update["state"])
        if "uuid" in update:
            code, body = call(m, sub, fid, {"type": "ACKNOWLEDGE", "acknowledge": {
                "agent_id": update["agent_id"], "task_id": update["task_id"], "uuid": update["uuid"]}})
            assert code == 202, body
    assert states[-1] == "TASK_FINISHED", states

    # A value of the wrong type is still refused.
    status, body = call(m, sub, fid, {"type": "DECLINE", "decline": {"filters": {"refuse_seconds": "soon"}}})
    assert status == 400 and "Failed to parse" in body, body
    sub.close()


def test_multi_role_offers_keep_allocation_info(cluster: LocalCluster) -> None:
    info = {"user": "nobody", "name": "multi", "roles": ["*"], "capabilities": [{"type": "MULTI_ROLE"}]}
    sub, _ = subscribe(cluster.master, info)
    offer = sub.next("OFFERS")["offers"]["offers"][0]
    assert offer["allocation_info"] == {"role": "*"}
    assert all(r["allocation_info"] == {"role": "*"} for r in offer["resources"])
    sub.close()


def test_calls_mesos_accepts(cluster: LocalCluster) -> None:
    m = cluster.master
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    sub.next("OFFERS")
    assert call(m, sub, fid, {"type": "DECLINE", "decline": {}}) == (202, "")
    assert call(m, sub, fid, {"type": "REQUEST", "request": {"requests": [
        {"resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}]}]}}) == (202, "")

    # UPDATE_FRAMEWORK: a new name, MULTI_ROLE and a second role, without
    # resubscribing; offers come again, in the MULTI_ROLE form.
    updated = {k: v for k, v in OLD_FRAMEWORK.items() if k != "role"}
    updated.update(id={"value": fid}, name="renamed", roles=["*", "analytics"],
                   capabilities=[{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}])
    status, body = call(m, sub, fid, {"type": "UPDATE_FRAMEWORK", "update_framework": {
        "framework_info": updated, "suppressed_roles": ["analytics"]}})
    assert status == 200, body
    # Offers made before the update were rescinded; those made after it are
    # in the MULTI_ROLE form, which this framework never saw before.
    while "allocation_info" not in sub.next("OFFERS")["offers"]["offers"][0]:
        pass
    frameworks = get_json(m, "/master/frameworks")["frameworks"]
    mine = next(f for f in frameworks if f["id"] == fid)
    assert mine["name"] == "renamed" and sorted(mine["roles"]) == ["*", "analytics"]

    # What cannot change is refused by name; so is a suppressed role it lacks.
    status, body = call(m, sub, fid, {"type": "UPDATE_FRAMEWORK", "update_framework": {
        "framework_info": dict(updated, user="root")}})
    assert status == 400 and "FrameworkInfo.user" in body, body
    status, body = call(m, sub, fid, {"type": "UPDATE_FRAMEWORK", "update_framework": {
        "framework_info": updated, "suppressed_roles": ["nope"]}})
    assert status == 400 and "update_framework.suppressed_roles" in body, body
    status, body = call(m, sub, fid, {"type": "UPDATE_FRAMEWORK", "update_framework": {
        "framework_info": dict(updated, id={"value": "other"})}})
    assert status == 400 and "update_framework.framework_info.id" in body, body
    sub.close()


def test_paths_and_parameters_mesos_accepts(cluster: LocalCluster) -> None:
    m = cluster.master
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    sub.next("OFFERS")

    # /api/v1/operator and other /api/v1/... paths are the operator API.
    for path in ("/api/v1/operator", "/api/v1/", "/api/v1/anything"):
        status, body, _ = post(m, path, json.dumps({"type": "GET_HEALTH"}).encode(),
                               {"Content-Type": JSON, "Accept": JSON})
        assert status == 200 and json.loads(body)["get_health"]["healthy"] is True, (path, status, body)
    assert operator_call(m, {"type": "GET_OPERATIONS"}) == (200, {"type": "GET_OPERATIONS", "get_operations": {}})

    # Trailing slashes, and JSONP on JSON GET endpoints.
    assert get_json(m, "/master/frameworks/")["frameworks"][0]["id"] == fid
    status, body, headers = get(m, "/master/state?jsonp=angular.callbacks._0")
    assert status == 200 and headers["content-type"] == "text/javascript"
    text = body.decode()
    assert text.startswith("angular.callbacks._0(") and text.endswith(");")
    assert json.loads(text[len("angular.callbacks._0("):-2])["frameworks"][0]["id"] == fid
    status, _, _ = get(m, "/master/state?jsonp=alert(1)//")
    assert status == 400

    # /version: the Mesos API version clients gate features on, and Corral's own.
    version = get_json(m, "/version")
    assert version["version"] == "1.11.0" and version["corral_version"]
    assert version["build_time"] > 1.6e9 and version["build_date"]

    # /master/roles: allocated, offered and reserved figures.
    roles = {r["name"]: r for r in get_json(m, "/master/roles")["roles"]}
    assert set(roles["*"]) >= {"allocated", "offered", "reserved", "resources", "frameworks", "weight"}
    assert roles["*"]["offered"]["cpus"] > 0

    # The maintenance endpoints of Mesos's older API.
    assert get_json(m, "/master/maintenance/schedule") == {}
    schedule = {"windows": [{"machine_ids": [{"hostname": "nowhere.example"}],
                             "unavailability": {"start": {"nanoseconds": 4102444800000000000}}}]}
    status, body, _ = post(m, "/master/maintenance/schedule", json.dumps(schedule).encode(),
                           {"Content-Type": JSON})
    assert status == 200, body
    got = get_json(m, "/master/maintenance/schedule")
    assert got["windows"][0]["machine_ids"] == [{"hostname": "nowhere.example"}]
    status, answer = operator_call(m, {"type": "GET_MAINTENANCE_STATUS"})
    assert status == 200
    assert get_json(m, "/master/maintenance/status") == answer["get_maintenance_status"]["status"]
    sub.close()


def test_task_queries_mesos_accepts(cluster: LocalCluster) -> None:
    m = cluster.master
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    offer = sub.next("OFFERS")["offers"]["offers"][0]
    tasks = []
    for i in range(3):
        tasks.append({"name": f"q{i}", "task_id": {"value": f"q{i}"}, "agent_id": offer["agent_id"],
                      "command": {"value": "sleep 30"},
                      "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}]})
    status, body = call(m, sub, fid, {"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}})
    assert status == 202, body
    assert len(get_json(m, "/master/tasks?limit=-1")["tasks"]) == 3
    assert len(get_json(m, "/master/tasks?limit=2")["tasks"]) == 2
    only = get_json(m, "/master/tasks?task_id=q1")["tasks"]
    assert [t["id"] for t in only] == ["q1"]
    assert len(get_json(m, f"/master/tasks?framework_id={fid}")["tasks"]) == 3
    assert get_json(m, "/master/tasks?framework_id=someone-else")["tasks"] == []
    status, _, _ = get(m, "/master/tasks?limit=-2")
    assert status == 400
    assert call(m, sub, fid, {"type": "TEARDOWN"}) == (202, "")
    sub.close()


def test_tasks_asking_for_what_corral_cannot_honour_end_in_task_error(cluster: LocalCluster) -> None:
    m = cluster.master
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    offer = sub.next("OFFERS")["offers"]["offers"][0]
    resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                 {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}]
    asks = {
        "docker": ({"container": {"type": "DOCKER", "docker": {"image": "busybox"}}}, "container.docker"),
        "image": ({"container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
                                                                      "docker": {"name": "busybox"}}}}},
                  "container.mesos.image"),
        "volumes": ({"container": {"type": "MESOS", "volumes": [
            {"container_path": "data", "mode": "RW",
             "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "v"}}}]}},
                    "container.volumes[0].source.docker_volume"),
        "volume": ({"resources": [{"name": "disk", "type": "SCALAR", "scalar": {"value": 1},
                                   "role": "*", "disk": {"persistence": {"id": "v"}}}] + resources},
                   "'disk'"),
    }
    tasks = []
    for name, (extra, _) in asks.items():
        t = {"name": name, "task_id": {"value": name}, "agent_id": offer["agent_id"],
             "command": {"value": "touch ran-on-the-host"}, "resources": resources}
        t.update(extra)
        tasks.append(t)
    status, body = call(m, sub, fid, {"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}})
    assert status == 202, body
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < len(asks):
        update = sub.next("UPDATE")["update"]["status"]
        seen[update["task_id"]["value"]] = update
    for name, (_, field) in asks.items():
        assert seen[name]["state"] == "TASK_ERROR", (name, seen[name])
        assert seen[name]["reason"] == "REASON_TASK_INVALID"
        assert field in seen[name]["message"] and "not supported" in seen[name]["message"], seen[name]
    sub.close()


def test_general_checks_report_in_check_status(cluster: LocalCluster) -> None:
    """TaskInfo.check as Marathon and Mesos's own schedulers send it: each
    change of the result arrives in check_status, acknowledged one by one."""
    m = cluster.master
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    offer = sub.next("OFFERS")["offers"]["offers"][0]
    task = {"name": "checked", "task_id": {"value": "checked"}, "agent_id": offer["agent_id"],
            "command": {"value": "sleep 30"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}],
            "check": {"type": "COMMAND", "command": {"command": {"value": "exit 7"}},
                      "delay_seconds": 0, "interval_seconds": 0.2, "timeout_seconds": 5}}
    status, body = call(m, sub, fid, {"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]}})
    assert status == 202, body
    seen = []
    while not seen or "exit_code" not in seen[-1].get("check_status", {}).get("command", {}):
        update = sub.next("UPDATE")["update"]["status"]
        seen.append(update)
        code, body = call(m, sub, fid, {"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": update["agent_id"], "task_id": update["task_id"], "uuid": update["uuid"]}})
        assert code == 202, body
    assert seen[0]["state"] == "TASK_RUNNING"
    assert seen[0]["check_status"] == {"type": "COMMAND", "command": {}}
    assert seen[-1]["check_status"] == {"type": "COMMAND", "command": {"exit_code": 7}}
    assert seen[-1]["reason"] == "REASON_TASK_CHECK_STATUS_UPDATED"
    assert call(m, sub, fid, {"type": "TEARDOWN"}) == (202, "")
    sub.close()


def test_limits_above_the_request_are_taken_and_below_it_refused(cluster: LocalCluster) -> None:
    m = cluster.master
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    offer = sub.next("OFFERS")["offers"]["offers"][0]
    resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                 {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}]
    capped = {"name": "capped", "task_id": {"value": "capped"}, "agent_id": offer["agent_id"],
              "command": {"value": "sleep 30"}, "resources": resources,
              "limits": {"cpus": {"value": 1}, "mem": {"value": "Infinity"}}}
    below = dict(capped, name="below", task_id={"value": "below"}, limits={"mem": {"value": 8}})
    status, body = call(m, sub, fid, {"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [capped, below]}}]}})
    assert status == 202, body
    seen: dict[str, dict[str, Any]] = {}
    while "capped" not in seen or "below" not in seen:
        update = sub.next("UPDATE")["update"]["status"]
        seen[update["task_id"]["value"]] = update
    assert seen["capped"]["state"] == "TASK_RUNNING", seen["capped"]
    assert seen["below"]["state"] == "TASK_ERROR"
    assert "'limits.mem' (8) is below the task's request (16)" in seen["below"]["message"], seen["below"]
    assert call(m, sub, fid, {"type": "TEARDOWN"}) == (202, "")
    sub.close()


def test_offer_constraints_keep_agents_from_a_framework(cluster: LocalCluster) -> None:
    """SUBSCRIBE's offer_constraints as Mesos applies them: a framework is
    offered only agents one of its groups admits, and a bad regex is a 400."""
    m = cluster.master
    bad = {"role_constraints": {"*": {"groups": [{"attribute_constraints": [
        {"selector": {"pseudoattribute_type": "HOSTNAME"}, "predicate": {"text_matches": {"regex": "(oops"}}}]}]}}}
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": OLD_FRAMEWORK,
                                                          "offer_constraints": bad}}).encode()
    refused = Subscription(m, body, JSON, JSON)
    assert refused.status == 400 and "is not a regular expression" in refused.error, refused.__dict__
    # No agent has a "gpu-model" attribute: this framework is offered nothing.
    nowhere = {"role_constraints": {"*": {"groups": [{"attribute_constraints": [
        {"selector": {"attribute_name": "gpu-model"}, "predicate": {"exists": {}}}]}]}}}
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(OLD_FRAMEWORK, name="picky"),
                                                          "offer_constraints": nowhere}}).encode()
    picky = Subscription(m, body, JSON, JSON)
    assert picky.status == 200, picky.__dict__.get("error")
    picky_id = picky.next("SUBSCRIBED")["subscribed"]["framework_id"]["value"]
    # One that asks for nothing gets both agents, which the first would have
    # had before it (it came first, at an equal share) were it not excluded.
    sub, fid = subscribe(m, OLD_FRAMEWORK)
    agents: set[str] = set()
    while len(agents) < 2:
        agents |= {o["agent_id"]["value"] for o in sub.next("OFFERS")["offers"]["offers"]}
    frameworks = {f["id"]: f for f in get_json(m, "/master/frameworks")["frameworks"]}
    assert frameworks[picky_id]["offers"] == [] and len(frameworks[fid]["offers"]) == 2
    picky.close()
    sub.close()

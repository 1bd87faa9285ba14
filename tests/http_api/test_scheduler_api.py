"""A scheduler written directly against POST /api/v1/scheduler, in JSON and
in protobuf, as an existing Mesos framework would be."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from corral.testing import LocalCluster
from mesos_client import JSON, PROTOBUF, Subscription, encode, get_json, post

FRAMEWORK = {"user": "nobody", "name": "http-test", "roles": ["*"], "failover_timeout": 3600,
             "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}]}


def task(name: str, command: str, offer: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "task_id": {"value": name}, "agent_id": offer["agent_id"],
            "command": {"shell": True, "value": command},
            "kill_policy": {"grace_period": {"nanoseconds": 1000000000}},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "role": "*",
                 "allocation_info": {"role": "*"}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}, "role": "*",
                 "allocation_info": {"role": "*"}}]}


class Scheduler:
    def __init__(self, master: str, fmt: str, **framework: Any) -> None:
        self.master = master
        self.framework = framework  # FrameworkInfo fields beside FRAMEWORK's
        self.fmt = fmt
        self.sub: Subscription | None = None
        self.framework_id = ""
        self.stream_id = ""
        self.seen: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []  # MESSAGE events seen while waiting for updates

    def subscribe(self, framework_id: str = "") -> dict[str, Any]:
        info = dict(FRAMEWORK, **self.framework)
        call: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if framework_id:
            info["id"] = {"value": framework_id}
            call["framework_id"] = {"value": framework_id}
        self.sub = Subscription(self.master, encode(call, self.fmt), self.fmt, self.fmt)
        assert self.sub.status == 200, self.sub.__dict__.get("error")
        assert self.sub.response.getheader("Content-Type") == self.fmt
        assert self.sub.stream_id
        event = self.sub.next("SUBSCRIBED")
        self.framework_id = event["subscribed"]["framework_id"]["value"]
        self.stream_id = self.sub.stream_id
        return event

    def call(self, call: dict[str, Any], stream_id: str | None = None) -> tuple[int, str]:
        call = dict(call, framework_id={"value": self.framework_id})
        status, body, _ = post(self.master, "/api/v1/scheduler", encode(call, self.fmt),
                               {"Content-Type": self.fmt, "Mesos-Stream-Id": stream_id or self.stream_id})
        return status, body.decode()

    def message(self) -> dict[str, Any]:
        """The next framework message from an executor."""
        assert self.sub is not None
        if self.messages:
            return self.messages.pop(0)
        return self.sub.next("MESSAGE")["message"]  # type: ignore[no-any-return]

    def update(self, task_id: str, state: str) -> dict[str, Any]:
        """Waits for the task's update to `state`, acknowledging every update seen."""
        assert self.sub is not None
        while True:
            for i, status in enumerate(self.seen):
                if status["task_id"]["value"] == task_id and status["state"] == state:
                    return self.seen.pop(i)
            event = self.sub.next_of({"UPDATE", "MESSAGE"})
            if event["type"] == "MESSAGE":
                self.messages.append(event["message"])
                continue
            status = event["update"]["status"]
            if "uuid" in status:
                code, body = self.call({"type": "ACKNOWLEDGE", "acknowledge": {
                    "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}})
                assert code == 202, body
            self.seen.append(status)


@pytest.mark.parametrize("fmt", [JSON, PROTOBUF])
def test_a_mesos_scheduler_runs_tasks_over_http(cluster: LocalCluster, fmt: str) -> None:
    s = Scheduler(cluster.master, fmt)
    subscribed = s.subscribe()
    assert subscribed["subscribed"]["heartbeat_interval_seconds"] > 0
    master_info = subscribed["subscribed"]["master_info"]
    assert master_info["id"]
    # As Mesos packs it: 127.0.0.1 in network byte order, read as a little-endian integer.
    assert master_info["ip"] == 0x0100007F
    assert master_info["address"] == {"hostname": master_info["hostname"], "ip": "127.0.0.1",
                                      "port": int(cluster.master.rsplit(":", 1)[1])}

    offer = s.sub.next("OFFERS")["offers"]["offers"][0]  # type: ignore[union-attr]
    assert offer["framework_id"]["value"] == s.framework_id
    code, body = s.call({"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
            task("quick", "exit 0", offer), task("sleeper", "sleep 60", offer)]}}],
        "filters": {"refuse_seconds": 1}}})
    assert code == 202, body

    assert s.update("quick", "TASK_FINISHED")["source"] == "SOURCE_EXECUTOR"
    running = s.update("sleeper", "TASK_RUNNING")
    container = running["container_status"]
    assert container["container_id"]["value"] and container["executor_pid"] > 0
    assert container["network_infos"][0]["ip_addresses"][0]["ip_address"] == "127.0.0.1"

    # Explicit reconciliation answers with the latest state.
    code, body = s.call({"type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": "sleeper"}, "agent_id": offer["agent_id"]}]}})
    assert code == 202, body
    reconciled = s.update("sleeper", "TASK_RUNNING")
    assert reconciled["reason"] == "REASON_RECONCILIATION"

    # A resubscription on a new connection with the framework ID replaces
    # the old stream: calls with the old stream ID are refused.
    old_stream, old_sub = s.stream_id, s.sub
    assert s.subscribe(s.framework_id)["subscribed"]["framework_id"]["value"] == s.framework_id
    assert old_sub.closed.wait(10), "the master closed the replaced stream"  # type: ignore[union-attr]
    code, body = s.call({"type": "REVIVE"}, stream_id=old_stream)
    assert code == 403 and "didn't match the stream ID" in body, (code, body)

    # KILL, with the grace period's int64 written as a JSON string.
    code, body = s.call({"type": "KILL", "kill": {"task_id": {"value": "sleeper"}, "agent_id": offer["agent_id"],
                                                  "kill_policy": {"grace_period": {"nanoseconds": "2000000000"}}}})
    assert code == 202, body
    s.update("sleeper", "TASK_KILLED")

    state = get_json(cluster.master, "/master/frameworks")
    assert [f["id"] for f in state["frameworks"]] == [s.framework_id]
    code, body = s.call({"type": "TEARDOWN"})
    assert code == 202, body
    assert s.sub.closed.wait(10), "TEARDOWN ends the subscription"  # type: ignore[union-attr]
    assert get_json(cluster.master, "/master/frameworks")["frameworks"] == []


def test_heartbeats_and_declines(cluster: LocalCluster) -> None:
    s = Scheduler(cluster.master, JSON)
    s.subscribe()
    offers = s.sub.next("OFFERS")["offers"]["offers"]  # type: ignore[union-attr]
    code, body = s.call({"type": "DECLINE", "decline": {"offer_ids": [o["id"] for o in offers],
                                                        "filters": {"refuse_seconds": 3600}}})
    assert code == 202, body
    code, body = s.call({"type": "SUPPRESS", "suppress": {}})
    assert code == 202, body
    code, body = s.call({"type": "MESSAGE", "message": {"agent_id": offers[0]["agent_id"],
                                                        "executor_id": {"value": "none"}, "data": "aGk="}})
    assert code in (202, 404), body


def sub_error(master: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    status, data, _ = post(master, "/api/v1/scheduler", body, headers)
    return status, data.decode()


def test_bad_requests_get_mesos_errors(cluster: LocalCluster) -> None:
    m = cluster.master
    subscribe = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": FRAMEWORK}}).encode()

    from mesos_client import get
    status, body, headers = get(m, "/api/v1/scheduler")
    assert status == 405 and b"Expecting a 'POST' request, received 'GET'" in body and headers["allow"] == "POST"

    assert sub_error(m, subscribe, {}) == (400, "Expecting 'Content-Type' to be present")
    status, body = sub_error(m, subscribe, {"Content-Type": "text/plain"})
    assert status == 415 and "Expecting 'Content-Type' of application/json or application/x-protobuf" in body

    status, body = sub_error(m, b"{not json", {"Content-Type": JSON})
    assert status == 400 and body.startswith("Failed to parse body into Call protobuf"), body

    status, body = sub_error(m, b"\xff\xff\xff", {"Content-Type": PROTOBUF})
    assert status == 400 and "Failed to parse body into Call protobuf" in body, body

    # Unknown keys are skipped (tests/http_api/test_lenient_clients.py); a
    # value of the wrong type is refused, naming the field.
    wrong_type = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(FRAMEWORK, user=5)}})
    status, body = sub_error(m, wrong_type.encode(), {"Content-Type": JSON})
    assert status == 400 and "user" in body, body

    status, body = sub_error(m, subscribe, {"Content-Type": JSON, "Accept": "text/html"})
    assert status == 406 and "Expecting 'Accept' to allow application/json or application/x-protobuf" in body

    no_user = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}}).encode()
    status, body = sub_error(m, no_user, {"Content-Type": JSON})
    assert status == 400 and "user" in body, body

    # Calls for a framework that never subscribed.
    revive = json.dumps({"type": "REVIVE", "framework_id": {"value": "nope"}}).encode()
    status, body = sub_error(m, revive, {"Content-Type": JSON})
    assert status == 403 and "nope" in body, body

    # An HTTP framework's calls need its stream ID.
    s = Scheduler(m, JSON)
    s.subscribe()
    call = json.dumps({"type": "REVIVE", "framework_id": {"value": s.framework_id}}).encode()
    status, body = sub_error(m, call, {"Content-Type": JSON})
    assert (status, body) == (400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    status, body = sub_error(m, call, {"Content-Type": JSON, "Mesos-Stream-Id": "0000"})
    assert status == 403 and "didn't match the stream ID" in body, body

    # A call that fails validation names what is wrong.
    code, body = s.call({"type": "ACKNOWLEDGE", "acknowledge": {"task_id": {"value": "t"}}})
    assert code == 400 and body.startswith("Failed to validate scheduler::Call"), body

    status, body, _ = get(m, "/no/such/endpoint")
    assert status == 404 and b"/no/such/endpoint" in body

    # A body over 16 MiB is refused from its Content-Length, before it is read.
    host, port = m.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n{" % (17 << 20))
        answer = sock.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 413 Payload Too Large\r\n"), answer
    assert "larger than the limit of 16777216 bytes" in answer

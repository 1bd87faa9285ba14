"""The agent's Mesos HTTP API: an executor speaking HTTP, the agent operator
API, /state and the other JSON endpoints, and sandbox files, confined to
the sandboxes."""

from __future__ import annotations

import base64
import getpass
import http.client
import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

from corral.testing import LocalCluster, wait_for
from corral.v1 import agent_pb2
from mesos_client import JSON, PROTOBUF, get, get_json, operator_call, post
from test_scheduler_api import Scheduler, task

EXECUTOR = Path(__file__).resolve().parent / "http_executor.py"


def agent_address(master: str, agent_id: str) -> str:
    for a in get_json(master, "/master/slaves")["slaves"]:
        if a["id"] == agent_id:
            return re.fullmatch(r"slave\(1\)@(.+:\d+)", a["pid"]).group(1)  # type: ignore[union-attr]
    raise AssertionError(f"agent {agent_id} is not registered")


def launch(cluster: LocalCluster, command: str) -> tuple[Scheduler, str]:
    """Runs one command task; returns the scheduler and its agent's address."""
    s = Scheduler(cluster.master, JSON)
    s.subscribe()
    offer = s.sub.next("OFFERS")["offers"]["offers"][0]  # type: ignore[union-attr]
    code, body = s.call({"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("job", command, offer)]}}],
        "filters": {"refuse_seconds": 3600}}})
    assert code == 202, body
    s.update("job", "TASK_RUNNING")
    return s, agent_address(cluster.master, offer["agent_id"]["value"])


def agent_call(agent: str, call: dict[str, Any], fmt: str = JSON) -> tuple[int, Any]:
    return operator_call(agent, call, agent_pb2.Response, fmt, call_type=agent_pb2.Call)


def sandbox_of(agent: str) -> str:
    [fw] = get_json(agent, "/state")["frameworks"]
    [ex] = fw["executors"]
    return str(ex["directory"])


def test_agent_state_and_endpoints(cluster: LocalCluster) -> None:
    s, agent = launch(cluster, "echo hello-from-the-task; sleep 60")
    state = get_json(agent, "/state")
    assert get_json(agent, "/slave(1)/state").keys() == state.keys()
    assert set(state) >= {"version", "start_time", "id", "pid", "hostname", "resources", "unreserved_resources",
                          "reserved_resources", "attributes", "master_hostname", "flags", "frameworks",
                          "completed_frameworks"}
    assert re.fullmatch(r"slave\(1\)@.+:\d+", state["pid"]) and state["pid"].endswith(agent.rsplit(":", 1)[1])
    assert state["resources"]["cpus"] == 2 and state["resources"]["mem"] == 2048
    assert state["resources"]["ports"] == "[31000-31099]"
    [fw] = state["frameworks"]
    assert fw["id"] == s.framework_id and fw["name"] == "http-test" and fw["role"] == "*"
    [ex] = fw["executors"]
    assert ex["id"] == "job" and ex["source"] == "job" and ex["name"].startswith("Command Executor (Task: job)")
    assert ex["directory"] and ex["container"]
    [t] = ex["tasks"]
    assert {k: t[k] for k in ("id", "name", "framework_id", "executor_id", "state")} == {
        "id": "job", "name": "job", "framework_id": s.framework_id, "executor_id": "job", "state": "TASK_RUNNING"}
    assert t["slave_id"] == state["id"]
    assert t["resources"]["cpus"] == 0.1 and t["resources"]["mem"] == 32
    assert ex["queued_tasks"] == [] and ex["completed_tasks"] == []

    assert get(agent, "/health")[0] == 200
    assert get_json(agent, "/version")["version"]
    assert get_json(agent, "/flags")["flags"]["work_dir"]
    metrics = get_json(agent, "/metrics/snapshot")
    assert metrics["slave/tasks_running"] == 1 and metrics["slave/registered"] == 1
    assert metrics["slave/cpus_total"] == 2 and abs(metrics["slave/cpus_used"] - 0.1) < 1e-9
    assert "slave_tasks_running 1\n" in get(agent, "/metrics")[1].decode()

    # Killed and acknowledged, the task moves to completed_tasks; with nothing
    # else of it left on the agent, its framework leaves the agent's
    # frameworks for its completed ones, as on a Mesos agent.
    code, body = s.call({"type": "KILL", "kill": {"task_id": {"value": "job"}}})
    assert code == 202, body
    s.update("job", "TASK_KILLED")

    def done_here() -> dict[str, Any] | None:
        state = get_json(agent, "/state")
        return state if not state["frameworks"] and state["completed_frameworks"] else None

    [gone] = wait_for(done_here, 30)["completed_frameworks"]
    assert gone["id"] == s.framework_id and gone["name"] == "http-test"
    [ex] = gone["completed_executors"]
    [done] = ex["completed_tasks"]
    assert done["id"] == "job" and done["state"] == "TASK_KILLED"
    assert get_json(agent, "/metrics/snapshot")["slave/tasks_killed"] == 1

    # Torn down afterwards, it is not listed twice.
    code, body = s.call({"type": "TEARDOWN"})
    assert code == 202, body
    wait_for(lambda: not any(f["id"] == s.framework_id for f in get_json(cluster.master, "/master/frameworks")["frameworks"])
             or None, 30)
    assert [f["id"] for f in get_json(agent, "/state")["completed_frameworks"]] == [s.framework_id]


def test_sandbox_files_are_served_and_confined(cluster: LocalCluster) -> None:
    # The task leaves a symlink out of its sandbox; it must not be followed.
    _, agent = launch(cluster, "ln -s /etc/passwd leak; ln -s /etc etcdir; echo hello-from-the-task; sleep 60")
    sandbox = sandbox_of(agent)

    def stdout_says_hello() -> bool:
        status, body, _ = get(agent, f"/files/read?path={sandbox}/stdout&offset=0")
        return status == 200 and "hello-from-the-task" in json.loads(body)["data"]

    wait_for(stdout_says_hello, 30)
    listing = {e["path"]: e for e in get_json(agent, f"/files/browse?path={sandbox}")}
    assert f"{sandbox}/stdout" in listing and f"{sandbox}/stderr" in listing
    entry = listing[f"{sandbox}/stdout"]
    assert entry["mode"].startswith("-rw") and entry["size"] > 0 and entry["nlink"] == 1
    assert isinstance(entry["mtime"], int) and entry["uid"] and entry["gid"]

    size = get_json(agent, f"/files/read?path={sandbox}/stdout&offset=-1")
    assert size == {"data": "", "offset": entry["size"]}
    page = get_json(agent, f"/files/read?path={sandbox}/stdout&offset=6&length=4")
    assert page == {"data": "from", "offset": 6}
    status, body, headers = get(agent, f"/files/download?path={sandbox}/stdout")
    assert status == 200 and b"hello-from-the-task" in body
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"] == 'attachment; filename="stdout"'

    refused = {
        f"{sandbox}/../../../../../../../../etc/passwd": 403,  # climbs out with ..
        "/etc/passwd": 403,                                    # elsewhere entirely
        f"{sandbox}/leak": 403,                                # a symlink out of the sandbox
        f"{sandbox}/etcdir/passwd": 403,                       # a directory symlink out of it
        f"{sandbox}/no-such-file": 404,
        "stdout": 400,                                         # not an absolute path
    }
    for path, expected in refused.items():
        for action in ("read", "browse", "download"):
            status, body, _ = get(agent, f"/files/{action}?path={path}&offset=0")
            assert status == expected, (action, path, status, body)
            assert b"root:" not in body
    status, body, _ = get(agent, "/files/read?offset=0")
    assert status == 400 and b"'path'" in body
    status, body, _ = get(agent, f"/files/read?path={sandbox}/stdout&offset=x")
    assert status == 400 and b"offset" in body


def test_agent_operator_api(cluster: LocalCluster) -> None:
    s, agent = launch(cluster, "echo hello-from-the-task; sleep 60")
    sandbox = sandbox_of(agent)
    for fmt in (JSON, PROTOBUF):
        status, answer = agent_call(agent, {"type": "GET_STATE"}, fmt)
        assert status == 200 and answer["type"] == "GET_STATE", answer
        st = answer["get_state"]
        [t] = st["get_tasks"]["launched_tasks"]
        assert t["task_id"] == {"value": "job"} and t["state"] == "TASK_RUNNING"
        [ex] = st["get_executors"]["executors"]
        assert ex["executor_info"]["executor_id"] == {"value": "job"}
        [fw] = st["get_frameworks"]["frameworks"]
        assert fw["framework_info"]["id"] == {"value": s.framework_id}

    status, answer = agent_call(agent, {"type": "GET_CONTAINERS"})
    [c] = answer["get_containers"]["containers"]
    assert c["executor_id"] == {"value": "job"} and c["container_id"]["value"]
    for call in ("GET_HEALTH", "GET_FLAGS", "GET_VERSION", "GET_METRICS", "GET_LOGGING_LEVEL", "GET_AGENT",
                 "GET_FRAMEWORKS", "GET_EXECUTORS", "GET_TASKS"):
        status, answer = agent_call(agent, {"type": call})
        assert status == 200 and answer["type"] == call, (call, answer)
    status, answer = agent_call(agent, {"type": "GET_AGENT"})
    assert answer["get_agent"]["agent_info"]["id"]["value"] == get_json(agent, "/state")["id"]

    status, answer = agent_call(agent, {"type": "LIST_FILES", "list_files": {"path": sandbox}})
    assert status == 200, answer
    assert answer["type"] == "LIST_FILES"
    assert f"{sandbox}/stdout" in {f["path"] for f in answer["list_files"]["file_infos"]}

    def read() -> dict[str, Any] | None:
        status, answer = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": f"{sandbox}/stdout",
                                                                               "offset": 0}})
        assert status == 200, answer
        data = base64.b64decode(answer["read_file"].get("data", ""))
        return answer if b"hello-from-the-task" in data else None

    assert int(wait_for(read, 30)["read_file"]["size"]) > 0
    status, body = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}})
    assert status == 403 and "/etc/passwd" in body
    status, body = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": f"{sandbox}/stdout"}})
    assert status == 400 and "read_file.offset" in body
    status, body = agent_call(agent, {"type": "LAUNCH_NESTED_CONTAINER"})
    assert status == 501 and "LAUNCH_NESTED_CONTAINER" in body
    # As Mesos: an unknown key is skipped, a value of the wrong type is not.
    status, _ = agent_call(agent, {"type": "GET_STATE", "bogus": 1})
    assert status == 200
    status, body = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": 7, "offset": 0}})
    assert status == 400 and "path" in body


def test_monitor_statistics_report_what_containers_use(cluster: LocalCluster) -> None:
    """/monitor/statistics as Mesos's tools read it, and GET_CONTAINERS with
    the same figures: a task burning cpu shows cpu time that grows."""
    s, agent = launch(cluster, "while :; do :; done")

    def busy() -> list[dict[str, Any]] | None:
        stats = get_json(agent, "/monitor/statistics")
        return stats if stats and stats[0]["statistics"].get("cpus_user_time_secs", 0) > 0.05 else None

    [entry] = wait_for(busy, 30)
    assert entry["executor_id"] == "job" and entry["framework_id"] == s.framework_id
    assert entry["source"] == "job" and entry["executor_name"].startswith("Command Executor (Task: job)")
    st = entry["statistics"]
    assert st["processes"] >= 1 and st["threads"] >= 1
    assert st["cpus_limit"] == 0.1
    assert st["mem_limit_bytes"] == 32 * 1024 * 1024  # a number, as Mesos writes it
    assert st["mem_rss_bytes"] > 0
    assert st["timestamp"] > 0
    assert get_json(agent, "/monitor/statistics.json")[0]["executor_id"] == "job"

    status, answer = agent_call(agent, {"type": "GET_CONTAINERS"})
    assert status == 200, answer
    [c] = answer["get_containers"]["containers"]
    usage = c["resource_statistics"]
    assert usage["cpus_user_time_secs"] >= st["cpus_user_time_secs"]
    assert c["container_status"]["executor_pid"] > 0
    code, body = s.call({"type": "KILL", "kill": {"task_id": {"value": "job"}}})
    assert code == 202, body
    s.update("job", "TASK_KILLED")
    assert wait_for(lambda: get_json(agent, "/monitor/statistics") == [] or None, 30)


def test_an_executor_speaking_http_runs_tasks(cluster: LocalCluster) -> None:
    # A checkpointing framework: its executor is told how long to wait for a restarting agent.
    s = Scheduler(cluster.master, JSON, checkpoint=True)
    s.subscribe()
    offer = s.sub.next("OFFERS")["offers"]["offers"][0]  # type: ignore[union-attr]
    executor = {"executor_id": {"value": "http-executor"}, "framework_id": {"value": s.framework_id},
                "name": "a Mesos HTTP executor",
                # As this test's user: the framework's ("nobody") may not reach this Python.
                "command": {"shell": True, "value": f"exec {sys.executable} {EXECUTOR}", "user": getpass.getuser()},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "role": "*",
                               "allocation_info": {"role": "*"}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}, "role": "*",
                               "allocation_info": {"role": "*"}}]}
    job = task("job", "", offer)
    del job["command"]
    job["executor"] = executor
    code, body = s.call({"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [job]}}]}})
    assert code == 202, body

    running = s.update("job", "TASK_RUNNING")
    assert running["source"] == "SOURCE_EXECUTOR"
    assert running["executor_id"] == {"value": "http-executor"}
    # The agent says where the task runs, as a Mesos agent does.
    container = running["container_status"]
    assert container["container_id"]["value"] and container["executor_pid"] > 0
    assert container["network_infos"][0]["ip_addresses"][0]["ip_address"] == "127.0.0.1"
    seen = json.loads(base64.b64decode(running["data"]))
    agent = agent_address(cluster.master, offer["agent_id"]["value"])
    host, port = seen["MESOS_AGENT_ENDPOINT"].rsplit(":", 1)
    assert port == agent.rsplit(":", 1)[1] and host == "127.0.0.1"
    assert seen["MESOS_FRAMEWORK_ID"] == s.framework_id
    assert seen["MESOS_EXECUTOR_ID"] == "http-executor"
    assert seen["MESOS_AGENT_ID"] == seen["MESOS_SLAVE_ID"] == offer["agent_id"]["value"]
    assert seen["MESOS_DIRECTORY"] == seen["MESOS_SANDBOX"] and Path(seen["MESOS_DIRECTORY"]).is_dir()
    assert seen["MESOS_CHECKPOINT"] == "1"
    assert seen["MESOS_SLAVE_PID"] == f"slave(1)@{seen['MESOS_AGENT_ENDPOINT']}"
    assert seen["MESOS_HTTP_COMMAND_EXECUTOR"] == "0"
    assert seen["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"].endswith("secs")
    assert seen["MESOS_RECOVERY_TIMEOUT"] == "900secs"
    assert seen["MESOS_SUBSCRIPTION_BACKOFF_MAX"] == "2secs"

    message = s.message()
    assert base64.b64decode(message["data"]) == b"hello from the executor"
    assert message["executor_id"] == {"value": "http-executor"}
    assert s.update("job", "TASK_FINISHED")["source"] == "SOURCE_EXECUTOR"

    # The agent shows the executor's sandbox, where its output is readable.
    [fw] = get_json(agent, "/state")["frameworks"]
    [ex] = fw["executors"]
    assert ex["id"] == "http-executor" and ex["name"] == "a Mesos HTTP executor"
    status, body, _ = get(agent, f"/files/read?path={ex['directory']}/stdout&offset=0")
    assert status == 200 and "subscribed to agent" in json.loads(body)["data"]

    # Errors an executor can make, each answered as Mesos does.
    bad_update = {"type": "UPDATE", "framework_id": {"value": s.framework_id},
                 "executor_id": {"value": "http-executor"}}
    status, body, _ = post_executor(agent, json.dumps(bad_update).encode())
    assert status == 400 and b"update.status" in body
    status, body, _ = post_executor(agent, b"{not json")
    assert status == 400 and b"Failed to parse" in body
    status, body, _ = post_executor(agent, json.dumps({"type": "SUBSCRIBE", "framework_id": {"value": "nope"},
                                                       "executor_id": {"value": "nope"}}).encode())
    assert status == 404 and b"nope" in body
    status, body, _ = post_executor(agent, b"{}", content_type="text/plain")
    assert status == 415


def post_executor(agent: str, body: bytes, content_type: str = JSON) -> tuple[int, bytes, dict[str, str]]:
    return post(agent, "/api/v1/executor", body, {"Content-Type": content_type, "Accept": JSON})


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_files_read_is_valid_json_for_any_bytes(cluster: LocalCluster) -> None:
    # Latin-1 text, a lone continuation byte, and valid UTF-8 around them.
    _, agent = launch(cluster, r"printf 'caf\351 \200 na\303\257ve\n'; echo done-writing; sleep 60")
    sandbox = sandbox_of(agent)

    def written() -> bytes | None:
        status, body, _ = get(agent, f"/files/read?path={sandbox}/stdout&offset=0")
        return body if status == 200 and b"done-writing" in body else None

    body = wait_for(written, 30)
    data = json.loads(body.decode("utf-8"))["data"]  # strict UTF-8, as a Mesos client decodes it
    # Valid UTF-8 as it was; each other byte as the character of its number.
    assert data.startswith("caf\u00e9 \u0080 na\u00efve\n"), data


def test_files_download_streams_big_files_to_slow_clients(cluster: LocalCluster) -> None:
    size = 100 << 20  # above what /files/download once held in memory
    _, agent = launch(cluster, f"head -c {size} /dev/zero > big; echo written; sleep 120")
    sandbox = sandbox_of(agent)

    def big_written() -> bool:
        status, body, _ = get(agent, f"/files/read?path={sandbox}/stdout&offset=0")
        return status == 200 and "written" in json.loads(body)["data"]

    wait_for(big_written, 60)
    host, port = agent.rsplit(":", 1)
    # Clients that ask for the file and then read nothing but the headers.
    before = rss_bytes()
    slow = []
    for _ in range(4):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(f"GET /files/download?path={sandbox}/big HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {size}".encode() in head, head
        slow.append(sock)
    grown = rss_bytes() - before
    assert grown < 64 << 20, f"the agent grew by {grown >> 20} MiB for four clients that do not read"
    # One that reads gets all of it.
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", f"/files/download?path={sandbox}/big")
    resp = conn.getresponse()
    assert resp.status == 200
    total = 0
    while chunk := resp.read(1 << 20):
        assert chunk.count(0) == len(chunk)
        total += len(chunk)
    assert total == size
    conn.close()
    for sock in slow:
        sock.close()

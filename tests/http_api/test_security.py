"""HTTP Basic authentication on the master's Mesos HTTP API, sent as
pymesos and mesos-go send it (an Authorization header on every request),
against a corral-master started with --credentials and every
--authenticate_* flag."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_client import JSON, Subscription, free_port, get, post, wait_for_health

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CORRAL_BIN_DIR", ROOT / "build" / "bin"))
CREDENTIALS = {"credentials": [{"principal": "ops", "secret": "ops-secret"},
                               {"principal": "web", "secret": "web-secret"}]}


def basic(principal: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{principal}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


OPS = basic("ops", "ops-secret")
WEB = basic("web", "web-secret")
WRONG = basic("ops", "not-the-secret")


@pytest.fixture
def master(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    (tmp_path / "credentials").write_text(json.dumps(CREDENTIALS))
    port = free_port()
    log = open(tmp_path / "master.err", "w")
    marker = request.node.get_closest_marker("master_args")
    proc = subprocess.Popen(
        [str(BIN / "corral-master"), f"--port={port}", f"--work_dir={tmp_path / 'master'}",
         f"--credentials={tmp_path / 'credentials'}", "--authenticate_frameworks", "--authenticate_agents",
         "--authenticate_http_readonly", "--authenticate_http_readwrite", "--allocation_interval=100ms",
         *(marker.args if marker else ())],
        stdout=subprocess.DEVNULL, stderr=log)
    address = f"127.0.0.1:{port}"
    try:
        wait_for_health(address, tmp_path / "master.err")
        yield address
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


READ_ENDPOINTS = ["/master/state", "/state", "/metrics/snapshot", "/master/slaves", "/master/frameworks",
                  "/master/tasks", "/master/roles", "/flags", "/master/maintenance/schedule"]


@pytest.mark.parametrize("path", READ_ENDPOINTS)
def test_reads_need_a_credential(master: str, path: str) -> None:
    status, body, headers = get(master, path)
    assert status == 401, body
    assert headers["www-authenticate"] == 'Basic realm="corral"'
    assert body == b"Unauthorized: no credentials were given"
    status, body, _ = get(master, path, WRONG)
    assert (status, body) == (401, b"Unauthorized: wrong principal or secret")
    status, body, _ = get(master, path, OPS)
    assert status == 200, body


def test_health_version_and_the_leader_redirect_stay_open(master: str) -> None:
    assert get(master, "/health")[0] == 200
    assert get(master, "/version")[0] == 200
    assert get(master, "/master/redirect")[0] == 307


def test_the_flags_say_what_is_authenticated(master: str) -> None:
    status, body, _ = get(master, "/flags", OPS)
    flags = json.loads(body)["flags"]
    for name in ("authenticate_frameworks", "authenticate_http_frameworks", "authenticate_agents",
                 "authenticate_http_readonly", "authenticate_http_readwrite"):
        assert flags[name] == "true", name


def test_operator_calls_need_a_credential(master: str) -> None:
    for call in ({"type": "GET_HEALTH"}, {"type": "UPDATE_WEIGHTS",
                                          "update_weights": {"weight_infos": [{"role": "dev", "weight": 2}]}}):
        body = json.dumps(call).encode()
        status, data, headers = post(master, "/api/v1", body, {"Content-Type": JSON, "Accept": JSON})
        assert status == 401, data
        assert headers["www-authenticate"] == 'Basic realm="corral"'
        status, data, _ = post(master, "/api/v1", body, {"Content-Type": JSON, "Accept": JSON, **WRONG})
        assert status == 401, data
        status, data, _ = post(master, "/api/v1", body, {"Content-Type": JSON, "Accept": JSON, **OPS})
        assert status == 200, data
    status, body, _ = get(master, "/master/roles", OPS)
    assert any(r["name"] == "dev" and r["weight"] == 2 for r in json.loads(body)["roles"])
    # The older maintenance endpoint writes too.
    status, data, _ = post(master, "/master/maintenance/schedule", b'{"windows": []}', {"Content-Type": JSON})
    assert status == 401, data
    status, data, _ = post(master, "/master/maintenance/schedule", b'{"windows": []}', {"Content-Type": JSON, **OPS})
    assert status == 200, data


def subscribe_call(principal: str) -> bytes:
    return json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "user": "nobody", "name": "http-framework", "principal": principal, "roles": ["*"],
        "capabilities": [{"type": "MULTI_ROLE"}]}}}).encode()


def test_a_framework_subscribes_with_its_principal_only(master: str) -> None:
    anonymous = Subscription(master, subscribe_call("web"), JSON, JSON)
    assert anonymous.status == 401, anonymous.error
    wrong = Subscription(master, subscribe_call("web"), JSON, JSON, headers=WRONG)
    assert wrong.status == 401
    # Authenticated as one principal, claiming another.
    claims = Subscription(master, subscribe_call("ops"), JSON, JSON, headers=WEB)
    assert claims.status == 400
    assert claims.error == ("Failed to subscribe: Authenticated principal 'web' does not match principal 'ops' set in "
                            "`FrameworkInfo`")

    sub = Subscription(master, subscribe_call("web"), JSON, JSON, headers=WEB)
    assert sub.status == 200
    framework_id = sub.next("SUBSCRIBED")["subscribed"]["framework_id"]["value"]
    try:
        headers = {"Content-Type": JSON, "Mesos-Stream-Id": sub.stream_id}
        revive = json.dumps({"type": "REVIVE", "framework_id": {"value": framework_id}}).encode()
        # Its calls need the credential too, and another principal's will not do.
        status, data, _ = post(master, "/api/v1/scheduler", revive, headers)
        assert status == 401, data
        status, data, _ = post(master, "/api/v1/scheduler", revive, {**headers, **OPS})
        assert status == 403, data
        assert data.decode() == (f"principal 'ops' may not call for framework '{framework_id}', which belongs to "
                                 "principal 'web'")
        status, data, _ = post(master, "/api/v1/scheduler", revive, {**headers, **WEB})
        assert status == 202, data
    finally:
        sub.close()


@pytest.mark.master_args("--http_max_json_depth=3", "--http_max_header_count=10", "--http_max_body_bytes=4096")
def test_the_request_limits_are_flags(master: str) -> None:
    status, body, _ = get(master, "/flags", OPS)
    flags = json.loads(body)["flags"]
    assert (flags["http_max_json_depth"], flags["http_max_header_count"], flags["http_max_body_bytes"]) == \
        ("3", "10", "4096")
    assert flags["http_max_header_bytes"] == "65536" and flags["http_idle_timeout"] == "30secs"
    headers = {"Content-Type": JSON, "Accept": JSON, **OPS}
    deep = {"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "dev", "weight": 2}]}}
    status, data, _ = post(master, "/api/v1", json.dumps(deep).encode(), headers)
    assert (status, data) == (400, b"Request body nests JSON deeper than the limit of 3 levels\n")
    status, data, _ = post(master, "/api/v1", b'{"type": "GET_HEALTH"}', headers)
    assert status == 200, data
    status, data, _ = post(master, "/api/v1", b" " * 5000, headers)
    assert status == 413, data
    many = {f"X-Extra-{i}": "1" for i in range(10)}
    status, data, _ = get(master, "/health", many)
    assert status == 431 and data.endswith(b" header fields; the limit is 10\n"), data  # http.client adds Host and more

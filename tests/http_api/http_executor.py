"""A Mesos executor written against the v1 executor HTTP API with only the
standard library, as executors written for Mesos are: it reads the MESOS_*
environment, subscribes to its agent, and runs each launched task by
reporting it RUNNING (with the environment it saw, as the status's data),
sending the framework a message, and reporting it FINISHED."""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys

ENV = ["MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_DIRECTORY", "MESOS_SANDBOX",
       "MESOS_CHECKPOINT", "MESOS_AGENT_ID", "MESOS_SLAVE_ID", "MESOS_SLAVE_PID", "MESOS_HTTP_COMMAND_EXECUTOR",
       "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "MESOS_RECOVERY_TIMEOUT", "MESOS_SUBSCRIPTION_BACKOFF_MAX"]


def main() -> int:
    endpoint = os.environ["MESOS_AGENT_ENDPOINT"]
    framework_id = {"value": os.environ["MESOS_FRAMEWORK_ID"]}
    executor_id = {"value": os.environ["MESOS_EXECUTOR_ID"]}
    host, port = endpoint.rsplit(":", 1)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    # With --authenticate_http_executors the agent wants its token back.
    if token := os.environ.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"

    def call(body: dict) -> None:
        body = dict(body, framework_id=framework_id, executor_id=executor_id)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/api/v1/executor", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        if resp.status != 202:
            raise RuntimeError(f"{body['type']}: {resp.status} {text}")

    def update(task_id: dict, state: str, data: bytes = b"") -> None:
        status = {"task_id": task_id, "state": state, "source": "SOURCE_EXECUTOR",
                  "uuid": base64.b64encode(os.urandom(16)).decode()}
        if data:
            status["data"] = base64.b64encode(data).decode()
        call({"type": "UPDATE", "update": {"status": status}})

    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("POST", "/api/v1/executor",
                 body=json.dumps({"type": "SUBSCRIBE", "framework_id": framework_id, "executor_id": executor_id,
                                  "subscribe": {}}),
                 headers=headers)
    resp = conn.getresponse()
    if resp.status != 200:
        print(f"SUBSCRIBE: {resp.status} {resp.read().decode()}", file=sys.stderr)
        return 1
    fp = resp.fp
    buffer = b""
    while True:
        size = int(fp.readline().split(b";")[0].strip(), 16)
        if size == 0:
            return 0
        buffer += fp.read(size)
        fp.read(2)
        while b"\n" in buffer:
            newline = buffer.index(b"\n")
            length = int(buffer[:newline])
            if len(buffer) - newline - 1 < length:
                break
            event = json.loads(buffer[newline + 1:newline + 1 + length])
            buffer = buffer[newline + 1 + length:]
            kind = event["type"]
            if kind == "SUBSCRIBED":
                print("subscribed to agent", event["subscribed"]["agent_info"]["id"]["value"], flush=True)
            elif kind == "LAUNCH":
                task_id = event["launch"]["task"]["task_id"]
                seen = {name: os.environ.get(name, "") for name in ENV}
                update(task_id, "TASK_RUNNING", json.dumps(seen).encode())
                call({"type": "MESSAGE", "message": {"data": base64.b64encode(b"hello from the executor").decode()}})
                update(task_id, "TASK_FINISHED")
            elif kind == "ACKNOWLEDGED":
                print("acknowledged", event["acknowledged"]["task_id"]["value"], flush=True)
            elif kind == "KILL":
                update(event["kill"]["task_id"], "TASK_KILLED")
            elif kind == "SHUTDOWN":
                return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""marathon-lite's benchmarks, against a master with simulated agents
(build/bin/sim_cluster: tasks are reported running at once, no processes),
so that what is measured is marathon-lite and the master, not process
start-up.

  build/venv/bin/python bench/marathon_bench.py [--agents 10] [--reps 20]

1. deploy: one app of 1,000 instances on 10 agents, POST to all running.
2. rolling restart: POST /v2/apps/{id}/restart of a 100-instance app, to
   the deployment's end (every task replaced).
3. reads: with 1,000 apps and 10,000 tasks, GET /v2/apps and GET /v2/tasks
   (medians of --reps requests).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "build" / "bin"


def wait_for(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    raise TimeoutError(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running(url: str, app: str, n: int, version: str | None = None) -> bool:
    a = requests.get(f"{url}/v2/apps{app}", timeout=30).json()["app"]
    if a["tasksRunning"] != n or a["deployments"]:
        return False
    return version is None or all(t["version"] == version for t in a["tasks"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="marathon-bench-") as work:
        sim = subprocess.Popen([str(BIN / "sim_cluster"), f"--agents={args.agents}"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        assert sim.stdout is not None
        line = sim.stdout.readline().split()
        assert line and line[0] == "ready", line
        master = line[1]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        marathon = subprocess.Popen([str(BIN / "corral-marathon"), f"--master={master}", f"--http_port={port}",
                                     f"--work_dir={work}/marathon", "--log_level=warning"],
                                    stdout=subprocess.DEVNULL)
        def subscribed() -> bool:
            try:
                return bool(requests.get(url + "/v2/info", timeout=5).json()["frameworkId"])
            except requests.ConnectionError:
                return False  # not listening yet

        try:
            wait_for(subscribed, 30, "subscribed")

            app = {"id": "/bench/deploy", "cmd": "sleep 1000", "cpus": 0.01, "mem": 1, "instances": 1000,
                   "portDefinitions": []}
            start = time.monotonic()
            r = requests.post(url + "/v2/apps", json=app, timeout=30)
            r.raise_for_status()
            wait_for(lambda: running(url, "/bench/deploy", 1000), 120, "1,000 running")
            out["deploy_1000_s"] = time.monotonic() - start
            requests.delete(url + "/v2/apps/bench/deploy", timeout=30).raise_for_status()

            roll = dict(app, id="/bench/roll", instances=100)
            requests.post(url + "/v2/apps", json=roll, timeout=30).raise_for_status()
            wait_for(lambda: running(url, "/bench/roll", 100), 60, "100 running")
            start = time.monotonic()
            v = requests.post(url + "/v2/apps/bench/roll/restart", timeout=30).json()["version"]
            wait_for(lambda: running(url, "/bench/roll", 100, v), 120, "100 replaced")
            out["rolling_restart_100_s"] = time.monotonic() - start

            group = {"id": "/many", "apps": [{"id": f"app-{i:04d}", "cmd": "sleep 1000", "cpus": 0.005, "mem": 1,
                                              "instances": 10, "portDefinitions": []} for i in range(1000)]}
            start = time.monotonic()
            requests.post(url + "/v2/groups", json=group, timeout=120).raise_for_status()
            out["create_1000_apps_s"] = time.monotonic() - start

            def gauge(name: str) -> float:
                return float(requests.get(url + "/metrics", timeout=30).json()["gauges"][name]["value"])

            wait_for(lambda: gauge("marathon.instances.running.gauge") >= 10100, 300, "10,000 running")
            out["start_10000_tasks_s"] = time.monotonic() - start
            for name, path in [("get_apps_ms", "/v2/apps"), ("get_tasks_ms", "/v2/tasks"),
                               ("get_apps_embed_tasks_ms", "/v2/apps?embed=apps.tasks")]:
                times, size = [], 0
                for _ in range(args.reps):
                    t0 = time.monotonic()
                    r = requests.get(url + path, timeout=60)
                    times.append((time.monotonic() - t0) * 1000)
                    size = len(r.content)
                out[name] = statistics.median(times)
                out[name.replace("_ms", "_bytes")] = size
        finally:
            marathon.terminate()
            marathon.wait(30)
            assert sim.stdin is not None
            sim.stdin.close()
            sim.wait(30)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

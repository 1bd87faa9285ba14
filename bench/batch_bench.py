#!/usr/bin/env python3
"""batch's benchmarks, against a master with simulated agents
(build/bin/sim_cluster: tasks are reported running at once without
processes, and a task whose command is "true" finished right after), so
that what is measured is corral-batch and the master, not process start-up.

  build/venv/bin/python bench/batch_bench.py [--jobs 10000] [--agents 10] [--dag 1000]

1. cron: --jobs jobs, each due every minute ("* * * * *"), whose tasks
   finish at once. At the first minute boundary after they all exist:
   trigger lateness (from the scheduled instant to TASK_RUNNING) p50/p99
   over that minute's runs, the seconds until the last of them finished,
   and the CPU seconds corral-batch spent in that minute.
2. DAG: a --dag-node chain of dependent jobs (each the parent of the next)
   whose tasks finish at once: seconds from the first run to the last
   success, and per node.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(url: str, name: str) -> float:
    text = requests.get(url + "/metrics", headers={"Accept": "text/plain"}, timeout=30).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--dag", type=int, default=1000)
    args = ap.parse_args()
    out: dict[str, Any] = {"jobs": args.jobs, "dag_nodes": args.dag}
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as work:
        sim = subprocess.Popen([*os.environ.get("SIM_WRAPPER", "").split(), str(BIN / "sim_cluster"), f"--agents={args.agents}"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        assert sim.stdout is not None
        line = sim.stdout.readline().split()
        assert line and line[0] == "ready", line
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        batch = subprocess.Popen([*os.environ.get("BATCH_WRAPPER", "").split(), str(BIN / "corral-batch"), f"--master={line[1]}", f"--http_port={port}",
                                  f"--work_dir={work}/batch", f"--log_level={os.environ.get('BATCH_LOG_LEVEL', 'warning')}"],
                                 stdout=subprocess.DEVNULL)
        try:
            def subscribed() -> bool:
                try:
                    return bool(requests.get(url + "/info", timeout=5).json()["frameworkId"])
                except requests.ConnectionError:
                    return False
            wait_for(subscribed, 30, "subscribed")

            # 2. the DAG first: the cron jobs' tasks never end in the simulation.
            session = requests.Session()
            for i in range(args.dag):
                job: dict[str, Any] = {"name": f"dag-{i:04d}", "command": "true", "owner": "bench",
                                       "disabled": False, "cpus": 0.01, "mem": 1, "retries": 0}
                if i == 0:
                    job["schedule"] = "R1/2099-01-01T00:00:00Z/PT1H"  # run by hand below
                    path = "/v1/scheduler/iso8601"
                else:
                    job["parents"] = [f"dag-{i - 1:04d}"]
                    path = "/v1/scheduler/dependency"
                session.post(url + path, json=job, timeout=30).raise_for_status()
            last = f"dag-{args.dag - 1:04d}"
            start = time.monotonic()
            session.put(url + "/v1/scheduler/job/dag-0000", timeout=30).raise_for_status()
            wait_for(lambda: session.get(f"{url}/v1/jobs/{last}", params={"embed": "historySummary"}, timeout=30)
                     .json()["historySummary"]["successCount"] == 1, 600, "the DAG's last node")
            out["dag_seconds"] = time.monotonic() - start
            out["dag_ms_per_node"] = out["dag_seconds"] * 1000 / args.dag

            # 1. --jobs cron jobs, each due every minute; measured at the first
            # minute boundary after they all exist.
            def create(i: int) -> None:
                job = {"id": f"cron-{i:05d}", "run": {"cmd": "true", "cpus": 0.005, "mem": 1},
                       "schedules": [{"id": "every-minute", "cron": "* * * * *"}]}
                requests.post(url + "/v1/jobs", json=job, timeout=60).raise_for_status()
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(create, range(args.jobs)))
            out["create_jobs_s"] = time.monotonic() - t0
            target = (int(time.time() + 2) // 60 + 1) * 60
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(target))
            time.sleep(max(0.0, target - time.time() - 1))  # waiting for the wall clock's minute, not for batch
            cpu0 = cpu_seconds(batch.pid)
            succeeded = 'batch_runs_finished_total{outcome="success"}'
            base = metric(url, succeeded)  # the minute before's runs have long finished
            wait_for(lambda: metric(url, succeeded) >= base + args.jobs, 120, "every run of the minute finished")
            out["all_finished_after_s"] = time.time() - target
            jobs = session.get(url + "/v1/jobs", params={"embed": "history"}, timeout=120).json()
            minute = [r for j in jobs if j["id"].startswith("cron-") for r in j["history"]["runs"]
                      if r["scheduledAt"] == stamp]
            late = sorted(r["latenessSeconds"] for r in minute)
            out["slowest_run"] = max(minute, key=lambda r: r["latenessSeconds"])
            assert len(late) == args.jobs, len(late)
            out["lateness_p50_s"] = statistics.median(late)
            out["lateness_p99_s"] = late[int(0.99 * (len(late) - 1))]
            out["lateness_max_s"] = late[-1]
            time.sleep(max(0.0, target + 59 - time.time()))  # the rest of that minute, for its CPU
            out["batch_cpu_s_in_the_minute"] = cpu_seconds(batch.pid) - cpu0
        finally:
            batch.terminate()
            batch.wait(60)
            assert sim.stdin is not None
            sim.stdin.close()
            sim.wait(30)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""batch end to end against real daemons: Chronos's API through the
`chronos-python` client from PyPI, Metronome's over plain HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chronos
import pytest
import requests
from conftest import Batch, run_cluster, wait_for


def iso_in(seconds: float) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def chronos_job(name: str, command: str, **extra: Any) -> dict[str, Any]:
    job = {"name": name, "command": command, "owner": "ops@example.com", "disabled": False,
           "schedule": f"R/{iso_in(3600)}/PT1H", "cpus": 0.1, "mem": 32}
    job.update(extra)
    return job


def by_name(jobs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(j for j in jobs if j["name"] == name)


def test_chronos_python_add_list_search_run_delete(batch: Batch) -> None:
    c = chronos.connect(batch.address)
    assert c.add(chronos_job("hello", "echo hello")) is None  # 204
    assert c.add(chronos_job("other", "true")) is None
    jobs = c.list()
    assert {j["name"] for j in jobs} == {"hello", "other"}
    hello = by_name(jobs, "hello")
    assert hello["command"] == "echo hello" and hello["successCount"] == 0 and hello["retries"] == 2
    assert [j["name"] for j in c.search(name="hel")] == ["hello"]
    assert [j["name"] for j in c.search(command="echo")] == ["hello"]
    c.run("hello")
    wait_for(lambda: by_name(c.list(), "hello")["successCount"] == 1, what="the run succeeded")
    assert by_name(c.list(), "hello")["lastSuccess"]
    stat = c.job_stat("hello")
    assert stat["histogram"]["count"] == 1 and stat["taskStatHistory"][0]["taskState"] == "TASK_FINISHED"
    # The same job through Metronome's API.
    m = batch.job("hello")
    assert m["history"]["successCount"] == 1 and m["run"]["cmd"] == "echo hello"
    assert "node,hello,success,idle" in c.scheduler_graph()
    assert c.metrics()["counters"]["batch.runs.succeeded"]["count"] == 1
    c.delete("hello")
    assert [j["name"] for j in c.list()] == ["other"]
    with pytest.raises(chronos.ChronosAPIError):
        c.run("hello")
    with pytest.raises(chronos.ChronosAPIError):
        c.add(chronos_job("bad", "true", schedule="R/not-a-time/PT1H"))


def test_dependent_job_runs_after_both_parents(batch: Batch, tmp_path: Path) -> None:
    c = chronos.connect(batch.address)
    start = iso_in(2)
    out = tmp_path / "order"
    for name in ("import", "extract"):
        c.add(chronos_job(name, f"sleep 0.5; echo {name} >> {out}", schedule=f"R1/{start}/PT1M"))
    report = {"name": "report", "command": f"echo report >> {out}", "owner": "ops@example.com",
              "disabled": False, "parents": ["import", "extract"], "cpus": 0.1, "mem": 32}
    c.add(report)
    # An unknown parent and a cycle are refused (the client logs the message
    # and raises; the message is checked over plain HTTP).
    with pytest.raises(chronos.ChronosAPIError):
        c.add({**report, "name": "orphan", "parents": ["nope"]})
    r = requests.post(f"{batch.url}/v1/scheduler/dependency", json={**report, "name": "orphan", "parents": ["nope"]},
                      timeout=5)
    assert r.status_code == 400 and r.json()["message"] == "unknown parent 'nope'"
    cycle = {**report, "name": "import", "parents": ["report"]}
    r = requests.post(f"{batch.url}/v1/scheduler/dependency", json=cycle, timeout=5)
    assert r.status_code == 400 and "cycle: import -> report -> import" in r.json()["message"], r.text
    wait_for(lambda: by_name(c.list(), "report")["successCount"] == 1, timeout=40, what="the child ran")
    lines = out.read_text().split()
    assert sorted(lines[:2]) == ["extract", "import"] and lines[2:] == ["report"]
    # All three runs belong to the same scheduled instant.
    instants = {j: batch.job(j)["history"]["runs"][0]["scheduledAt"] for j in ("import", "extract", "report")}
    assert len(set(instants.values())) == 1, instants
    assert "link,extract,report" in c.scheduler_graph()


def test_failing_job_retries_then_counts_an_error(batch: Batch) -> None:
    c = chronos.connect(batch.address)
    c.add(chronos_job("flaky", "exit 3", retries=1))
    c.run("flaky")
    wait_for(lambda: by_name(c.list(), "flaky")["errorCount"] == 1, timeout=30, what="the error counted")
    job = by_name(c.list(), "flaky")
    assert job["successCount"] == 0 and job["errorsSinceLastSuccess"] == 1 and job["lastError"]
    run = batch.job("flaky")["history"]["runs"][0]
    assert run["status"] == "FAILED"
    assert [t["exitCode"] for t in run["tasks"]] == [3, 3]  # the first attempt and one retry


def test_metronome_create_schedule_run_stop_history(batch: Batch) -> None:
    url = batch.url
    job = {"id": "prod.cleanup", "description": "Cleans up", "labels": {"team": "ops"},
           "run": {"cmd": "sleep 60", "cpus": 0.1, "mem": 32, "disk": 0}}
    r = requests.post(f"{url}/v1/jobs", json=job, timeout=5)
    assert r.status_code == 201, r.text
    assert r.json()["run"]["cmd"] == "sleep 60"
    assert requests.post(f"{url}/v1/jobs", json=job, timeout=5).status_code == 409
    bad = requests.post(f"{url}/v1/jobs", json={"id": "Bad_Id", "run": {"cpus": -1}}, timeout=5)
    assert bad.status_code == 422
    assert {d["path"] for d in bad.json()["details"]} >= {"/id", "/run", "/run/cpus"}
    sched = {"id": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Berlin", "startingDeadlineSeconds": 60,
             "concurrencyPolicy": "FORBID", "enabled": True}
    r = requests.post(f"{url}/v1/jobs/prod.cleanup/schedules", json=sched, timeout=5)
    assert r.status_code == 201, r.text
    next_run = dt.datetime.strptime(r.json()["nextRunAt"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert next_run.astimezone(dt.timezone(dt.timedelta(hours=1))).hour in (1, 2)  # 02:00 in Berlin: CET or CEST
    bad = requests.post(f"{url}/v1/jobs/prod.cleanup/schedules", json={**sched, "id": "x", "cron": "0 25 * * *"},
                        timeout=5)
    assert bad.status_code == 422 and "hour" in bad.text
    assert [s["id"] for s in requests.get(f"{url}/v1/jobs/prod.cleanup/schedules", timeout=5).json()] == ["nightly"]

    run = requests.post(f"{url}/v1/jobs/prod.cleanup/runs", timeout=5).json()
    wait_for(lambda: requests.get(f"{url}/v1/jobs/prod.cleanup/runs/{run['id']}", timeout=5).json()["status"]
             == "ACTIVE", what="the run active")
    # FORBID: a second run while one is active is refused.
    assert requests.post(f"{url}/v1/jobs/prod.cleanup/runs", timeout=5).status_code == 409
    active = batch.job("prod.cleanup", "activeRuns")["activeRuns"]
    assert [a["id"] for a in active] == [run["id"]]
    stop = requests.post(f"{url}/v1/jobs/prod.cleanup/runs/{run['id']}/actions/stop", timeout=5)
    assert stop.status_code == 200
    wait_for(lambda: batch.job("prod.cleanup")["history"]["failureCount"] == 1, what="the stopped run recorded")
    hist = batch.job("prod.cleanup", "history")["history"]
    assert hist["failedFinishedRuns"][0]["id"] == run["id"]
    assert hist["runs"][0]["reason"] == "stopped by request"
    assert hist["runs"][0]["tasks"][0]["status"] == "TASK_KILLED"
    summary = batch.job("prod.cleanup", "historySummary")["historySummary"]
    assert summary["failureCount"] == 1 and "failedFinishedRuns" not in summary
    # Deleting with active runs needs stopCurrentJobRuns.
    requests.post(f"{url}/v1/jobs/prod.cleanup/runs", timeout=5)
    assert requests.delete(f"{url}/v1/jobs/prod.cleanup", timeout=5).status_code == 409
    assert requests.delete(f"{url}/v1/jobs/prod.cleanup", params={"stopCurrentJobRuns": "true"},
                           timeout=5).status_code == 200
    assert requests.get(f"{url}/v1/jobs/prod.cleanup", timeout=5).status_code == 404
    text = requests.get(f"{url}/metrics", headers={"Accept": "text/plain"}, timeout=5).text
    assert 'batch_runs_finished_total{outcome="failed"} 1' in text


def test_forbid_skips_an_overlapping_tick(batch: Batch) -> None:
    # Due every second, each run takes three: FORBID skips the ticks in between.
    c = chronos.connect(batch.address)
    c.add(chronos_job("busy", "sleep 3", schedule=f"R/{iso_in(1)}/PT1S", concurrent=False))
    wait_for(lambda: batch.job("busy", "historySummary")["historySummary"]["missedCount"] >= 3, timeout=20,
             what="skipped ticks")
    tasks = batch.master_tasks("busy")
    assert len([t for t in tasks if t["state"] in ("TASK_RUNNING", "TASK_STAGING", "TASK_STARTING")]) <= 1


def test_deadline_kills_a_run(batch: Batch) -> None:
    job = {"id": "stuck", "run": {"cmd": "sleep 60", "cpus": 0.1, "mem": 32,
                                  "restart": {"policy": "NEVER", "activeDeadlineSeconds": 1}}}
    assert requests.post(f"{batch.url}/v1/jobs", json=job, timeout=5).status_code == 201
    requests.post(f"{batch.url}/v1/jobs/stuck/runs", timeout=5)
    wait_for(lambda: batch.job("stuck")["history"]["failureCount"] == 1, timeout=20, what="the deadline")
    run = batch.job("stuck")["history"]["runs"][0]
    assert "activeDeadlineSeconds" in run["reason"] and run["tasks"][0]["status"] == "TASK_KILLED"


def test_kill9_between_parent_and_child_runs_the_child_once(batch: Batch, tmp_path: Path) -> None:
    c = chronos.connect(batch.address)
    out = tmp_path / "child"
    gate = tmp_path / "gate"
    # The parent runs until the test opens the gate, while batch is down.
    c.add(chronos_job("parent", f"while [ ! -e {gate} ]; do sleep 0.05; done"))
    c.add({"name": "child", "command": f"echo ran >> {out}", "owner": "ops@example.com", "disabled": False,
           "parents": ["parent"], "cpus": 0.1, "mem": 32})
    c.run("parent")
    wait_for(lambda: [t for t in batch.master_tasks("parent") if t["state"] == "TASK_RUNNING"],
             what="the parent running")
    assert batch.batch is not None
    batch.batch.kill9()
    gate.touch()
    wait_for(lambda: [t for t in batch.master_tasks("parent") if t["state"] == "TASK_FINISHED"],
             what="the parent finished while batch was down")
    batch.start_batch()
    wait_for(lambda: by_name(c.list(), "child")["successCount"] == 1, timeout=30, what="the child ran")
    assert by_name(c.list(), "parent")["successCount"] == 1
    assert out.read_text().split() == ["ran"]
    assert len(batch.master_tasks("child")) == 1
    assert len(batch.master_tasks("parent")) == 1  # adopted, not launched again


@pytest.fixture
def secured(request: pytest.FixtureRequest) -> Iterator[Batch]:
    """A master that authenticates frameworks and agents, and corral-batch
    with its own credential (Chronos's --mesos_authentication_* flags) and an
    API behind --http_credentials."""
    def make(root: Path) -> Batch:
        (root / "credentials").write_text("batch b-secret\nagent a-secret\n")
        (root / "agent-credential").write_text("agent a-secret\n")
        (root / "batch-secret").write_text("b-secret")
        b = Batch(root)
        b.master_args = [f"--credentials={root / 'credentials'}", "--authenticate_frameworks", "--authenticate_agents"]
        b.agent_args = [f"--credential={root / 'agent-credential'}"]
        b.batch_args = ["--mesos_authentication_principal=batch",
                        f"--mesos_authentication_secret_file={root / 'batch-secret'}",
                        "--http_credentials=ops:ops-pw"]
        b.auth = ("ops", "ops-pw")
        return b
    yield from run_cluster(request, make, ["corral-master", "corral-agent", "corral-batch"], "batch-secured-")


def test_chronos_python_with_credentials(secured: Batch) -> None:
    assert requests.get(secured.url + "/scheduler/jobs", timeout=5).status_code == 401
    assert requests.get(secured.url + "/ping", timeout=5).status_code == 200
    with pytest.raises(chronos.ChronosAPIError):  # its 401 (UnauthorizedError), as the client reports it
        chronos.connect(secured.address, username="ops", password="wrong").list()
    c = chronos.connect(secured.address, username="ops", password="ops-pw")
    assert c.add(chronos_job("hello", "echo hello")) is None
    c.run("hello")
    wait_for(lambda: by_name(c.list(), "hello")["successCount"] == 1, what="the run succeeded")

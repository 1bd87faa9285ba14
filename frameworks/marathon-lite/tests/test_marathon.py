"""marathon-lite end to end, through the `marathon` client from PyPI (and
raw HTTP where the client does not reach), against real daemons."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import HOSTS, Cluster, run_cluster, wait_for
from marathon import MarathonClient
from marathon.models import MarathonApp


def client(c: Cluster) -> MarathonClient:
    return MarathonClient(c.url)


def create(c: Cluster, app: dict[str, Any]) -> None:
    """POST /v2/apps with raw JSON: marathon 0.13.0 cannot encode nested
    objects (constraints, upgradeStrategy) on Python 3.10+ (it uses
    collections.Iterable), so definitions with them go around it."""
    r = requests.post(c.url + "/v2/apps", json=app, timeout=10)
    assert r.status_code == 201, r.text


def running(m: MarathonClient, app_id: str, n: int, version: str | None = None) -> list[Any] | None:
    """The app's tasks once exactly `n` run (all at `version`'s config, if given)."""
    tasks = [t for t in m.list_tasks(app_id) if t.state == "TASK_RUNNING"]
    if len(tasks) != n:
        return None
    if version is not None and any(t.version != version for t in tasks):
        return None
    return tasks


def test_every_response_parses_in_the_client(cluster: Cluster) -> None:
    m = client(cluster)
    assert m.ping().strip() == b"pong"
    info = m.get_info()
    assert info.name == "marathon" and info.framework_id
    app = m.create_app("/prod/web", MarathonApp(cmd="sleep 1000", cpus=0.1, mem=16, instances=2,
                                                labels={"team": "web"}))
    assert app.id == "/prod/web" and app.instances == 2
    wait_for(lambda: running(m, "/prod/web", 2), what="2 running")
    [listed] = m.list_apps(embed_tasks=True)
    assert listed.tasks_running == 2 and len(listed.tasks) == 2
    assert m.list_apps(label="team==web") and not m.list_apps(label="team==db")
    got = m.get_app("/prod/web")
    assert got.version.endswith("Z") and len(got.tasks) == 2
    assert all(t.started_at is not None and t.host in HOSTS for t in got.tasks)
    assert got.port_definitions[0].port >= 10000  # a service port was assigned
    assert len(m.list_tasks()) == 2
    assert m.list_deployments() == [] or all(d.affected_apps == ["/prod/web"] for d in m.list_deployments())
    m.list_queue()
    versions = requests.get(cluster.url + "/v2/apps/prod/web/versions", timeout=5).json()["versions"]
    assert versions and versions[0] == got.version
    assert m.get_metrics()["gauges"]["marathon.instances.running.gauge"]["value"] == 2
    prom = requests.get(cluster.url + "/metrics/prometheus", timeout=5)
    assert prom.headers["Content-Type"].startswith("text/plain")
    assert "\nmarathon_instances_running_gauge 2\n" in prom.text
    assert m.get_leader() and requests.get(cluster.url + "/v2/leader", timeout=5).json()["leader"]


def test_scale_update_rollback_delete(cluster: Cluster) -> None:
    m = client(cluster)
    create(cluster, {"id": "web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2,
                     "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}})
    first = wait_for(lambda: running(m, "/web", 2), what="2 running")
    v1 = first[0].version

    m.scale_app("/web", instances=4)
    tasks = wait_for(lambda: running(m, "/web", 4), what="scaled to 4")
    assert {t.id for t in first} <= {t.id for t in tasks}, "a scale must not replace tasks"
    assert all(t.version == v1 for t in tasks)

    # A config change rolls: never more than floor(n * 1.0) = 4 tasks, never
    # fewer than ceil(n * 0.5) = 2 running, as seen by the master throughout.
    m.update_app("/web", MarathonApp(cmd="sleep 2000"))
    low, high = 4, 0

    def rolled() -> bool:
        nonlocal low, high
        tasks = cluster.master_tasks("TASK_RUNNING", "TASK_STAGING", "TASK_STARTING", "TASK_KILLING")
        run = [t for t in tasks if t["state"] == "TASK_RUNNING"]
        low, high = min(low, len(run)), max(high, len(tasks))
        app = m.get_app("/web")
        return not app.deployments and app.tasks_running == 4 and all(t.version != v1 for t in app.tasks)

    wait_for(rolled, timeout=60, what="the rolling upgrade")
    assert low >= math.ceil(4 * 0.5), f"only {low} tasks ran during the upgrade"
    assert high <= 4, f"{high} tasks existed during the upgrade"

    # Rolling back to the first version is a PUT of {"version": ...}: the
    # first definition comes back, and so does its command.
    versions = requests.get(cluster.url + "/v2/apps/web/versions", timeout=5).json()["versions"]
    assert len(versions) == 3 and versions[-1] == v1
    r = requests.put(cluster.url + "/v2/apps/web", json={"version": v1}, timeout=5)
    assert r.status_code == 200 and r.json()["deploymentId"]
    back = wait_for(lambda: running(m, "/web", 2, version=v1), timeout=60, what="rolled back")
    assert m.get_app("/web").cmd == "sleep 1000" and m.get_app("/web").instances == 2
    assert back
    deleted = m.delete_app("/web")
    assert deleted["deploymentId"]
    wait_for(lambda: not cluster.master_tasks(), what="every task killed")
    r = requests.get(cluster.url + "/v2/apps/web", timeout=5)
    assert r.status_code == 404 and r.json()["message"] == "App '/web' does not exist"


def test_deleting_an_app_is_a_deployment_until_its_tasks_are_gone(cluster: Cluster) -> None:
    m = client(cluster)
    # A task that ignores SIGTERM: killing it takes its grace period.
    create(cluster, {"id": "/stubborn", "cmd": "trap '' TERM; while true; do sleep 0.1; done", "cpus": 0.1,
                     "mem": 16, "taskKillGracePeriodSeconds": 3})
    wait_for(lambda: running(m, "/stubborn", 1), what="running")
    r = requests.delete(cluster.url + "/v2/apps/stubborn", timeout=5)
    assert r.status_code == 200
    dep = r.json()["deploymentId"]
    [d] = m.list_deployments()
    assert d.id == dep and d.affected_apps == ["/stubborn"]
    assert d.steps[0].actions[0].action == "StopApplication"
    # The ID is locked while the deletion runs, as Marathon's is.
    r = requests.post(cluster.url + "/v2/apps", json={"id": "/stubborn", "cmd": "sleep 1", "cpus": 0.1, "mem": 16},
                      timeout=5)
    assert r.status_code == 409 and r.json()["deployments"] == [{"id": dep}]
    wait_for(lambda: not m.list_deployments(), timeout=30, what="the deletion done")
    assert not cluster.master_tasks("TASK_RUNNING", "TASK_KILLING")


def test_killed_task_is_replaced_and_kill_with_scale_shrinks(cluster: Cluster) -> None:
    m = client(cluster)
    create(cluster, {"id": "/svc", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2,
                     "constraints": [["hostname", "UNIQUE"]]})
    tasks = wait_for(lambda: running(m, "/svc", 2), what="2 running")
    assert {t.host for t in tasks} == set(HOSTS), "UNIQUE hostname spreads the instances"
    m.kill_task("/svc", tasks[0].id)
    again = wait_for(lambda: (r := running(m, "/svc", 2)) and tasks[0].id not in {t.id for t in r} and r,
                     what="the killed task replaced")
    assert tasks[1].id in {t.id for t in again}
    m.kill_task("/svc", again[0].id, scale=True)
    wait_for(lambda: running(m, "/svc", 1), what="scaled down to 1")
    assert m.get_app("/svc").instances == 1


def test_errors_are_marathons(cluster: Cluster) -> None:
    r = requests.post(cluster.url + "/v2/apps", json={"id": "Bad_Id", "cpus": -1, "mem": "x"}, timeout=5)
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == "Object is not valid"
    paths = {d["path"] for d in body["details"]}
    assert {"/id", "/cpus", "/mem", "/"} <= paths
    r = requests.post(cluster.url + "/v2/apps", data="{not json", timeout=5)
    assert r.status_code == 400
    r = requests.get(cluster.url + "/v2/apps/nope", timeout=5)
    assert r.status_code == 404 and "nope" in r.json()["message"]
    # An app that cannot be placed keeps its deployment open: a change is 409
    # naming it, unless forced.
    r = requests.post(cluster.url + "/v2/apps", json={"id": "big", "cmd": "sleep 1", "cpus": 100}, timeout=5)
    assert r.status_code == 201
    dep = r.headers["Marathon-Deployment-Id"]
    r = requests.put(cluster.url + "/v2/apps/big", json={"cpus": 0.1, "mem": 16}, timeout=5)
    assert r.status_code == 409 and r.json()["deployments"] == [{"id": dep}]
    m = client(cluster)
    [queued] = m.list_queue()
    assert queued.app.id == "/big" and queued.count == 1
    [d] = m.list_deployments()
    assert d.id == dep and d.affected_apps == ["/big"]
    r = requests.post(cluster.url + "/v2/apps", json={"id": "big", "cmd": "sleep 1"}, timeout=5)
    assert r.status_code == 409 and "already exists" in r.json()["message"]
    r = requests.put(cluster.url + "/v2/apps/big?force=true", json={"cpus": 0.1, "mem": 16}, timeout=5)
    assert r.status_code == 200
    wait_for(lambda: running(m, "/big", 1), what="the forced update deployed")
    wait_for(lambda: not m.list_deployments(), what="no deployment left")


def test_kill9_mid_deployment_loses_nothing(cluster: Cluster) -> None:
    m = client(cluster)
    m.create_app("/db", MarathonApp(cmd="sleep 1000", cpus=0.1, mem=16, instances=3))
    before = {t.id for t in wait_for(lambda: running(m, "/db", 3), what="3 running")}
    m.scale_app("/db", instances=6)
    assert cluster.marathon is not None
    cluster.marathon.kill9()
    cluster.start_marathon()
    tasks = wait_for(lambda: running(m, "/db", 6), timeout=60, what="6 running after the restart")
    assert before <= {t.id for t in tasks}, "running tasks were adopted, not replaced"
    # The master agrees: six tasks of the framework, no more (none orphaned
    # or duplicated), and no deployment left.
    wait_for(lambda: len(cluster.master_tasks()) == 6 and not cluster.master_tasks("TASK_STAGING"),
             what="the master's tasks")
    assert {t["id"] for t in cluster.master_tasks()} == {t.id for t in tasks}
    wait_for(lambda: not m.list_deployments(), what="the deployment finished")


def test_health_checks_pass_and_failing_instances_are_replaced(cluster: Cluster) -> None:
    m = client(cluster)
    create(cluster, {"id": "/healthy", "cmd": "exec python3 -m http.server $PORT0 --bind 127.0.0.1", "cpus": 0.1,
                     "mem": 64, "instances": 1,
                     "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
                                       "gracePeriodSeconds": 10, "intervalSeconds": 0.2, "delaySeconds": 0,
                                       "maxConsecutiveFailures": 3}]})
    wait_for(lambda: m.get_app("/healthy").tasks_healthy == 1, what="the HTTP check passing")
    [t] = m.get_app("/healthy").tasks
    assert t.health_check_results and t.health_check_results[0].alive
    # A check that always fails: the agent kills the task after three
    # failures and marathon-lite starts another.
    create(cluster, {"id": "/sick", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1,
                     "backoffSeconds": 0.1,
                     "healthChecks": [{"protocol": "COMMAND", "command": {"value": "false"},
                                       "gracePeriodSeconds": 0, "intervalSeconds": 0.2, "delaySeconds": 0,
                                       "maxConsecutiveFailures": 3}]})
    first = wait_for(lambda: m.list_tasks("/sick"), what="a sick task")[0].id
    wait_for(lambda: (ts := m.list_tasks("/sick")) and ts[0].id != first, timeout=30, what="the sick task replaced")
    assert m.get_app("/sick").tasks_healthy == 0


def test_unreachable_agents_tasks_are_replaced(tmp_path: Path) -> None:
    # Agents missing three 300 ms pings are unreachable: only this test's
    # cluster is that strict, so that load elsewhere does not trip it.
    c = Cluster(tmp_path, master_args=["--agent_ping_timeout=300ms", "--max_agent_ping_timeouts=3"])
    try:
        c.start()
        m = client(c)
        create(c, {"id": "/edge", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1,
                   "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}})
        [task] = wait_for(lambda: running(m, "/edge", 1), what="1 running")
        lost_agent = c.daemons[1 + HOSTS.index(task.host)]  # daemons[0] is the master
        lost_agent.kill9()
        [again] = wait_for(lambda: (r := running(m, "/edge", 1)) and r[0].id != task.id and r, timeout=60,
                           what="the task replaced on the other agent")
        assert again.host != task.host
        assert [t.id for t in m.list_tasks("/edge")] == [again.id], "the unreachable task was expunged"
    finally:
        c.stop()


def test_failing_deploy_hits_its_deadline_and_reverts(cluster: Cluster) -> None:
    m = client(cluster)

    def check(command: str) -> list[dict[str, Any]]:
        return [{"protocol": "COMMAND", "command": {"value": command}, "gracePeriodSeconds": 0,
                 "intervalSeconds": 0.2, "delaySeconds": 0, "maxConsecutiveFailures": 0}]

    create(cluster, {"id": "/api", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2,
                     "healthChecks": check("true"), "progressDeadlineSeconds": 3, "revertOnDeadline": True})
    wait_for(lambda: m.get_app("/api").tasks_healthy == 2, what="2 healthy")
    good = {t.id for t in m.get_app("/api").tasks}
    events = EventReader(cluster.url, ["deployment_failed", "deployment_success"])
    # The new version never becomes healthy, so no old task may go, and the
    # deployment makes no progress.
    r = requests.put(cluster.url + "/v2/apps/api", json={"healthChecks": check("false")}, timeout=5)
    assert r.status_code == 200
    failed = events.next("deployment_failed", timeout=30)
    assert failed["plan"]["target"]["apps"][0]["healthChecks"][0]["command"]["value"] == "false"
    assert "progressDeadlineSeconds" in failed["reason"]
    # Reverted: the old definition is back, its tasks were never replaced,
    # and the new ones are gone.
    events.next("deployment_success", timeout=30)
    app = m.get_app("/api")
    assert app.health_checks[0].command["value"] == "true"
    wait_for(lambda: {t.id for t in m.get_app("/api").tasks} == good, what="only the old tasks")
    ext = requests.get(cluster.url + "/v2/apps/api?embed=app.extensions", timeout=5).json()["app"]
    assert ext["progressDeadlineSeconds"] == 3 and ext["revertOnDeadline"] is True
    events.close()


def test_the_deadline_clock_survives_a_kill9(cluster: Cluster) -> None:
    m = client(cluster)

    def check(command: str) -> list[dict[str, Any]]:
        return [{"protocol": "COMMAND", "command": {"value": command}, "gracePeriodSeconds": 0,
                 "intervalSeconds": 0.2, "delaySeconds": 0, "maxConsecutiveFailures": 0}]

    create(cluster, {"id": "/stall", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1,
                     "healthChecks": check("true"), "progressDeadlineSeconds": 10})
    wait_for(lambda: m.get_app("/stall").tasks_healthy == 1, what="healthy")
    t0 = time.monotonic()
    r = requests.put(cluster.url + "/v2/apps/stall", json={"healthChecks": check("false")}, timeout=5)
    assert r.status_code == 200
    dep = r.json()["deploymentId"]
    wait_for(lambda: len(m.list_tasks("/stall")) == 2, what="the new task launched")
    # Half the deadline passes (the subject here is elapsed time), then a crash.
    wait_for(lambda: time.monotonic() - t0 >= 5, timeout=15, what="half the deadline")
    assert cluster.marathon is not None
    cluster.marathon.kill9()
    cluster.start_marathon()
    assert [d.id for d in m.list_deployments()] == [dep]
    wait_for(lambda: not m.list_deployments(), timeout=20, what="the deployment failed")
    # Failed on the deadline counted from before the crash (about 10 s after
    # the change), not a whole deadline after the restart (15 s or more).
    assert time.monotonic() - t0 < 13.5


def test_readiness_check_gates_the_deployment(cluster: Cluster, tmp_path: Path) -> None:
    """The tasks serve `tmp_path`; /ready exists once the test writes it."""
    m = client(cluster)
    app = {"id": "/ready", "cpus": 0.1, "mem": 64, "instances": 2,
           "cmd": f"exec python3 -m http.server $PORT0 --bind 127.0.0.1 --directory {tmp_path}",
           "portDefinitions": [{"port": 0, "name": "http"}],
           "readinessChecks": [{"name": "r", "protocol": "HTTP", "path": "/ready", "portName": "http",
                                "intervalSeconds": 0.2, "timeoutSeconds": 2}]}
    create(cluster, app)

    def checked_not_ready() -> bool:
        a = m.get_app("/ready")
        results = a.readiness_check_results
        return a.tasks_running == 2 and len(results) == 2 and not any(r["ready"] for r in results)

    # Both tasks run and were checked, and the deployment waits for them.
    wait_for(checked_not_ready, what="two running tasks that are not ready")
    assert [d.affected_apps for d in m.list_deployments()] == [["/ready"]]
    (tmp_path / "ready").write_text("ok")
    wait_for(lambda: not m.list_deployments(), what="the deployment done once the tasks are ready")
    assert all(r["ready"] for r in m.get_app("/ready").readiness_check_results)
    r = requests.post(cluster.url + "/v2/apps", timeout=5, json=dict(app, id="/bad-ready", readinessChecks=[
        {"portName": "nope"}]))
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "/readinessChecks(0)/portName"


def test_dependencies_deploy_first_and_put_changes_many_apps(cluster: Cluster, tmp_path: Path) -> None:
    """/stack/web depends on /stack/db, whose readiness waits for the test."""
    m = client(cluster)
    db = {"id": "db", "cpus": 0.1, "mem": 64, "instances": 1,
          "cmd": f"exec python3 -m http.server $PORT0 --bind 127.0.0.1 --directory {tmp_path}",
          "portDefinitions": [{"port": 0, "name": "http"}],
          "readinessChecks": [{"name": "r", "protocol": "HTTP", "path": "/ready", "portName": "http",
                               "intervalSeconds": 0.2, "timeoutSeconds": 2}]}
    web = {"id": "web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1, "dependencies": ["db"]}
    r = requests.post(cluster.url + "/v2/groups", json={"id": "/stack", "apps": [web, db]}, timeout=10)
    assert r.status_code == 201, r.text
    assert m.get_app("/stack/web").dependencies == ["/stack/db"]

    def db_checked_not_ready() -> bool:
        a = m.get_app("/stack/db")
        return a.tasks_running == 1 and len(a.readiness_check_results) == 1 and \
            not a.readiness_check_results[0]["ready"]

    # db deploys first: while it is not ready, web has launched nothing.
    wait_for(db_checked_not_ready, what="db running and checked, not ready")
    assert m.list_tasks("/stack/web") == []
    assert sorted(d.affected_apps[0] for d in m.list_deployments()) == ["/stack/db", "/stack/web"]
    (tmp_path / "ready").write_text("ok")
    wait_for(lambda: running(m, "/stack/web", 1) and not m.list_deployments(), what="web deployed after db")
    [web_task] = m.list_tasks("/stack/web")
    [db_task] = m.list_tasks("/stack/db")
    assert web_task.staged_at >= db_task.started_at

    # A change that would make a cycle is refused whole, naming it.
    r = requests.put(cluster.url + "/v2/apps", timeout=5, json=[
        {"id": "/stack/db", "dependencies": ["web"]}, {"id": "/stack/web", "instances": 3}])
    assert r.status_code == 422, r.text
    assert "/stack/db -> /stack/web -> /stack/db" in r.json()["details"][0]["errors"][0]
    assert m.get_app("/stack/db").dependencies == [] and m.get_app("/stack/web").instances == 1
    # PUT /v2/apps: partial updates of several apps, creating those absent.
    r = requests.put(cluster.url + "/v2/apps", timeout=5, json=[
        {"id": "/stack/web", "instances": 2}, {"id": "/solo", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16}])
    assert r.status_code == 200, r.text
    assert r.json()["deploymentId"] and r.headers["Marathon-Deployment-Id"] == r.json()["deploymentId"]
    wait_for(lambda: running(m, "/stack/web", 2) and running(m, "/solo", 1), what="both changes deployed")
    assert m.get_app("/stack/web").cmd == "sleep 1000"  # what the body left out is kept
    r = requests.put(cluster.url + "/v2/apps", json=[{"cmd": "true"}], timeout=5)
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "/(0)/id"


def test_canary_waits_for_promote(cluster: Cluster) -> None:
    m = client(cluster)
    create(cluster, {"id": "/can", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3,
                     "canaryInstances": 1})
    old = {t.id for t in wait_for(lambda: running(m, "/can", 3), what="3 running")}
    r = requests.put(cluster.url + "/v2/apps/can", json={"cmd": "sleep 2000"}, timeout=5)
    dep = r.json()["deploymentId"]
    v2 = m.get_app("/can").version

    def canary_only() -> bool:
        tasks = running(m, "/can", 3)
        return tasks is not None and sum(t.version == v2 for t in tasks) == 1 and \
            len({t.id for t in tasks} & old) == 2

    wait_for(canary_only, what="one canary beside two old tasks")
    [d] = m.list_deployments()
    assert d.id == dep and d.total_steps == 2
    r = requests.post(cluster.url + f"/v2/deployments/{dep}/promote", timeout=5)
    assert r.status_code == 200
    wait_for(lambda: running(m, "/can", 3, version=v2) and not m.list_deployments(), what="rolled on after promote")
    r = requests.post(cluster.url + f"/v2/deployments/{dep}/promote", timeout=5)
    assert r.status_code == 404


def test_events_stream(cluster: Cluster) -> None:
    events = EventReader(cluster.url, ["deployment_info", "status_update_event", "deployment_success",
                                       "api_post_event"])
    create(cluster, {"id": "/ev", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16})
    post = events.next("api_post_event")
    assert post["appDefinition"]["id"] == "/ev" and post["timestamp"].endswith("Z")
    info = events.next("deployment_info")
    assert info["plan"]["steps"][0]["actions"] == [{"action": "StartApplication", "app": "/ev"}]
    update = events.next("status_update_event", lambda e: e["taskStatus"] == "TASK_RUNNING")
    assert update["appId"] == "/ev" and update["host"] in HOSTS
    assert events.next("deployment_success")["id"] == info["id"]
    events.close()


def test_groups(cluster: Cluster) -> None:
    m = client(cluster)
    r = requests.post(cluster.url + "/v2/groups", timeout=10, json={
        "id": "/shop", "apps": [{"id": "front", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16}],
        "groups": [{"id": "back", "apps": [{"id": "db", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
                                             "instances": 2}]}]})
    assert r.status_code == 201, r.text
    wait_for(lambda: running(m, "/shop/back/db", 2) and running(m, "/shop/front", 1), what="the group running")
    g = m.get_group("/shop")
    assert [a.id for a in g.apps] == ["/shop/front"] and [s.id for s in g.groups] == ["/shop/back"]
    assert [a.id for a in g.groups[0].apps] == ["/shop/back/db"]
    assert [x.id for x in m.list_groups()] == ["/shop"]
    m.scale_group("/shop", 2)
    wait_for(lambda: running(m, "/shop/back/db", 4) and running(m, "/shop/front", 2), what="scaled by 2")
    # The group's versions: its apps', newest first (each app has two now).
    versions = requests.get(cluster.url + "/v2/groups/shop/versions", timeout=5).json()
    assert len(versions) == 4 and versions == sorted(versions, reverse=True)
    assert versions[0] == max(m.get_app("/shop/front").version, m.get_app("/shop/back/db").version)
    assert requests.get(cluster.url + "/v2/groups/back-nope/versions", timeout=5).status_code == 404
    r = requests.post(cluster.url + "/v2/groups", json={"id": "/shop"}, timeout=5)
    assert r.status_code == 409
    m.delete_group("/shop")
    wait_for(lambda: not m.list_apps() and not cluster.master_tasks(), what="the group gone")


class EventReader:
    """Reads /v2/events (Server-Sent Events) on a thread into a queue."""

    def __init__(self, url: str, types: list[str]) -> None:
        import queue
        import threading

        self.q: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.seen: list[tuple[str, dict[str, Any]]] = []  # read, not yet asked for
        params = [("event_type", t) for t in types]
        self.resp = requests.get(url + "/v2/events", params=params, stream=True, timeout=60,
                                 headers={"Accept": "text/event-stream"})
        assert self.resp.headers["Content-Type"].startswith("text/event-stream")
        self.attached = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.attached.wait(10), "no event_stream_attached"

    def _read(self) -> None:
        import json

        event = ""
        try:
            for line in self.resp.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "event_stream_attached":
                        self.attached.set()
                    else:
                        self.q.put((event, json.loads(line[6:])))
        except (requests.RequestException, AttributeError):
            pass  # closed

    def next(self, type_: str, match: Any = None, timeout: float = 30) -> dict[str, Any]:
        import queue
        import time

        def wanted(t: str, data: dict[str, Any]) -> bool:
            return t == type_ and (match is None or match(data))

        for i, (t, data) in enumerate(self.seen):
            if wanted(t, data):
                del self.seen[i]
                return data
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {type_} event in {timeout}s")
            try:
                t, data = self.q.get(timeout=left)
            except queue.Empty:
                continue
            assert data["eventType"] == t
            if wanted(t, data):
                return data
            self.seen.append((t, data))

    def close(self) -> None:
        # shutdown() ends the reader's blocking read at once (urllib3 2.3+);
        # close() alone would first drain the endless stream.
        shutdown = getattr(self.resp.raw, "shutdown", None)
        if shutdown is not None:
            shutdown()
        self.resp.close()



@pytest.fixture
def secured(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A master that authenticates frameworks and agents, agents with their
    credential, and marathon-lite with its own (Marathon's
    --mesos_authentication_* flags) and a REST API behind --http_credentials."""
    def make(root: Path) -> Cluster:
        (root / "credentials").write_text('{"credentials": [{"principal": "marathon", "secret": "m-secret"},'
                                          ' {"principal": "agent", "secret": "a-secret"}]}')
        (root / "agent-credential").write_text("agent a-secret\n")
        (root / "marathon-secret").write_text("m-secret\n")
        c = Cluster(root, master_args=[f"--credentials={root / 'credentials'}", "--authenticate_frameworks",
                                       "--authenticate_agents"])
        c.agent_args = [f"--credential={root / 'agent-credential'}"]
        c.marathon_args = ["--mesos_authentication_principal=marathon",
                           f"--mesos_authentication_secret_file={root / 'marathon-secret'}",
                           "--http_credentials=admin:admin-pw"]
        c.auth = ("admin", "admin-pw")
        return c
    yield from run_cluster(request, make, ["corral-master", "corral-agent", "corral-marathon"], "marathon-secured-")


def test_everything_authenticated(secured: Cluster) -> None:
    # Started means subscribed: the master took marathon-lite's credential.
    anonymous = requests.get(secured.url + "/v2/apps", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="corral"'
    assert requests.get(secured.url + "/v2/apps", auth=("admin", "wrong"), timeout=5).status_code == 401
    assert requests.get(secured.url + "/ping", timeout=5).status_code == 200  # health checks stay open
    m = MarathonClient(secured.url, username="admin", password="admin-pw")
    m.create_app("/secured", MarathonApp(cmd="sleep 600", cpus=0.1, mem=16, instances=1))
    wait_for(lambda: running(m, "/secured", 1), what="the app's task running")
    fw = [f for f in secured.master_state()["frameworks"] if f["name"] == "marathon"]
    assert fw and fw[0]["principal"] == "marathon"

"""The message builders."""

from __future__ import annotations

import pytest

import corral
from corral import v1


def offer(*resources: v1.Resource) -> v1.Offer:
    o = v1.Offer()
    o.id.value = "o1"
    o.agent_id.value = "a1"
    o.resources.extend(resources)
    return o


def test_resources_builds_scalars_and_ports() -> None:
    res = corral.resources(cpus=0.5, mem=64, ports=[8080, (9000, 9002)], role="web")
    assert corral.scalars(res) == {"cpus": 0.5, "mem": 64.0}
    ports = next(r for r in res if r.name == "ports")
    assert [(r.begin, r.end) for r in ports.ranges.range] == [(8080, 8080), (9000, 9002)]
    assert {r.role for r in res} == {"web"}


@pytest.mark.parametrize("kwargs, message", [
    ({"cpus": -1}, "cpus"),
    ({"mem": float("nan")}, "mem"),
    ({"ports": [70000]}, "ports"),
    ({"ports": [(10, 5)]}, "ports"),
])
def test_resources_rejects_bad_amounts_by_name(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        corral.resources(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cpus"):
        corral.resources(cpus="1")  # type: ignore[arg-type]


def test_resource_pool_cuts_from_the_offer_and_keeps_roles() -> None:
    cpus = corral.resources(cpus=1.0)[0]
    cpus.allocation_info.role = "*"
    o = offer(cpus, *corral.resources(mem=100, ports=[(31000, 31001)]))
    pool = corral.ResourcePool(o)
    taken = []
    while (res := pool.take(cpus=0.3, mem=30)) is not None:
        taken.append(res)
    assert len(taken) == 3  # 0.9 cpus; a fourth would need 1.2
    assert pool.remaining == pytest.approx({"cpus": 0.1, "mem": 10.0})
    assert all(r.allocation_info.role == "*" for r in taken[0] if r.name == "cpus")
    p = corral.ResourcePool(o)
    got = p.take(ports=2)
    assert got is not None and [(r.begin, r.end) for r in got[0].ranges.range] == [(31000, 31000), (31001, 31001)]
    assert p.take(ports=1) is None


def test_task_from_a_command_or_an_executor() -> None:
    o = offer(*corral.resources(cpus=1, mem=64))
    t = corral.task("web", "python -m http.server", corral.resources(cpus=0.1), offer=o, env={"A": "1"},
                    kill_grace_period=2.5)
    assert t.agent_id.value == "a1" and t.task_id.value.startswith("web-")
    assert t.command.shell and t.command.value == "python -m http.server"
    assert [(v.name, v.value) for v in t.command.environment.variables] == [("A", "1")]
    assert t.kill_policy.grace_period.nanoseconds == 2_500_000_000
    argv = corral.task("ls", ["ls", "-l"], [], agent_id="a2", task_id="ls-1")
    assert not argv.command.shell and list(argv.command.arguments) == ["ls", "-l"]
    ex = corral.executor("e1", ["python3", "exec.py"])
    assert corral.task("t", ex, [], agent_id="a").executor.executor_id.value == "e1"
    with pytest.raises(ValueError, match="offer= or agent_id="):
        corral.task("t", "true", [])
    with pytest.raises(ValueError, match="name"):
        corral.task("", "true", [], agent_id="a")


def test_framework_info() -> None:
    f = corral.framework("f", roles=["a", "b"], failover_timeout=60, capabilities=["PARTITION_AWARE"],
                         framework_id="F1", checkpoint=True)
    assert {c.type for c in f.capabilities} == {v1.FrameworkInfo.Capability.PARTITION_AWARE,
                                                v1.FrameworkInfo.Capability.MULTI_ROLE}
    assert list(f.roles) == ["a", "b"] and f.failover_timeout == 60 and f.id.value == "F1" and f.checkpoint
    with pytest.raises(ValueError, match="capabilities"):
        corral.framework("f", capabilities=["FLYING"])


def test_terminal_states_and_names() -> None:
    assert corral.is_terminal(v1.TASK_FINISHED) and corral.is_terminal(v1.TASK_LOST)
    assert not corral.is_terminal(v1.TASK_RUNNING) and not corral.is_terminal(v1.TASK_UNREACHABLE)
    assert corral.state_name(v1.TASK_KILLING) == "TASK_KILLING"


def test_uris_and_health_checks() -> None:
    cmd = corral.command("./run", uris=["http://h/app.tgz", corral.uri("/opt/tool", executable=True, cache=True)])
    assert [u.value for u in cmd.uris] == ["http://h/app.tgz", "/opt/tool"]
    assert cmd.uris[1].executable and cmd.uris[1].cache and cmd.uris[0].extract
    http = corral.health_check(http_port=8080, path="/health", statuses=[200, 204], consecutive_failures=0)
    assert http.type == v1.HealthCheck.HTTP and list(http.http.statuses) == [200, 204]
    assert http.consecutive_failures == 0 and http.delay_seconds == 15
    tcp = corral.health_check(tcp_port=9000, interval=1)
    assert tcp.type == v1.HealthCheck.TCP and tcp.tcp.port == 9000 and tcp.interval_seconds == 1
    cmd_check = corral.health_check(command=["test", "-f", "ready"])
    assert cmd_check.type == v1.HealthCheck.COMMAND and list(cmd_check.command.arguments) == ["test", "-f", "ready"]
    with pytest.raises(ValueError, match="exactly one"):
        corral.health_check(http_port=80, tcp_port=81)
    with pytest.raises(ValueError, match="tcp_port"):
        corral.health_check(tcp_port=70000)
    with pytest.raises(TypeError, match="uris"):
        corral.command("x", uris=[42])  # type: ignore[list-item]

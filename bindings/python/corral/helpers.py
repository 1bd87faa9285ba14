"""Small builders for the messages every framework writes by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

from corral._ids import id_value, non_negative, strings
from corral.v1 import corral_pb2 as pb

# Enum look-ups through descriptors, which are typed (the enum wrappers' are not).
_CAPABILITIES = pb.FrameworkInfo.Capability.DESCRIPTOR.enum_types_by_name["Type"]
_TASK_STATES = pb.DESCRIPTOR.enum_types_by_name["TaskState"]


def framework(
    name: str,
    *,
    roles: str | Iterable[str] | None = None,
    user: str | None = None,
    checkpoint: bool = False,
    failover_timeout: float | None = None,
    capabilities: Iterable[str] = (),
    framework_id: str | None = None,
    hostname: str | None = None,
    principal: str | None = None,
    webui_url: str | None = None,
) -> pb.FrameworkInfo:
    """A FrameworkInfo. ``roles`` subscribes to those roles (adding the
    MULTI_ROLE capability); ``capabilities`` are names such as
    ``"PARTITION_AWARE"`` or ``"TASK_KILLING_STATE"``; ``framework_id``
    resubscribes as an existing framework (failover)."""
    if not isinstance(name, str) or not name:
        raise ValueError("name: a framework needs a non-empty name")
    info = pb.FrameworkInfo(name=name, checkpoint=bool(checkpoint))
    caps = strings(capabilities, "capabilities")
    if roles is not None:
        info.roles.extend(strings(roles, "roles"))
        if "MULTI_ROLE" not in caps:
            caps.append("MULTI_ROLE")
    for c in caps:
        value = _CAPABILITIES.values_by_name.get(c)
        if value is None:
            raise ValueError(f"capabilities: unknown capability {c!r}")
        info.capabilities.add().type = value.number
    if user is not None:
        info.user = user
    if failover_timeout is not None:
        info.failover_timeout = non_negative(failover_timeout, "failover_timeout")
    if framework_id is not None:
        info.id.value = id_value(framework_id, "framework_id")
    if hostname is not None:
        info.hostname = hostname
    if principal is not None:
        info.principal = principal
    if webui_url is not None:
        info.webui_url = webui_url
    return info


def _scalar(name: str, amount: float, role: str | None) -> pb.Resource:
    r = pb.Resource(name=name, type=pb.Value.SCALAR)
    r.scalar.value = amount
    if role is not None:
        r.role = role
    return r


def resources(
    cpus: float | None = None,
    mem: float | None = None,
    disk: float | None = None,
    gpus: float | None = None,
    ports: Iterable[int | tuple[int, int]] | None = None,
    *,
    role: str | None = None,
    **scalars: float,
) -> list[pb.Resource]:
    """Resources for a task or executor: ``resources(cpus=0.1, mem=32)``.
    ``mem`` and ``disk`` are in MB; ``ports`` are port numbers or (begin, end)
    ranges; other keyword arguments are further scalar resources."""
    out: list[pb.Resource] = []
    for name, amount in (("cpus", cpus), ("mem", mem), ("disk", disk), ("gpus", gpus), *scalars.items()):
        if amount is not None:
            out.append(_scalar(name, non_negative(amount, name), role))
    if ports is not None:
        r = pb.Resource(name="ports", type=pb.Value.RANGES)
        if role is not None:
            r.role = role
        for p in ports:
            begin, end = (p, p) if isinstance(p, int) else p
            for v in (begin, end):
                if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 65536:
                    raise ValueError(f"ports: {v!r} is not a port number")
            if end < begin:
                raise ValueError(f"ports: range {begin}-{end} is empty")
            r.ranges.range.add(begin=begin, end=end)
        out.append(r)
    return out


def scalars(resources: Iterable[pb.Resource]) -> dict[str, float]:
    """Totals of the scalar resources: ``{"cpus": 4.0, "mem": 4096.0, ...}``."""
    totals: dict[str, float] = {}
    for r in resources:
        if r.type == pb.Value.SCALAR:
            totals[r.name] = totals.get(r.name, 0.0) + r.scalar.value
    return totals


class ResourcePool:
    """What is left of an offer while tasks are packed onto it.

    ``take()`` returns resources cut from the offer's own (keeping their role
    and allocation info, as the master requires), or None when what is asked
    no longer fits::

        pool = corral.ResourcePool(offer)
        while (res := pool.take(cpus=0.5, mem=64)) is not None:
            tasks.append(corral.task("work", "./work.sh", res, offer=offer))
    """

    # Scalars are kept in thousandths, as the master counts them, so that
    # repeated subtraction never drifts.
    _SCALE = 1000

    def __init__(self, offer: pb.Offer) -> None:
        if not isinstance(offer, pb.Offer):
            raise TypeError(f"offer: expected corral.v1.Offer, got {type(offer).__name__}")
        self.offer = offer
        self._left: list[tuple[pb.Resource, int]] = []
        self._ports: list[tuple[pb.Resource, list[list[int]]]] = []
        for r in offer.resources:
            if r.type == pb.Value.SCALAR:
                self._left.append((r, round(r.scalar.value * self._SCALE)))
            elif r.type == pb.Value.RANGES and r.name == "ports":
                self._ports.append((r, [[x.begin, x.end] for x in r.ranges.range]))

    @property
    def remaining(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for r, left in self._left:
            totals[r.name] = totals.get(r.name, 0.0) + left / self._SCALE
        return totals

    def take(self, cpus: float = 0, mem: float = 0, disk: float = 0, *, ports: int = 0,
             **scalars: float) -> list[pb.Resource] | None:
        """Cuts these amounts (and ``ports`` port numbers) from the pool."""
        want = {"cpus": cpus, "mem": mem, "disk": disk, **scalars}
        need = {k: round(non_negative(v, k) * self._SCALE) for k, v in want.items()}
        need = {k: v for k, v in need.items() if v > 0}
        if isinstance(ports, bool) or not isinstance(ports, int) or ports < 0:
            raise ValueError(f"ports: expected a count >= 0, got {ports!r}")
        for name, amount in need.items():
            if sum(left for r, left in self._left if r.name == name) < amount:
                return None
        if sum(e - b + 1 for _, rs in self._ports for b, e in rs) < ports:
            return None
        out: list[pb.Resource] = []
        for i, (r, left) in enumerate(self._left):
            amount = min(left, need.get(r.name, 0))
            if amount <= 0:
                continue
            piece = pb.Resource()
            piece.CopyFrom(r)
            piece.scalar.value = amount / self._SCALE
            out.append(piece)
            self._left[i] = (r, left - amount)
            need[r.name] -= amount
        for r, ranges in self._ports:
            if ports == 0:
                break
            piece = pb.Resource()
            piece.CopyFrom(r)
            del piece.ranges.range[:]
            for rng in ranges:
                while ports > 0 and rng[0] <= rng[1]:
                    piece.ranges.range.add(begin=rng[0], end=rng[0])
                    rng[0] += 1
                    ports -= 1
            if piece.ranges.range:
                out.append(piece)
        return out


def uri(value: str, *, executable: bool = False, extract: bool = True, cache: bool = False,
        output_file: str | None = None) -> pb.CommandInfo.URI:
    """A URI the agent fetches into the sandbox before the task starts
    (http(s)://, file:// or an absolute path; archives are unpacked unless
    ``extract=False``). See docs/operations.md, "Fetching URIs"."""
    if not isinstance(value, str) or not value:
        raise ValueError("uri: must be a non-empty str")
    u = pb.CommandInfo.URI(value=value, executable=bool(executable), extract=bool(extract), cache=bool(cache))
    if output_file is not None:
        u.output_file = output_file
    return u


def command(value: str | Sequence[str], *, env: Mapping[str, str] | None = None, user: str | None = None,
            uris: Iterable[str | pb.CommandInfo.URI] = ()) -> pb.CommandInfo:
    """A CommandInfo: a shell command line (str) or an argv list run without a
    shell; ``uris`` (strings, or :func:`uri` for options) are fetched first."""
    cmd = pb.CommandInfo()
    if isinstance(value, str):
        if not value:
            raise ValueError("command: must not be empty")
        cmd.shell = True
        cmd.value = value
    else:
        argv = strings(value, "command")
        if not argv:
            raise ValueError("command: the argument list must not be empty")
        cmd.shell = False
        cmd.value = argv[0]
        cmd.arguments.extend(argv)
    for k, v in (env or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("env: names and values must be str")
        cmd.environment.variables.add(name=k, value=v)
    if user is not None:
        cmd.user = user
    for u in ([uris] if isinstance(uris, str) else uris):
        if isinstance(u, pb.CommandInfo.URI):
            cmd.uris.append(u)
        elif isinstance(u, str) and u:
            cmd.uris.add(value=u)
        else:
            raise TypeError(f"uris: expected str or corral.uri(...), got {type(u).__name__}")
    return cmd


# health_check() has a parameter named `command`.
_command_info = command


def health_check(
    *,
    command: str | Sequence[str] | None = None,
    http_port: int | None = None,
    path: str = "/",
    scheme: str = "http",
    statuses: Iterable[int] = (),
    tcp_port: int | None = None,
    delay: float = 15.0,
    interval: float = 10.0,
    timeout: float = 20.0,
    grace_period: float = 10.0,
    consecutive_failures: int = 3,
) -> pb.HealthCheck:
    """A HealthCheck: exactly one of ``command`` (run in the sandbox),
    ``http_port`` (GET ``path``; healthy on ``statuses``, or 200-399) or
    ``tcp_port`` (a connection is accepted). Times are in seconds; the task
    is killed after ``consecutive_failures`` failures in a row (0: never)."""
    kinds = [k for k, v in (("command", command), ("http_port", http_port), ("tcp_port", tcp_port)) if v is not None]
    if len(kinds) != 1:
        raise ValueError("health_check: give exactly one of command=, http_port= or tcp_port=")
    hc = pb.HealthCheck(delay_seconds=non_negative(delay, "delay"), interval_seconds=non_negative(interval, "interval"),
                        timeout_seconds=non_negative(timeout, "timeout"),
                        grace_period_seconds=non_negative(grace_period, "grace_period"))
    if isinstance(consecutive_failures, bool) or not isinstance(consecutive_failures, int) or consecutive_failures < 0:
        raise ValueError(f"consecutive_failures: expected a count >= 0, got {consecutive_failures!r}")
    hc.consecutive_failures = consecutive_failures
    for name, port in (("http_port", http_port), ("tcp_port", tcp_port)):
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise ValueError(f"{name}: {port!r} is not a port number")
    if command is not None:
        hc.type = pb.HealthCheck.COMMAND
        hc.command.CopyFrom(_command_info(command))
    elif http_port is not None:
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme: expected 'http' or 'https', got {scheme!r}")
        hc.type = pb.HealthCheck.HTTP
        hc.http.port = http_port
        hc.http.path = path
        hc.http.scheme = scheme
        hc.http.statuses.extend(int(s) for s in statuses)
    else:
        assert tcp_port is not None
        hc.type = pb.HealthCheck.TCP
        hc.tcp.port = tcp_port
    return hc


def task(
    name: str,
    command_or_executor: str | Sequence[str] | pb.CommandInfo | pb.ExecutorInfo,
    resources: Iterable[pb.Resource],
    *,
    offer: pb.Offer | None = None,
    agent_id: str | pb.AgentID | None = None,
    task_id: str | None = None,
    env: Mapping[str, str] | None = None,
    kill_grace_period: float | None = None,
    data: bytes | None = None,
    labels: Mapping[str, str] | None = None,
    uris: Iterable[str | pb.CommandInfo.URI] = (),
    health_check: pb.HealthCheck | None = None,
) -> pb.TaskInfo:
    """A TaskInfo that runs a command (a shell line, an argv list or a
    CommandInfo) or runs under a custom executor (an ExecutorInfo). The agent
    comes from ``offer`` or ``agent_id``; ``task_id`` defaults to
    ``name`` plus a unique suffix. ``uris`` are fetched into the sandbox
    first; ``health_check`` (see :func:`health_check`) is run by the agent."""
    if not isinstance(name, str) or not name:
        raise ValueError("name: a task needs a non-empty name")
    t = pb.TaskInfo(name=name)
    t.task_id.value = task_id if task_id is not None else f"{name}-{uuid.uuid4().hex[:12]}"
    if not t.task_id.value:
        raise ValueError("task_id: must not be empty")
    if offer is not None:
        if not isinstance(offer, pb.Offer):
            raise TypeError(f"offer: expected corral.v1.Offer, got {type(offer).__name__}")
        t.agent_id.CopyFrom(offer.agent_id)
    elif agent_id is not None:
        t.agent_id.value = id_value(agent_id, "agent_id")
    else:
        raise ValueError("task needs offer= or agent_id= to say where it runs")
    if isinstance(command_or_executor, pb.ExecutorInfo):
        t.executor.CopyFrom(command_or_executor)
        if env:
            raise ValueError("env: set the environment on the ExecutorInfo's command instead")
    elif isinstance(command_or_executor, pb.CommandInfo):
        t.command.CopyFrom(command_or_executor)
        for k, v in (env or {}).items():
            t.command.environment.variables.add(name=k, value=v)
        t.command.uris.extend(command("true", uris=uris).uris)
    else:
        t.command.CopyFrom(command(command_or_executor, env=env, uris=uris))
    if isinstance(command_or_executor, pb.ExecutorInfo) and not isinstance(uris, str) and list(uris):
        raise ValueError("uris: set them on the ExecutorInfo's command instead")
    if health_check is not None:
        if not isinstance(health_check, pb.HealthCheck):
            raise TypeError(f"health_check: expected corral.health_check(...), got {type(health_check).__name__}")
        t.health_check.CopyFrom(health_check)
    for r in resources:
        if not isinstance(r, pb.Resource):
            raise TypeError(f"resources: expected corral.v1.Resource, got {type(r).__name__}")
        t.resources.append(r)
    if kill_grace_period is not None:
        t.kill_policy.grace_period.nanoseconds = int(non_negative(kill_grace_period, "kill_grace_period") * 1e9)
    if data is not None:
        t.data = bytes(data)
    for k, v in (labels or {}).items():
        t.labels.labels.add(key=k, value=v)
    return t


def executor(executor_id: str, command_value: str | Sequence[str] | pb.CommandInfo, *,
             name: str | None = None, resources: Iterable[pb.Resource] = (),
             env: Mapping[str, str] | None = None) -> pb.ExecutorInfo:
    """An ExecutorInfo for a custom executor started with ``command_value``."""
    info = pb.ExecutorInfo(type=pb.ExecutorInfo.CUSTOM)
    info.executor_id.value = id_value(executor_id, "executor_id")
    if name is not None:
        info.name = name
    if isinstance(command_value, pb.CommandInfo):
        info.command.CopyFrom(command_value)
    else:
        info.command.CopyFrom(command(command_value, env=env))
    info.resources.extend(resources)
    return info


def state_name(state: int) -> str:
    """``"TASK_RUNNING"`` for ``corral.v1.TASK_RUNNING``."""
    value = _TASK_STATES.values_by_number.get(state)
    if value is None:
        raise ValueError(f"state: not a TaskState: {state!r}")
    return str(value.name)


TERMINAL_STATES = frozenset({
    pb.TASK_FINISHED, pb.TASK_FAILED, pb.TASK_KILLED, pb.TASK_ERROR, pb.TASK_LOST,
    pb.TASK_DROPPED, pb.TASK_GONE, pb.TASK_GONE_BY_OPERATOR,
})


def is_terminal(state: int) -> bool:
    """Whether a task in ``state`` will not change state again."""
    return state in TERMINAL_STATES

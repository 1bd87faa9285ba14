"""What the bundled frameworks' end-to-end tests share: real daemons as
processes (corral-master, corral-agent and the framework's own binary from
the build's bin directory, CORRAL_BIN_DIR, default build/bin), and polling
with a deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("CORRAL_BIN_DIR", ROOT / "build" / "bin"))
T = TypeVar("T")


def wait_for(fn: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Polls ``fn`` until it returns something truthy; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (requests.RequestException, KeyError, ValueError, IndexError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)  # polling interval, not synchronisation: the deadline decides
    raise TimeoutError(f"{what} not reached in {timeout}s (last: {last!r})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, args: list[str], log: Path) -> None:
        self.args, self.log = args, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class ZooKeeper:
    """A standalone ZooKeeper server on loopback (Debian's zookeeper package, run with the JDK)."""

    JAR = Path("/usr/share/java/zookeeper.jar")

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.daemon: Daemon | None = None

    def start(self) -> None:
        if not self.JAR.exists():
            pytest.fail("this test needs ZooKeeper (Debian's zookeeper package) and a JDK")
        data = self.root / "zk"
        data.mkdir(exist_ok=True)
        cfg = self.root / "zk.cfg"
        cfg.write_text(f"tickTime=250\nminSessionTimeout=500\ndataDir={data}\nclientPort={self.port}\n"
                       "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n")
        self.daemon = Daemon(["java", "-Xmx256m", "-XX:+UseSerialGC", "-cp", str(self.JAR),
                              "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)], self.root / "zookeeper.log")
        self.daemon.start()
        wait_for(self._serving, 60, what="ZooKeeper serving")

    def _serving(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1.0) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def url(self, path: str) -> str:
        return f"zk://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop()


def elected(addresses: list[str | None], leader_path: str, info_path: str) -> int | None:
    """Which of several instances elected through ZooKeeper leads and serves
    (subscribed), 1-based for wait_for, if one does; `None` entries are down.
    A standby proxies `info_path` to the leader, so the leader is the one
    that names itself at `leader_path`."""
    for i, address in enumerate(addresses):
        if address is None:
            continue
        try:
            me = requests.get(f"http://{address}{leader_path}", timeout=2)
            info = requests.get(f"http://{address}{info_path}", allow_redirects=False, timeout=2)
        except requests.RequestException:
            continue
        if me.ok and me.json().get("leader") == address and info.status_code == 200 \
                and info.json().get("frameworkId"):
            return i + 1
    return None


def logs_of(root: Path) -> str:
    """The tail of every daemon's log under `root`, for a failed test."""
    return "\n".join(f"--- {p.name} ---\n" + p.read_text(errors="replace")[-4000:] for p in sorted(root.glob("*.log")))


class Cluster(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


C = TypeVar("C", bound=Cluster)


def run_cluster(request: pytest.FixtureRequest, make: Callable[[Path], C], binaries: list[str],
                prefix: str) -> Iterator[C]:
    """A fixture's body: the cluster `make` builds in a fresh directory,
    started, yielded, and stopped; its logs printed when the test failed."""
    for b in binaries:
        if not (BIN / b).exists():
            pytest.fail(f"{BIN / b} is missing: build first (scripts/dev.sh build)")
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        c = make(Path(d))
        try:
            c.start()
            yield c
        finally:
            failed = getattr(request.node, "rep_call", None)
            if failed is not None and failed.failed:
                print(logs_of(Path(d)))
            c.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keeps each phase's report on the test item (run_cluster reads it);
    a conftest that imports it has it as its hook."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)

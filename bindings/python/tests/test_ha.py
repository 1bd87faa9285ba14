"""The Python SDK against two masters elected through a real ZooKeeper
server: the driver finds the leader from a zk:// URL, as Mesos clients do,
and follows it, with its framework ID, when the leader is killed."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from corral.testing import binary, master_state, wait_for

from conftest import Recorder, free_port

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")


@pytest.fixture
def zookeeper(tmp_path: Path) -> Iterator[str]:
    """A standalone ZooKeeper server on loopback; yields host:port."""
    if not ZOOKEEPER_JAR.exists():
        pytest.fail("this test needs ZooKeeper (Debian's zookeeper package) and a JDK")
    port = free_port()
    data = tmp_path / "zk"
    data.mkdir()
    cfg = tmp_path / "zk.cfg"
    cfg.write_text(f"tickTime=250\nminSessionTimeout=500\ndataDir={data}\nclientPort={port}\n"
                   "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n")
    with open(tmp_path / "zk.log", "wb") as log:
        proc = subprocess.Popen(["java", "-Xmx256m", "-XX:+UseSerialGC", "-cp", str(ZOOKEEPER_JAR),
                                 "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT)

    def serving() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), 1.0) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    try:
        wait_for(serving, 60)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_driver_finds_the_leader_through_zk_and_follows_it(zookeeper: str, tmp_path: Path) -> None:
    url = f"zk://{zookeeper}/corral"
    ports = [free_port(), free_port()]
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def spawn(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = tmp_path / f"{name}.log"
        logs.append(log)
        with open(log, "wb") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    masters = [spawn(f"master-{i}", [binary("corral-master"), f"--port={port}", f"--work_dir={tmp_path / f'm{i}'}",
                                     f"--zk={url}", "--zk_session_timeout=3secs", "--allocation_interval=200ms"])
               for i, port in enumerate(ports)]

    def leader() -> int | None:
        for i, port in enumerate(ports):
            if masters[i].poll() is None:
                try:
                    master_state(f"127.0.0.1:{port}", 1.0)
                    return i + 1
                except RuntimeError:
                    pass  # a standby: it answers UNAVAILABLE, naming the leader
        return None

    try:
        first = wait_for(leader, 30) - 1
        spawn("agent", [binary("corral-agent"), f"--master={url}", "--port=0", f"--work_dir={tmp_path / 'agent'}",
                        "--cgroups=false", "--resources=cpus:4;mem:4096;disk:1024", "--registration_backoff=100ms"])
        rec = Recorder()
        rec.on_offers = lambda d, offers: d.decline(offers, refuse_seconds=0.2)
        with corral.SchedulerDriver(rec, corral.framework("ha-py", failover_timeout=60), url):
            rec.wait(lambda: rec.offers_seen)
            framework_id = rec.framework_id
            assert framework_id
            assert rec.offers_seen[-1].id.value.startswith(master_state(f"127.0.0.1:{ports[first]}").master_info.id)

            masters[first].send_signal(signal.SIGKILL)
            masters[first].wait(10)
            second = wait_for(leader, 30) - 1
            assert second != first
            new_id = master_state(f"127.0.0.1:{ports[second]}").master_info.id
            rec.wait(lambda: any(o.id.value.startswith(new_id) for o in rec.offers_seen))
            assert rec.framework_id == framework_id
    except BaseException:
        print("\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.exists()))
        raise
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

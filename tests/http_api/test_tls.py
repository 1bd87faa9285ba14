"""TLS on the master's and the agent's one port, with certificates made for
the run by tests/tls/make_certs.sh: HTTPS for the Mesos HTTP API (with HTTP
Basic credentials, as pymesos sends them), the agent registering over
mutual TLS, plain HTTP refused unless downgrade is allowed, a client of
another CA refused, client certificates required, and the CLI over TLS."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from corral.testing import wait_for

from mesos_client import JSON, Subscription, connection, free_port, get, wait_for_health
from test_security import CREDENTIALS, OPS, WEB, subscribe_call

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CORRAL_BIN_DIR", ROOT / "build" / "bin"))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(ROOT / "tests" / "tls" / "make_certs.sh"), str(d)], check=True)
    return d


def context(certs: Path, ca: str = "ca.crt", cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / ca))
    if cert:
        ctx.load_cert_chain(str(certs / f"{cert}.crt"), str(certs / f"{cert}.key"))
    return ctx


class Cluster:
    def __init__(self, master: str, agent: str, log: Path) -> None:
        self.master, self.agent, self.log = master, agent, log


def tls_flags(certs: Path, *extra: str) -> list[str]:
    return [f"--ssl_cert_file={certs / 'server.crt'}", f"--ssl_key_file={certs / 'server.key'}",
            f"--ssl_ca_file={certs / 'ca.crt'}", *extra]


@pytest.fixture
def cluster(tmp_path: Path, certs: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A master and an agent over TLS (extra flags from a master_args marker)."""
    (tmp_path / "credentials").write_text(json.dumps(CREDENTIALS))
    marker = request.node.get_closest_marker("master_args")
    extra = marker.args if marker else ()
    port, agent_port = free_port(), free_port()
    log = tmp_path / "daemons.log"
    with open(log, "wb") as out:
        procs = [subprocess.Popen(
            [str(BIN / "corral-master"), f"--port={port}", f"--work_dir={tmp_path / 'master'}",
             f"--credentials={tmp_path / 'credentials'}", "--authenticate_http_readwrite",
             "--authenticate_http_frameworks", "--allocation_interval=100ms", *tls_flags(certs, *extra)],
            stdout=out, stderr=subprocess.STDOUT)]
        procs.append(subprocess.Popen(
            [str(BIN / "corral-agent"), f"--master=127.0.0.1:{port}", f"--port={agent_port}",
             f"--work_dir={tmp_path / 'agent'}", "--cgroups=false", "--resources=cpus:2;mem:1024;disk:1024",
             "--registration_backoff=100ms", *tls_flags(certs, *extra)],
            stdout=out, stderr=subprocess.STDOUT))
    master = f"127.0.0.1:{port}"
    client = context(certs, cert="client")
    try:
        wait_for_health(master, log, tls=client)
        yield Cluster(master, f"127.0.0.1:{agent_port}", log)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def active_agents(master: str, tls: ssl.SSLContext) -> int:
    status, body, _ = get(master, "/master/slaves", tls=tls)
    assert status == 200, body
    return sum(1 for a in json.loads(body)["slaves"] if a["active"])


def test_the_http_api_over_tls_with_basic_credentials(cluster: Cluster, certs: Path) -> None:
    tls = context(certs)
    wait_for(lambda: active_agents(cluster.master, tls) == 1)  # the agent registered over TLS
    status, body, _ = get(cluster.master, "/master/state", tls=tls)
    assert status == 200 and json.loads(body)["activated_slaves"] == 1
    # The agent's own port serves TLS too.
    status, body, _ = get(cluster.agent, "/state", tls=tls)
    assert status == 200, body
    # A scheduler's RecordIO stream over HTTPS, as pymesos opens it.
    sub = Subscription(cluster.master, subscribe_call("web"), JSON, JSON, headers=WEB, tls=tls)
    assert sub.status == 200, sub.error
    sub.next("SUBSCRIBED")
    assert sub.next("OFFERS")["offers"]["offers"]
    sub.close()
    status, _, _ = get(cluster.master, "/flags", headers=OPS, tls=tls)
    assert status == 200


def test_plain_http_is_refused(cluster: Cluster) -> None:
    status, body, _ = get(cluster.master, "/health")
    assert (status, body) == (400, b"This server takes only TLS (https) requests.\n")


def test_a_client_of_another_ca_refuses_the_master(cluster: Cluster, certs: Path) -> None:
    conn = connection(cluster.master, context(certs, ca="other-ca.crt"))
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/health")
    conn.close()


@pytest.mark.master_args("--ssl_support_downgrade")
def test_downgrade_serves_plain_and_tls_on_one_port(cluster: Cluster, certs: Path) -> None:
    assert get(cluster.master, "/health")[0] == 200
    assert get(cluster.master, "/health", tls=context(certs))[0] == 200


@pytest.mark.master_args("--ssl_require_cert")
def test_required_client_certificates(cluster: Cluster, certs: Path) -> None:
    client = context(certs, cert="client")
    wait_for(lambda: active_agents(cluster.master, client) == 1)  # the agent showed its certificate
    for refused in (context(certs), context(certs, cert="rogue")):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(cluster.master, "/health", tls=refused)
    assert get(cluster.master, "/health", tls=client)[0] == 200

    # The CLI, with a client certificate of the CA.
    env = {**os.environ, "CORRAL_PRINCIPAL": "ops", "CORRAL_SECRET": "ops-secret"}
    out = subprocess.run(
        [str(BIN / "corral"), f"--master={cluster.master}", f"--ssl_ca_file={certs / 'ca.crt'}",
         f"--ssl_cert_file={certs / 'client.crt'}", f"--ssl_key_file={certs / 'client.key'}", "agents"],
        capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "ACTIVE" in out.stdout or "active" in out.stdout.lower(), out.stdout
    # Without one the CLI cannot reach the master, and says so.
    out = subprocess.run([str(BIN / "corral"), f"--master={cluster.master}", f"--ssl_ca_file={certs / 'ca.crt'}",
                          "agents"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode != 0
    assert "cannot reach the master" in out.stderr

"""The Python SDK over TLS to a master and agent that require client
certificates (--ssl_require_cert), with certificates made for the run by
tests/tls/make_certs.sh: the TLS arguments, the LIBPROCESS_SSL_*
environment instead, and bad arguments refused before anything connects."""

from __future__ import annotations

import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from corral import v1
from corral.testing import binary, wait_for

from conftest import Recorder, free_port, launch_on_first_offer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(ROOT / "tests" / "tls" / "make_certs.sh"), str(d)], check=True)
    return d


@pytest.fixture
def tls_master(tmp_path: Path, certs: Path) -> Iterator[str]:
    port = free_port()
    tls = [f"--ssl_cert_file={certs / 'server.crt'}", f"--ssl_key_file={certs / 'server.key'}",
           f"--ssl_ca_file={certs / 'ca.crt'}", "--ssl_require_cert"]
    with open(tmp_path / "daemons.log", "wb") as log:
        procs = [subprocess.Popen([binary("corral-master"), f"--port={port}", f"--work_dir={tmp_path / 'master'}",
                                   "--allocation_interval=100ms", *tls], stdout=log, stderr=subprocess.STDOUT),
                 subprocess.Popen([binary("corral-agent"), f"--master=127.0.0.1:{port}", "--port=0",
                                   f"--work_dir={tmp_path / 'agent'}", "--cgroups=false",
                                   "--resources=cpus:2;mem:1024;disk:1024", "--registration_backoff=100ms", *tls],
                                  stdout=log, stderr=subprocess.STDOUT)]
    client = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    client.load_cert_chain(str(certs / "client.crt"), str(certs / "client.key"))

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=client, timeout=5):
                return True
        except OSError:
            return False
    wait_for(healthy)  # the master answers /health over TLS
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def test_a_framework_runs_a_task_over_mutual_tls(tls_master: str, certs: Path) -> None:
    rec = Recorder()
    launch_on_first_offer(rec, lambda o: [corral.task("over-tls", "echo hi", corral.resources(cpus=0.1, mem=16),
                                                      task_id="over-tls", offer=o)])
    with corral.SchedulerDriver(rec, corral.framework("tls-py"), tls_master, tls_ca_file=str(certs / "ca.crt"),
                                tls_cert_file=str(certs / "client.crt"), tls_key_file=str(certs / "client.key")):
        status = rec.wait_state("over-tls", v1.TASK_FINISHED)
        assert status.task_id.value == "over-tls"


def test_tls_can_come_from_the_environment(tls_master: str, certs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBPROCESS_SSL_ENABLED", "true")
    monkeypatch.setenv("LIBPROCESS_SSL_CA_FILE", str(certs / "ca.crt"))
    monkeypatch.setenv("LIBPROCESS_SSL_CERT_FILE", str(certs / "client.crt"))
    monkeypatch.setenv("LIBPROCESS_SSL_KEY_FILE", str(certs / "client.key"))
    rec = Recorder()
    with corral.SchedulerDriver(rec, corral.framework("tls-env"), tls_master):
        rec.wait(lambda: rec.offers_seen)


def test_bad_tls_arguments_are_refused_at_once(certs: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="tls_cert_file, tls_key_file: give both"):
        corral.SchedulerDriver(Recorder(), "bad", "127.0.0.1:1", tls_cert_file=str(certs / "client.crt"))
    with pytest.raises(ValueError, match="tls_ca_file: no such file"):
        corral.SchedulerDriver(Recorder(), "bad", "127.0.0.1:1", tls_ca_file=str(tmp_path / "missing.crt"))
    # A file that is no certificate: the driver says so when it starts.
    (tmp_path / "junk.crt").write_text("not a certificate\n")
    driver = corral.SchedulerDriver(Recorder(), "bad", "127.0.0.1:1", tls_ca_file=str(tmp_path / "junk.crt"))
    with pytest.raises(corral.CorralError, match="holds no PEM block"):
        driver.start()
    monkeypatch.setenv("LIBPROCESS_SSL_ENABLED", "maybe")
    driver = corral.SchedulerDriver(Recorder(), "bad", "127.0.0.1:1")
    with pytest.raises(corral.CorralError, match="LIBPROCESS_SSL_ENABLED='maybe' is not a boolean"):
        driver.start()

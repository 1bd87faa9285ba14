"""The Python SDK against a master that authenticates frameworks and
agents (--credentials, --authenticate_*): a principal and secret as
arguments or from the environment, and the master's refusal without them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from corral.testing import binary, wait_for

from conftest import Recorder, free_port


@pytest.fixture
def guarded_master(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "credentials").write_text(json.dumps({"credentials": [
        {"principal": "py", "secret": "py-secret"}, {"principal": "agent", "secret": "agent-secret"}]}))
    (tmp_path / "agent-credential").write_text("agent agent-secret\n")
    port = free_port()
    procs = []
    with open(tmp_path / "daemons.log", "wb") as log:
        procs.append(subprocess.Popen(
            [binary("corral-master"), f"--port={port}", f"--work_dir={tmp_path / 'master'}",
             f"--credentials={tmp_path / 'credentials'}", "--authenticate_frameworks", "--authenticate_agents",
             "--allocation_interval=100ms"], stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            [binary("corral-agent"), f"--master=127.0.0.1:{port}", "--port=0", f"--work_dir={tmp_path / 'agent'}",
             "--cgroups=false", "--resources=cpus:2;mem:1024;disk:1024", "--registration_backoff=100ms",
             f"--credential={tmp_path / 'agent-credential'}"], stdout=log, stderr=subprocess.STDOUT))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def test_a_framework_with_its_credential_gets_offers(guarded_master: str) -> None:
    rec = Recorder()
    with corral.SchedulerDriver(rec, corral.framework("authenticated-py"), guarded_master, principal="py",
                                secret="py-secret"):
        rec.wait(lambda: rec.offers_seen)  # from the agent that authenticated too
        assert rec.framework_id


def test_the_credential_can_come_from_the_environment(guarded_master: str, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    (tmp_path / "py-credential").write_text(json.dumps({"principal": "py", "secret": "py-secret"}))
    monkeypatch.setenv("CORRAL_CREDENTIAL", str(tmp_path / "py-credential"))
    rec = Recorder()
    with corral.SchedulerDriver(rec, corral.framework("from-env"), guarded_master):
        rec.wait(lambda: rec.framework_id)


def test_without_a_credential_the_master_refuses(guarded_master: str) -> None:
    credential: tuple[str, str] | None
    for credential in (None, ("py", "wrong")):
        rec = Recorder()
        principal, secret = credential if credential else (None, None)
        with corral.SchedulerDriver(rec, corral.framework("anonymous"), guarded_master, principal=principal,
                                    secret=secret) as driver:
            rec.wait(lambda: rec.errors)
            assert rec.errors[0].startswith("the master refused the subscription: ")
            assert rec.errors[0].endswith("wrong principal or secret" if credential else "no credentials were given")
            wait_for(lambda: driver.status == corral.DriverStatus.ABORTED, 10)


def test_a_secret_needs_a_principal() -> None:
    with pytest.raises(ValueError, match="principal, secret: give both"):
        corral.SchedulerDriver(Recorder(), corral.framework("x"), "127.0.0.1:1", secret="s")

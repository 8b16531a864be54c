"""`make run`'s program: serves health with the demo data, prints the claim triple, leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from tests.support import ROOT, Client, signed_up

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_local_stack_program_serves_and_stops_cleanly(tmp_path):
    port, payfip_port = _free_port(), _free_port()
    env = {**os.environ, "PORT": str(port), "PAYFIP_PORT": str(payfip_port)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local",
            "--state-file",
            str(tmp_path / "stack.json"),
            "--log-file",
            str(tmp_path / "run.log"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "stderr.log", "w"),  # noqa: SIM115 - closed with the process
        text=True,
    )
    try:
        banner = []
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}" in text, text + (tmp_path / "stderr.log").read_text()[-3000:]
        # The portal's address comes first, once the demo data is loaded (the functions log to a file).
        assert banner[0].strip() == f"Espace Famille : http://127.0.0.1:{port}/", banner[0]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
        for part in ("JOLIEVILLE", "2017-WI-00-9710", "K9710", f"http://127.0.0.1:{payfip_port}"):
            assert part in text
        emulator = httpx.get(f"http://127.0.0.1:{payfip_port}/__emulator__/config", timeout=30)
        assert emulator.json()["notifications"] == "deliver"
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30).status_code == 200
        assert (tmp_path / "stack.json").exists()
        # The demo data is there: the demo triple links a new account to M LACROIX's cantine invoices.
        parent = signed_up(f"http://127.0.0.1:{port}")
        claimed = parent.post(
            "/api/claims", json={"collectivite_id": "JOLIEVILLE", "reference": "2017-WI-00-9710", "key": "K9710"}
        )
        assert claimed.status_code == 201
        assert claimed.json()["invoices_found"] == 4
        assert isinstance(parent, Client)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the stack runs its functions and moto in processes of their own"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, (tmp_path / "stderr.log").read_text()[-3000:]
    assert not (tmp_path / "stack.json").exists()
    time.sleep(0.5)
    left = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {[c.cmdline() for c in left]}"


def test_nothing_is_served_until_the_demo_is_loaded(stack):
    # LocalStack.start() opens the gateway before importing the demo files, with `ready` down until they are in.
    client = Client(stack.url)
    stack.gateway.ready = False
    try:
        for path in ("/api/health", "/"):
            waiting = client.get(path)
            assert waiting.status_code == 503
            assert waiting.headers["retry-after"] == "1"
        assert client.get("/__local__/mails").status_code == 200
    finally:
        stack.gateway.ready = True
    assert client.get("/api/health").status_code == 200

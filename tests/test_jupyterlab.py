"""`make lab` for real, headless: JupyterLab listens on 127.0.0.1 only, lists the project's kernel
("Python 3 (z1)", the venv's), starts it through the REST API and runs one cell through the kernel's
websocket; then /api/shutdown stops the server. Any failure still terminates the server."""

import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import websocket  # websocket-client, a dependency of jupyter_server

from z1.explore import lab

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the LISTEN sockets on `port` (Linux /proc/net/tcp{,6}, hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def _execute(ws_url: str, token: str, code: str, timeout: float = 30) -> tuple[dict, str]:
    """Send one execute_request over the kernel's websocket (Jupyter's JSON message format) and
    collect its stdout until the kernel is idle again. Returns (execute_reply content, stdout)."""
    ws = websocket.create_connection(ws_url, timeout=timeout, header=[f"Authorization: token {token}"])
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        reply, stdout, idle = None, [], False
        deadline = time.monotonic() + timeout
        while not (reply and idle) and time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "execute_reply":
                reply = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        assert reply is not None and idle, f"no reply within {timeout} s"
        return reply, "".join(stdout)
    finally:
        ws.close()


@pytest.mark.skipif(shutil.which("make") is None, reason="`make lab` needs make")
def test_make_lab_serves_the_project_kernel_on_localhost(tmp_path):
    if not (REPO / ".venv" / "bin" / "jupyter").exists():
        pytest.skip("no .venv/bin/jupyter: run `make setup`")
    with lab.lab_server(REPO, workdir=tmp_path, repo=REPO, expose_app=False) as server:
        token, port, base, proc, log = server.token, server.port, server.url, server.proc, server.log
        api = requests.Session()
        api.headers["Authorization"] = f"token {token}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the info file can come a moment before the API answers
            try:
                if api.get(f"{base}/api/status", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "/api/status never answered"
            time.sleep(0.2)
        assert requests.get(f"{base}/api/kernelspecs", timeout=5).status_code == 403  # the token is required
        if os.path.exists("/proc/net/tcp"):
            assert _listening_addresses(port) == {"0100007F"}, "must listen on 127.0.0.1 only"

        specs = api.get(f"{base}/api/kernelspecs", timeout=10).json()
        assert specs["default"] == "python3"
        spec = specs["kernelspecs"]["python3"]["spec"]
        assert spec["display_name"] == "Python 3 (z1)"
        assert Path(spec["argv"][0]).parent.parent == Path(sys.prefix), spec["argv"]  # the venv's python

        kernel = api.post(f"{base}/api/kernels", json={"name": "python3"}, timeout=30)
        assert kernel.status_code == 201, kernel.text
        kernel_id = kernel.json()["id"]
        reply, stdout = _execute(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels", token,
                                 "import sys, z1\nprint(sys.prefix)\nprint(z1.__file__)\nprint(6 * 7)")
        assert reply["status"] == "ok", reply
        prefix, z1_file, answer = stdout.split()
        assert Path(prefix) == Path(sys.prefix)
        assert Path(z1_file).is_relative_to(REPO / "lib" / "z1") and answer == "42"
        assert api.delete(f"{base}/api/kernels/{kernel_id}", timeout=30).status_code == 204

        assert api.post(f"{base}/api/shutdown", timeout=10).status_code == 200
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert proc.returncode == 0

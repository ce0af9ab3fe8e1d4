"""``sourcegrid serve`` and ``sourcegrid web password | token | demo-logins``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.web.conftest import TEST_HASHER, free_port

SOURCEGRID = [sys.executable, "-m", "sourcegrid.cli.main"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from sourcegrid.sample.web_workspace import build_sample_workspace

    path = tmp_path_factory.mktemp("cli") / "ws"
    build_sample_workspace(path, password_hasher=TEST_HASHER).close()
    return path


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args: str, stdin: str | None = None) -> Result:
    """The command in this process (typer's runner), stdout and stderr apart."""
    from typer.testing import CliRunner

    from sourcegrid.cli.main import app

    result = CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})
    return Result(result.exit_code, result.stdout, result.stderr)


def test_password_token_and_demo_logins(workspace):
    done = run("web", "password", "viewer_a", "--workspace", str(workspace), "--stdin",
               stdin="a-new-secret-1\n")
    assert done.returncode == 0, done.stderr
    assert "password of viewer_a set" in done.stdout
    short = run("web", "password", "viewer_a", "--workspace", str(workspace), "--stdin",
                stdin="short\n")
    assert short.returncode != 0
    assert "password (hidden): expected at least 8 characters" in short.stderr
    unknown = run("web", "password", "nobody", "--workspace", str(workspace), "--stdin",
                  stdin="a-new-secret-1\n")
    assert unknown.returncode != 0 and "unknown person 'nobody'" in unknown.stderr
    token = run("web", "token", "city", "--name", "export", "--workspace", str(workspace))
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    assert secret.startswith("sg_") and len(secret) > 30
    demo = run("web", "demo-logins", "--workspace", str(workspace))
    assert demo.returncode == 0
    assert "given to 0 people" in demo.stdout  # every sample person has a password already

    from sourcegrid.store import Workspace
    from sourcegrid.web.auth import Credentials, hash_secret
    from sourcegrid.web.store import WebStore

    with Workspace(workspace) as ws:
        credentials = Credentials(WebStore(ws))
        assert credentials.verify("viewer_a", "a-new-secret-1")
        assert credentials.token_user(secret) == "city"
        rows = ws.con.con.execute("SELECT token_hash FROM web_tokens WHERE username = 'city'"
                                  ).fetchall()
        assert (hash_secret(secret),) in rows  # only the hash is kept


def test_serve_answers_on_loopback_and_stops_cleanly(workspace):
    port = free_port()
    process = subprocess.Popen([*SOURCEGRID, "serve", "--workspace", str(workspace), "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(process.stderr.read() if process.poll() is not None
                                         else "serve did not start") from None
                time.sleep(0.2)
        assert response.status_code == 200 and "登录" in response.text
        login = httpx.post(f"http://127.0.0.1:{port}/api/login",
                           json={"username": "viewer_a", "password": "grid-demo-2017"})
        assert login.status_code in (200, 401)  # the password may have been changed above
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert f"sourcegrid web on http://localhost:{port}/" in out
    assert "Traceback" not in err


def test_serve_on_a_missing_workspace_says_how_to_make_one(tmp_path):
    done = run("serve", "--workspace", str(tmp_path / "none"), "--port", str(free_port()))
    assert done.returncode != 0
    assert "no workspace at" in done.stderr and "sourcegrid init" in done.stderr


def test_serve_checks_its_escalation_options_before_starting(workspace):
    wrong = run("serve", "--workspace", str(workspace), "--deadlines", "lenient")
    assert wrong.returncode == 2
    assert "unknown deadline set 'lenient'; valid: sourcegrid_default, strict" in wrong.stderr
    negative = run("serve", "--workspace", str(workspace), "--escalation-interval", "-1")
    assert negative.returncode == 2 and "--escalation-interval" in negative.stderr

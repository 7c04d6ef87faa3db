"""`python app.py` as a user starts it: it listens on 127.0.0.1 unless told otherwise, takes its logins from
--auth or SELFLENGTHEN_AUTH and refuses requests without one, and warns loudly when it listens on every
address without a login."""

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from paths import ROOT
from servers import free_port, wait_until_up

pytestmark = pytest.mark.slow  # real servers, subprocesses or models


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at `port`, read from /proc/net/tcp (state 0A is LISTEN)."""
    found = set()
    for line in open("/proc/net/tcp", encoding="ascii").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.fixture
def start_app(tmp_path):
    processes = []

    def start(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, int]:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "app.py", "--db", str(tmp_path / "studio.db"), "--no-demo",
                                 "--port", str(port), *args], cwd=ROOT, env={**os.environ, **(env or {})},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        processes.append(proc)
        return proc, port

    yield start
    for proc in processes:
        proc.terminate()
        proc.wait(timeout=30)


def status_of(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_loopback_by_default_and_logins_from_the_environment_are_required(start_app):
    proc, port = start_app(env={"SELFLENGTHEN_AUTH": "alice:pw1,bob:pw2"})
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/", proc, "the dashboard", limit=90)
    assert listening_addresses(port) == {"127.0.0.1"}
    assert status_of(url + "/config") == 401  # no login, no app
    login = urllib.parse.urlencode({"username": "alice", "password": "wrong"}).encode()
    assert status_of(url + "/login", login) == 400
    login = urllib.parse.urlencode({"username": "bob", "password": "pw2"}).encode()
    assert status_of(url + "/login", login) == 200
    proc.terminate()
    assert "WARNING" not in proc.communicate(timeout=30)[1]


def test_every_address_without_a_login_warns_loudly(start_app):
    proc, port = start_app("--host", "0.0.0.0")
    wait_until_up(f"http://127.0.0.1:{port}/", proc, "the dashboard", limit=90)
    assert listening_addresses(port) == {"0.0.0.0"}
    proc.terminate()
    stderr = proc.communicate(timeout=30)[1]
    assert "!" * 100 in stderr
    assert "WARNING: the dashboard listens on 0.0.0.0 WITHOUT --auth" in stderr

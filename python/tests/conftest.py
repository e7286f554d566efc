"""What the Python tests share: the workspace's release binaries (built here if need be),
real veil-dealer and veil-server processes on loopback, and the veil-client command
beside the package, each with a state folder of its own."""

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "mnist-mlp.onnx"
SAMPLES = REPO / "models" / "samples"
BIN = REPO / "target" / "release"
# A process that has not said it listens by then is stuck.
START_DEADLINE = 60
# A command that takes longer is stuck.
RUN_DEADLINE = 120


def sample(i):
    """The path of shipped sample ``i`` (models/samples/README.md gives the labels)."""
    return SAMPLES / f"mnist-{i}.npy"


@pytest.fixture(scope="session")
def binaries():
    """The release binaries, built (or brought up to date) first."""
    subprocess.run(
        ["cargo", "build", "--release", "--locked",
         "-p", "veil-server", "-p", "veil-dealer", "-p", "veil-client"],
        cwd=REPO, check=True, timeout=1800,
    )
    return BIN


class Process:
    """A veil-server or veil-dealer, started on a free loopback port (``--listen
    127.0.0.1:0``), and the address it reports."""

    def __init__(self, args, home):
        env = dict(os.environ, VEIL_HOME=str(home))
        self.proc = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.lines = []
        self.addr = None
        listening = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line)
                found = re.search(r"listening on (\S+)", line)
                if found and self.addr is None:
                    self.addr = found.group(1)
                    listening.set()

        threading.Thread(target=read, daemon=True).start()
        if not listening.wait(START_DEADLINE):
            self.stop()
            raise RuntimeError(f"{args[0]} did not start: {''.join(self.lines)}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def dealer(binaries, tmp_path_factory):
    p = Process([str(binaries / "veil-dealer"), "--listen", "127.0.0.1:0"],
                tmp_path_factory.mktemp("dealer-home"))
    yield p.addr
    p.stop()


def start_server(binaries, home, dealer=None):
    """A veil-server hosting the MLP, with ``dealer`` or dealer-free."""
    args = [str(binaries / "veil-server"), "--listen", "127.0.0.1:0", "--model", str(MODEL)]
    if dealer:
        args += ["--dealer", dealer]
    return Process(args, home)


@pytest.fixture(scope="session")
def server(binaries, dealer, tmp_path_factory):
    """A server with the dealer; shared by the tests that leave it running."""
    p = start_server(binaries, tmp_path_factory.mktemp("server-home"), dealer)
    yield p.addr
    p.stop()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh client state folder, for the package and the command alike."""
    monkeypatch.setenv("VEIL_HOME", str(tmp_path))
    return tmp_path


def veil_client(binaries, home, *args):
    """Runs ``veil-client ARGS`` with ``VEIL_HOME=home``: (exit code, stdout, stderr)."""
    env = dict(os.environ, VEIL_HOME=str(home))
    run = subprocess.run([str(binaries / "veil-client"), *args], env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=RUN_DEADLINE)
    return run.returncode, run.stdout, run.stderr


def cli_infer(binaries, home, server, path, *args):
    """``veil-client infer --json`` on the file ``path``: its JSON answer."""
    code, out, err = veil_client(binaries, home, "infer", "--server", server,
                                 "--input", str(path), "--json", *args)
    assert code == 0, err
    return json.loads(out)


def cli_error(binaries, home, *args):
    """The exit code and message (without the program's prefix) of a failing command."""
    code, out, err = veil_client(binaries, home, *args)
    assert out == "", out
    lines = [l for l in err.splitlines() if l.startswith("veil-client: ")]
    assert lines, err
    return code, lines[-1].removeprefix("veil-client: ")


def wait_gone(proc, deadline=10):
    """Waits until ``proc`` has exited."""
    end = time.monotonic() + deadline
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)

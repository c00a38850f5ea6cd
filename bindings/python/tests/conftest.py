"""pytest fixtures: a real storesd on a temporary socket and data dir.

The daemon is started through the tree's notify-wait, which returns once
storesd has said READY=1 (never a sleep).  $BUILD names the build
directory (default: build), relative to the top of the tree.
"""
import itertools
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

TREE = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.path.join(TREE, os.environ.get("BUILD", "build"))

# The stores the tests use, shared with the Rust suite.
with open(os.path.join(TREE, "bindings", "tests.conf")) as _f:
    CONFIG = _f.read()


class Daemon:
    """storesd on DIR/sock with DIR/data, from a configuration text."""

    def __init__(self, config, prefix="storeclient-py."):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        # Another uid (the Forbidden test) must reach the socket.
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "sock")
        conf = os.path.join(self.dir, "storesd.conf")
        with open(conf, "w") as f:
            f.write(config)
        self.log = open(os.path.join(self.dir, "storesd.log"), "w")
        self.waiter = subprocess.Popen(
            [os.path.join(BUILD, "tests", "notify-wait"),
             os.path.join(self.dir, "notify"), "--",
             os.path.join(BUILD, "storesd"), "-s", self.socket,
             "-d", os.path.join(self.dir, "data"), "-c", conf],
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.waiter.stdout.readline()
        self.waiter.stdout.close()      # notify-wait closed its end too
        if not line.strip():
            self.waiter.wait()
            self.log.close()
            with open(os.path.join(self.dir, "storesd.log")) as f:
                raise RuntimeError("storesd did not start:\n" + f.read())
        self.pid = int(line)

    def stop(self):
        """SIGTERM; returns storesd's exit status."""
        if self.pid is None:
            return None
        os.kill(self.pid, signal.SIGTERM)
        self.pid = None
        status = self.waiter.wait()
        self.log.close()
        return status

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon():
    d = Daemon(CONFIG)
    yield d
    status = d.stop()
    shutil.rmtree(d.dir, ignore_errors=True)
    assert status == 0, "storesd exited %r" % status


@pytest.fixture
def make_daemon():
    """Starts extra daemons for one test (stopped after it)."""
    started = []

    def start(config):
        d = Daemon(config)
        started.append(d)
        return d
    yield start
    for d in started:
        d.cleanup()


@pytest.fixture
def sock(daemon, monkeypatch):
    monkeypatch.setenv("STORESD_SOCKET", daemon.socket)
    return daemon.socket


_repos = itertools.count()


@pytest.fixture
def repo():
    """A repo name no other test uses."""
    return "py/t%d-%d" % (os.getpid(), next(_repos))


@pytest.fixture
def c(sock):
    import storeclient
    with storeclient.connect(sock) as client:
        yield client

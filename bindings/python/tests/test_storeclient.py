"""storeclient against a real storesd: every call and every error path."""
import builtins
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

import storeclient
from storeclient import (BadKey, BadRepo, BadRequest, Busy, CondFailed,
                         Error, Exists, Forbidden, InvalidArgument,
                         MapFull, NotFound, Timeout, TooLarge, UnknownDb,
                         UnknownStore)
from conftest import TREE


# ------------------------------------------------------------- connecting

def test_connect_default_socket_and_context(sock):
    assert storeclient.default_socket() == sock
    with storeclient.connect() as c:
        assert c.socket == sock
        assert c.server_version.startswith("storesd ")
        assert not c.closed
        c.ping()
    assert c.closed
    with pytest.raises(storeclient.ConnectionError) as e:
        c.ping()
    assert e.value.code == "IO"
    c.close()   # twice is fine


def test_connect_options(sock):
    with storeclient.connect(sock, timeout=30, client_name="pytest") as c:
        c.ping()
    with pytest.raises(ValueError):
        storeclient.connect(sock, timeout=0)
    with pytest.raises(TypeError):
        storeclient.connect(sock, 5)    # timeout is keyword-only


def test_connect_nobody_there(tmp_path):
    with pytest.raises(storeclient.ConnectionError) as e:
        storeclient.connect(str(tmp_path / "nosock"))
    assert e.value.code == "CONNECT"
    assert e.value.number == 100
    assert e.value.index is None
    assert isinstance(e.value, builtins.ConnectionError)
    assert isinstance(e.value, Error)
    assert "is storesd running" in str(e.value)


def test_timeout_releases_the_gil(tmp_path):
    """A listener that never answers: connect waits in C with the GIL
    released (this thread accepts and reads the hello meanwhile), then
    gives up with Timeout."""
    path = str(tmp_path / "silent")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def connect():
        try:
            storeclient.connect(path, timeout=0.3)
        except Error as e:
            got["e"] = e
    t = threading.Thread(target=connect)
    t.start()
    conn, _ = srv.accept()
    assert conn.recv(64)        # the hello, sent while connect() waits
    t.join()
    conn.close()
    srv.close()
    assert isinstance(got["e"], Timeout)
    assert isinstance(got["e"], storeclient.ConnectionError)
    assert isinstance(got["e"], TimeoutError)
    assert got["e"].code == "TIMEOUT"


def test_busy_at_max_connections(make_daemon):
    d = make_daemon("[daemon]\nmax_connections = 1\n"
                    "[store refs]\nmap_size = 1MiB\n")
    with storeclient.connect(d.socket) as first:
        first.ping()
        with pytest.raises(Busy) as e:
            storeclient.connect(d.socket)
        assert e.value.code == "BUSY"
        assert e.value.number == 9


def test_daemon_gone(make_daemon, repo):
    d = make_daemon("[store refs]\nmap_size = 1MiB\n")
    c = storeclient.connect(d.socket)
    c.put("refs", b"k", b"v", repo=repo)
    assert d.stop() == 0
    with pytest.raises(storeclient.ConnectionError) as e:
        c.get("refs", b"k", repo=repo)
    assert e.value.code in ("IO", "PROTOCOL")
    # Dead for good, without touching the socket.
    with pytest.raises(storeclient.ConnectionError) as e:
        c.ping()
    assert e.value.code == "IO"
    c.close()


# ----------------------------------------------------------- single keys

def test_get_put_delete(c, repo):
    assert c.get("refs", b"main", repo=repo) is None
    c.put("refs", b"main", b"3f2a9c", repo=repo)
    assert c.get("refs", b"main", repo=repo) == b"3f2a9c"
    # str keys are UTF-8; values are any bytes-like object.
    c.put("refs", "héllo", bytearray(b"\x00\xff\x00"), repo=repo)
    assert c.get("refs", "héllo".encode(), repo=repo) == b"\x00\xff\x00"
    c.put("refs", memoryview(b"mv"), memoryview(b""), repo=repo)
    assert c.get("refs", b"mv", repo=repo) == b""
    assert c.delete("refs", b"main", repo=repo) is True
    assert c.delete("refs", b"main", repo=repo) is False
    assert c.get("refs", b"main", repo=repo) is None
    # An env that does not exist yet: absent, not an error.
    assert c.get("refs", b"x", repo=repo + "-none") is None
    assert c.delete("refs", b"x", repo=repo + "-none") is False


def test_default_repo_and_dbs(c, repo):
    c.put("refs", b"k-default", b"d")
    assert c.get("refs", b"k-default") == b"d"
    assert c.get("refs", b"k-default", repo="default") == b"d"
    c.put("refs", b"k", b"primary", repo=repo)
    c.put("refs", b"k", b"other", repo=repo, db="other")
    assert c.get("refs", b"k", repo=repo, db="refs") == b"primary"
    assert c.get("refs", b"k", repo=repo, db="other") == b"other"
    assert c.delete("refs", b"k-default") is True


def test_big_value(c, repo):
    v = os.urandom(512 * 1024)
    c.put("refs", b"big", v, repo=repo)
    assert c.get("refs", b"big", repo=repo) == v


def test_argument_types(c, repo):
    with pytest.raises(TypeError):
        c.put("refs", b"k", "a str value", repo=repo)
    with pytest.raises(TypeError):
        c.get("refs", 5, repo=repo)
    with pytest.raises(TypeError):
        c.get("refs", b"k", repo)           # repo is keyword-only
    with pytest.raises(ValueError):
        c.get("re\0fs", b"k")


def test_conditional_writes(c, repo):
    c.put("refs", b"r", b"v1", repo=repo, if_absent=True)
    with pytest.raises(CondFailed) as e:
        c.put("refs", b"r", b"v2", repo=repo, if_absent=True)
    assert e.value.code == "COND_FAILED" and e.value.number == 15
    c.put("refs", b"r", b"v2", repo=repo, if_equals=b"v1")
    with pytest.raises(CondFailed):
        c.put("refs", b"r", b"v3", repo=repo, if_equals=b"v1")
    with pytest.raises(CondFailed):     # absent: fails, not NotFound
        c.put("refs", b"none", b"v", repo=repo, if_equals=b"v")
    assert c.get("refs", b"r", repo=repo) == b"v2"
    with pytest.raises(CondFailed):
        c.delete("refs", b"r", repo=repo, if_equals=b"v1")
    assert c.delete("refs", b"r", repo=repo, if_equals=b"v2") is True
    assert c.get("refs", b"r", repo=repo) is None
    with pytest.raises(ValueError):
        c.put("refs", b"r", b"v", repo=repo, if_absent=True, if_equals=b"x")


def test_store_errors(c, repo):
    with pytest.raises(UnknownStore) as e:
        c.get("nosuchstore", b"k")
    assert e.value.code == "UNKNOWN_STORE"
    with pytest.raises(UnknownDb):
        c.put("refs", b"k", b"v", repo=repo, db="nosuchdb")
    with pytest.raises(BadRepo):
        c.get("refs", b"k", repo="../escape")
    with pytest.raises(BadKey) as e:
        c.get("refs", b"", repo=repo)
    assert e.value.code == "BAD_KEY"
    with pytest.raises(BadKey):
        c.put("refs", b"k" * 512, b"v", repo=repo)
    c.put("refs", b"k" * 511, b"v", repo=repo)
    with pytest.raises(TooLarge):
        c.put("refs", b"k", b"v" * (2 << 20), repo=repo)
    c.ping()    # the connection survives storesd's errors


def test_map_full(c, repo):
    chunk = os.urandom(64 * 1024)
    with pytest.raises(MapFull) as e:
        for i in range(64):     # 4 MiB into a 1 MiB map
            c.put("tiny", b"k%d" % i, chunk, repo=repo)
    assert e.value.code == "MAP_FULL"
    assert "map_size" in str(e.value)
    assert c.get("tiny", b"k0", repo=repo) == chunk


def run_as_nobody(fn):
    """Runs fn() in a child that changed to uid/gid 65534; returns what
    it printed (its exceptions' names)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = fn()
        except BaseException as e:  # noqa: B902 - report, never return
            out = "%s %s" % (type(e).__name__, e)
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
def test_forbidden(c, sock, repo):
    c.put("locked", b"k", b"v", repo=repo)      # root may always

    def probe():
        with storeclient.connect(sock) as nc:
            nc.get("refs", b"k", repo=repo)     # an open store: fine
            try:
                nc.get("locked", b"k", repo=repo)
            except Forbidden as e:
                return "%s %s %s" % (e.code, isinstance(e, PermissionError),
                                     isinstance(e, Error))
            return "allowed"
    assert run_as_nobody(probe) == "FORBIDDEN True True"


# -------------------------------------------------------------- batches

def test_batch_commits_on_exit(c, repo):
    c.put("refs", b"gone", b"x", repo=repo)
    with c.batch("refs", repo=repo) as b:
        b.put(b"a", b"1")
        b.put("b", b"2")
        b.delete(b"gone")
        b.put(b"o", b"other", db="other")
        b.put_if_absent(b"c", b"3")
        b.expect_absent(b"zz")
        b.expect(b"a", b"1")        # conditions see the batch's own ops
        assert len(b) == 7
        assert b.open
        assert c.get("refs", b"a", repo=repo) is None   # not yet
    assert not b.open
    assert c.mget("refs", [b"a", b"b", b"c", b"gone"], repo=repo) == \
        [b"1", b"2", b"3", None]
    assert c.get("refs", b"o", repo=repo, db="other") == b"other"


def test_batch_aborts_on_exception(c, repo):
    with pytest.raises(KeyError):
        with c.batch("refs", repo=repo) as b:
            b.put(b"a", b"1")
            raise KeyError("boom")
    assert not b.open
    assert c.get("refs", b"a", repo=repo) is None
    c.ping()


def test_batch_condition_fails(c, repo):
    c.put("refs", b"ref", b"old", repo=repo)
    with pytest.raises(CondFailed) as e:
        with c.batch("refs", repo=repo) as b:
            b.put(b"x", b"1")
            b.expect(b"ref", b"not-old")
    assert e.value.index == 1
    assert c.get("refs", b"x", repo=repo) is None
    with pytest.raises(CondFailed) as e:
        with c.batch("refs", repo=repo) as b:
            b.put_if_absent(b"ref", b"new")
    assert e.value.index == 0
    assert c.get("refs", b"ref", repo=repo) == b"old"


def test_batch_clear_commit_abort(c, repo):
    for i in range(5):
        c.put("refs", b"k%d" % i, b"v", repo=repo, db="other")
    b = c.batch("refs", repo=repo, db="other")
    b.clear()
    b.put(b"kept", b"1")
    b.commit()
    assert c.count("refs", repo=repo, db="other") == 1
    with pytest.raises(InvalidArgument):
        b.put(b"late", b"1")        # committed: no more ops
    with pytest.raises(InvalidArgument):
        b.commit()
    b.abort()                       # harmless
    b2 = c.batch("refs", repo=repo)
    b2.put(b"never", b"1")
    b2.abort()
    assert c.get("refs", b"never", repo=repo) is None
    b3 = c.batch("refs", repo=repo)
    b3.put(b"dropped", b"1")
    del b3                          # dropped uncommitted: aborted
    assert c.get("refs", b"dropped", repo=repo) is None


def test_batch_errors(c, repo):
    with pytest.raises(UnknownDb):
        with c.batch("refs", repo=repo) as b:
            b.put(b"k", b"v", db="nosuchdb")
    with pytest.raises(BadKey) as e:
        with c.batch("refs", repo=repo) as b:
            b.put(b"k", b"v")
            b.put(b"", b"v")
    assert e.value.index == 1
    with pytest.raises(UnknownStore):
        with c.batch("nosuchstore") as b:
            b.put(b"k", b"v")
    with pytest.raises(MapFull):
        with c.batch("tiny", repo=repo) as b:
            for i in range(40):
                b.put(b"k%d" % i, os.urandom(64 * 1024))
    assert c.count("tiny", repo=repo) == 0


def test_streamed_batch(c, repo, sock):
    """Several MiB: chunks go out as ops are added; meanwhile the
    connection refuses other calls, another connection sees nothing."""
    v = os.urandom(1024)
    with c.batch("refs", repo=repo) as b:
        for i in range(3000):
            b.put(b"s%05d" % i, v)
        with pytest.raises(InvalidArgument):
            c.get("refs", b"s00000", repo=repo)
        with storeclient.connect(sock) as other:
            assert other.count("refs", repo=repo) == 0
    assert c.count("refs", repo=repo) == 3000
    assert c.get("refs", b"s02999", repo=repo) == v


# --------------------------------------------------------- multi-key reads

def test_mget_missing_count(c, repo):
    keys = [b"k%03d" % i for i in range(100)]
    with c.batch("refs", repo=repo) as b:
        for k in keys[::2]:
            b.put(k, k + b"!")
    got = c.mget("refs", keys, repo=repo)
    assert got == [k + b"!" if i % 2 == 0 else None
                   for i, k in enumerate(keys)]
    assert c.mget("refs", [], repo=repo) == []
    assert c.mget("refs", iter([b"k000", "k001"]), repo=repo) == \
        [b"k000!", None]
    # missing returns the very objects passed, in their order.
    mixed = [b"k001", "k000", bytearray(b"k003"), b"k002"]
    miss = c.missing("refs", mixed, repo=repo)
    assert miss == [b"k001", bytearray(b"k003")]
    assert miss[1] is mixed[2]
    assert c.missing("refs", keys[::2], repo=repo) == []
    assert c.missing("refs", [], repo=repo) == []
    assert c.count("refs", repo=repo) == 50
    assert c.count("refs", repo=repo, db="other") == 0
    assert c.count("refs", repo=repo + "-none") == 0
    with pytest.raises(TypeError):
        c.mget("refs", b"k000", repo=repo)      # one key, not a list
    with pytest.raises(BadKey) as e:
        c.mget("refs", [b"ok", b""], repo=repo)
    assert e.value.index == 1
    with pytest.raises(BadKey) as e:
        c.missing("refs", [b"ok", b"ok2", b"x" * 600], repo=repo)
    assert e.value.index == 2
    with pytest.raises(UnknownStore):
        c.count("nosuchstore")


def test_missing_many(c, repo):
    keys = [os.urandom(32) for _ in range(20000)]   # spans several frames
    with c.batch("refs", repo=repo) as b:
        for k in keys[:100]:
            b.put(k, b"")
    assert c.missing("refs", keys, repo=repo) == keys[100:]


# ----------------------------------------------------------------- scans

def test_scan(c, repo):
    with c.batch("refs", repo=repo) as b:
        for i in range(10):
            b.put(b"a%d" % i, b"v%d" % i)
        b.put(b"b0", b"x")
        b.put(b"\xff\xff", b"y")
    everything = list(c.scan("refs", repo=repo))
    assert [k for k, _ in everything] == \
        [b"a%d" % i for i in range(10)] + [b"b0", b"\xff\xff"]
    assert everything[3] == (b"a3", b"v3")
    assert list(c.scan("refs", repo=repo, prefix=b"a", keys_only=True)) == \
        [b"a%d" % i for i in range(10)]
    assert list(c.scan("refs", repo=repo, start=b"a8", end=b"b1")) == \
        [(b"a8", b"v8"), (b"a9", b"v9"), (b"b0", b"x")]
    assert list(c.scan("refs", repo=repo, prefix="a", reverse=True,
                       limit=3, keys_only=True)) == [b"a9", b"a8", b"a7"]
    assert list(c.scan("refs", repo=repo, limit=0)) == []
    assert list(c.scan("refs", repo=repo, limit=1)) == [(b"a0", b"v0")]
    assert list(c.scan("refs", repo=repo, prefix=b"\xff")) == \
        [(b"\xff\xff", b"y")]
    assert list(c.scan("refs", repo=repo + "-none")) == []
    with pytest.raises(ValueError):
        c.scan("refs", repo=repo, limit=-1)


def test_scan_pages_lazily_and_connection_usable(c, repo):
    for i in range(10):
        c.put("refs", b"k%d" % i, b"v", repo=repo)
    s = c.scan("refs", repo=repo, keys_only=True)
    assert iter(s) is s
    assert next(s) == b"k0"
    # Between entries the connection takes other calls; a later page
    # (scan_page is 4) sees a write made meanwhile.
    c.put("refs", b"k95", b"v", repo=repo)
    rest = list(s)
    assert rest[-1] == b"k95"
    assert list(s) == []
    s2 = c.scan("refs", repo=repo)
    next(s2)
    s2.close()
    assert list(s2) == []


def test_scan_errors(c, repo):
    s = c.scan("nosuchstore")          # nothing sent yet
    with pytest.raises(UnknownStore):
        next(s)
    with pytest.raises(BadKey):
        list(c.scan("refs", repo=repo, prefix=b"p" * 600))
    with pytest.raises(UnknownDb):
        list(c.scan("refs", repo=repo, db="nosuchdb"))


# ---------------------------------------------- snapshot, fork, stats, live

def mdb_dump(path):
    return subprocess.run(["mdb_dump", "-n", "-p", "-a", path], check=True,
                          capture_output=True).stdout


def test_snapshot(c, repo, tmp_path):
    c.put("refs", b"snapkey", b"snapvalue", repo=repo)
    path = str(tmp_path / "copy.mdb")
    with open(path, "wb") as f:
        size = c.snapshot("refs", f, repo=repo)
    assert size == os.path.getsize(path) and size > 0
    assert b"snapkey" in mdb_dump(path)
    path2 = str(tmp_path / "compact.mdb")
    fd = os.open(path2, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert c.snapshot("refs", fd, repo=repo, compact=True) > 0
    finally:
        os.close(fd)
    assert b"snapvalue" in mdb_dump(path2)
    with open(path, "wb") as f:
        with pytest.raises(NotFound) as e:
            c.snapshot("refs", f, repo=repo + "-none")
    assert e.value.code == "NOT_FOUND"
    with open(path, "rb") as f:
        with pytest.raises(BadRequest):      # not open for writing
            c.snapshot("refs", f, repo=repo)
    with pytest.raises(TypeError):
        c.snapshot("refs", "a path", repo=repo)
    r, w = os.pipe()                        # nobody will read it
    os.close(r)
    try:
        with pytest.raises(storeclient.FdError) as e:
            c.snapshot("refs", w, repo=repo)
    finally:
        os.close(w)
    assert e.value.code == "FD_ERROR"
    assert c.get("refs", b"snapkey", repo=repo) == b"snapvalue"


def test_no_repo(c, repo):
    with pytest.raises(storeclient.NoRepo) as e:
        c.put("strict", b"k", b"v", repo=repo)
    assert e.value.code == "NO_REPO"
    assert c.get("strict", b"k", repo=repo) is None


def test_watch_error_classes():
    # The watch's end codes, each its own class.
    for name, code in (("Compacted", "COMPACTED"), ("Resync", "RESYNC"),
                       ("WatchOverflow", "WATCH_OVERFLOW")):
        cls = getattr(storeclient, name)
        assert issubclass(cls, storeclient.Error)
        assert name in storeclient.__all__


def test_no_room_class():
    # A compacting snapshot refused for want of room on the data disk.
    assert issubclass(storeclient.NoRoom, storeclient.Error)
    assert "NoRoom" in storeclient.__all__


# ----------------------------------------------------------------- watches

def take(w, n):
    """The next n events of w (each within the watch's timeout)."""
    out = []
    for ev in w:
        out.append(ev)
        if len(out) == n:
            break
    assert len(out) == n, "only %d of %d events came" % (len(out), n)
    return out


def test_watch_sees_writes_in_order(c, sock, repo):
    assert c.rev("hist", repo=repo) == 0
    c.put("hist", b"k/0", b"before", repo=repo)
    start = c.rev("hist", repo=repo)
    assert start == 1
    with c.watch("hist", prefix=b"k/", repo=repo, timeout=30) as w:
        assert w.rev == start and not w.closed
        # A writer on its own connection and thread, while this one
        # also writes (events queue on the watch meanwhile).
        def writer():
            with storeclient.connect(sock) as c2:
                for i in range(50):
                    c2.put("hist", b"k/w%02d" % i, b"v%d" % i, repo=repo)
        t = threading.Thread(target=writer)
        t.start()
        c.put("hist", b"other", b"not watched", repo=repo)
        with c.batch("hist", repo=repo) as b:
            b.put(b"k/b1", b"1")
            b.delete(b"k/0")
        t.join()
        evs = take(w, 52)
    assert w.closed
    revs = [e.rev for e in evs]
    assert revs == sorted(revs) and revs[0] > start
    # One revision per write, the batch's two ops sharing one.
    assert len(set(revs)) == 51
    writer_evs = [e for e in evs if e.key.startswith(b"k/w")]
    assert [e.key for e in writer_evs] == [b"k/w%02d" % i
                                           for i in range(50)]
    assert all(e.op == "put" and e.value == b"v%d" % i
               for i, e in enumerate(writer_evs))
    batch = [e for e in evs if not e.key.startswith(b"k/w")]
    assert [(e.op, e.key, e.value) for e in batch] == [
        ("put", b"k/b1", b"1"), ("del", b"k/0", None)]
    assert batch[0].rev == batch[1].rev
    ev = evs[0]
    assert isinstance(ev, storeclient.Event) and ev == (ev.rev, ev.op,
                                                        ev.key, ev.value)
    assert c.get("hist", b"k/b1", repo=repo) == b"1"   # still usable


def test_watch_key_from_rev_and_resume(c, repo):
    for i in range(6):
        c.put("hist", b"a" if i % 2 else b"b", b"%d" % i, repo=repo)
    # From revision 1: the history replayed, one key only.
    with c.watch("hist", b"a", repo=repo, from_rev=1, timeout=30) as w:
        first = take(w, 2)
    assert [(e.rev, e.value) for e in first] == [(2, b"1"), (4, b"3")]
    # Resume after the last seen: no gap, no duplicate.
    c.put("hist", b"a", b"6", repo=repo)
    with c.watch("hist", b"a", repo=repo, from_rev=first[-1].rev + 1,
                 timeout=30) as w:
        rest = take(w, 2)
    assert [(e.rev, e.value) for e in rest] == [(6, b"5"), (7, b"6")]


def test_watch_compacted(c, repo):
    c.put("refs", b"k", b"v", repo=repo)
    c.put("refs", b"k", b"w", repo=repo)
    cur = c.rev("refs", repo=repo)
    w = c.watch("refs", repo=repo, from_rev=1, timeout=30)
    with pytest.raises(storeclient.Compacted) as e:
        next(w)
    assert e.value.code == "COMPACTED"
    assert e.value.current == cur and e.value.oldest == cur + 1
    # Ended: the iteration is over, and closing is harmless.
    assert list(w) == []
    w.close()
    w.close()
    assert c.rev("refs", repo=repo) == cur


def test_watch_ends_early_and_times_out(c, repo):
    w = c.watch("hist", prefix=b"", repo=repo, timeout=0.2)
    assert list(w) == []            # nothing in time: stops, stays open
    assert not w.closed
    c.put("hist", b"x", b"1", repo=repo)
    c.put("hist", b"y", b"2", repo=repo)
    for ev in w:
        assert ev.key == b"x"
        break                        # ended early: the watch stays
    assert next(w).key == b"y"
    w.close()
    assert w.closed
    with pytest.raises(StopIteration):
        next(w)
    # A watch dropped unclosed is ended too; the connection goes on.
    w = c.watch("hist", repo=repo)
    del w
    c.ping()
    with c.watch("hist", repo=repo) as w:
        pass
    assert w.closed


def test_watch_errors(c, repo):
    with pytest.raises(ValueError):
        c.watch("hist", b"k", prefix=b"k", repo=repo)
    with pytest.raises(ValueError):
        c.watch("hist", repo=repo, from_rev=0)
    with pytest.raises(ValueError):
        c.watch("hist", repo=repo, timeout=-1)
    with pytest.raises(UnknownStore):
        c.watch("nope", repo=repo)
    with pytest.raises(BadKey):
        c.watch("hist", b"", repo=repo)
    with pytest.raises(UnknownStore):
        c.rev("nope", repo=repo)
    c.close()
    with pytest.raises(storeclient.ConnectionError):
        c.watch("hist", repo=repo)


def test_watch_daemon_gone(make_daemon, repo):
    d = make_daemon("[store hist]\nmap_size = 1MiB\nhistory = 64KiB\n")
    c = storeclient.connect(d.socket)
    w = c.watch("hist", repo=repo, timeout=30)
    assert d.stop() == 0
    with pytest.raises(storeclient.ConnectionError) as e:
        next(w)
    assert e.value.code in ("IO", "PROTOCOL")
    assert list(w) == []            # ended: once
    w.close()
    c.close()


def test_watch_in_a_thread_releases_the_gil(c, sock, repo):
    got = []

    def watcher():
        with storeclient.connect(sock) as c2:
            with c2.watch("hist", b"t", repo=repo, timeout=30) as w:
                ready.set()
                got.extend(take(w, 1))
    ready = threading.Event()
    t = threading.Thread(target=watcher)
    t.start()
    assert ready.wait(30)
    c.put("hist", b"t", b"go", repo=repo)
    t.join(60)
    assert not t.is_alive()
    assert [(e.op, e.key, e.value) for e in got] == [("put", b"t", b"go")]


def test_fork(c, repo):
    c.put("refs", b"k", b"v", repo=repo)
    c.fork("refs", repo, repo + "-fork")
    with pytest.raises(Exists) as e:     # made, not opened yet
        c.fork("refs", repo, repo + "-fork")
    assert e.value.code == "EXISTS"
    assert c.get("refs", b"k", repo=repo + "-fork") == b"v"
    c.put("refs", b"k", b"changed", repo=repo)
    assert c.get("refs", b"k", repo=repo + "-fork") == b"v"
    with pytest.raises(Busy) as e:       # open now: retry later
        c.fork("refs", repo, repo + "-fork")
    assert e.value.code == "BUSY"
    assert e.value.retry_ms == 1000      # storesd's hint for a fork
    with pytest.raises(NotFound) as e:
        c.fork("refs", repo + "-none", repo + "-fork2")
    assert e.value.retry_ms is None
    with pytest.raises(BadRequest):
        c.fork("refs", repo, repo)
    with pytest.raises(BadRepo):
        c.fork("refs", repo, "../x")


def test_stats_and_live(c, repo):
    c.put("refs", b"k", b"v", repo=repo)
    st = c.stats("refs", repo=repo)
    assert st["daemon"]["connections"] >= 1
    [env] = st["envs"]
    assert env["repo"] == repo and env["store"] == "refs"
    assert os.path.isdir(env["dir"])
    assert env["counters"]["map_size"] == 64 << 20
    assert env["dbs"]["refs"]["entries"] == 1
    assert env["dbs"]["other"]["entries"] == 0
    every = c.stats()
    assert any(e["repo"] == repo for e in every["envs"])
    assert all(e["repo"] == repo for e in c.stats(repo=repo)["envs"])
    with pytest.raises(NotFound):
        c.stats("refs", repo=repo + "-none")
    with pytest.raises(UnknownStore):
        c.stats("nosuchstore")
    live = c.live(repo=repo)
    assert [(e["repo"], e["store"]) for e in live] == [(repo, "refs")]
    assert live[0]["dir"] == env["dir"]
    assert live[0]["inflight"] >= 0 and live[0]["idle_ms"] >= 0
    assert any(e["repo"] == repo for e in c.live(store="refs"))
    with pytest.raises(BadRepo):
        c.live(repo="../x")


# ------------------------------------------------------------- pipelines

def test_pipeline(c, repo):
    p = c.pipeline()
    for i in range(100):
        p.put("refs", b"p%d" % i, b"v%d" % i, repo=repo)
    assert len(p) == 100
    with pytest.raises(InvalidArgument):    # replies pending
        c.get("refs", b"p7", repo=repo)
    assert p.execute() == [None] * 100
    assert len(p) == 0 and p.execute() == []
    # Requests in flight are not ordered against each other: the gets
    # and deletes go once the puts are acknowledged.
    p.get("refs", b"p7", repo=repo).get("refs", b"absent", repo=repo)
    p.delete("refs", b"p8", repo=repo).delete("refs", b"absent", repo=repo)
    assert p.execute() == [b"v7", None, True, False]
    assert c.get("refs", b"p8", repo=repo) is None


def test_pipeline_limit(sock, repo):
    with storeclient.connect(sock, max_inflight=2) as c:
        p = c.pipeline()
        p.put("refs", b"l1", b"v", repo=repo).put("refs", b"l2", b"v",
                                                   repo=repo)
        with pytest.raises(storeclient.Limit) as e:
            p.put("refs", b"l3", b"v", repo=repo)
        assert e.value.code == "LIMIT"
        assert p.execute() == [None, None]  # the connection goes on
        assert c.get("refs", b"l3", repo=repo) is None
    with pytest.raises(ValueError):
        storeclient.connect(sock, max_queued=-1)


def test_pipeline_errors(c, repo):
    p = c.pipeline()
    p.get("refs", b"ok", repo=repo)
    p.get("nosuchstore", b"k")
    p.put("tiny", b"x", b"v", repo=repo, db="nosuchdb")
    p.put("refs", b"after", b"v", repo=repo)
    got = p.execute(raise_on_error=False)
    assert got[0] is None
    assert isinstance(got[1], UnknownStore)
    assert isinstance(got[2], UnknownDb) and got[2].code == "UNKNOWN_DB"
    assert got[3] is None       # the others are unaffected
    p.get("nosuchstore", b"k").put("refs", b"after2", b"v", repo=repo)
    with pytest.raises(UnknownStore):
        p.execute()
    assert c.get("refs", b"after2", repo=repo) == b"v"
    with pytest.raises(TooLarge):   # found before sending: not queued
        p.put("refs", b"big", b"v" * (2 << 20), repo=repo)
    assert len(p) == 0
    with c.pipeline() as p2:        # leaving the block drops the replies
        p2.put("refs", b"dropped-reply", b"v", repo=repo)
    assert c.get("refs", b"dropped-reply", repo=repo) == b"v"


# --------------------------------------------------- closing and threads

def test_close_with_open_batch_and_scan(sock, repo):
    c = storeclient.connect(sock)
    c.put("refs", b"k", b"v", repo=repo)
    b = c.batch("refs", repo=repo)
    b.put(b"never", b"1")
    s = c.scan("refs", repo=repo)
    c.close()
    with pytest.raises(storeclient.ConnectionError):
        c.get("refs", b"k", repo=repo)
    with pytest.raises(storeclient.ConnectionError):
        b.commit()
    with pytest.raises(storeclient.ConnectionError):
        next(s)
    with pytest.raises(storeclient.ConnectionError):
        c.pipeline()
    del b, s
    with storeclient.connect(sock) as c2:
        assert c2.get("refs", b"never", repo=repo) is None


def test_threads_use_their_own_connections(sock, repo):
    errors = []

    def worker(n):
        try:
            with storeclient.connect(sock) as c:
                for i in range(200):
                    k = b"t%d-%d" % (n, i)
                    c.put("refs", k, k, repo=repo)
                    assert c.get("refs", k, repo=repo) == k
                with c.batch("refs", repo=repo) as b:
                    b.put(b"done%d" % n, b"1")
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with storeclient.connect(sock) as c:
        assert c.count("refs", repo=repo) == 8 * 201


def test_calls_release_the_gil_and_guard_the_connection(make_daemon,
                                                        repo):
    """storesd frozen (SIGSTOP): a get on another thread waits in C; this
    thread keeps running Python meanwhile (the GIL is free) and its call
    on the same connection is refused, not interleaved.  Once storesd
    runs again the get completes with the right value."""
    import signal
    d = make_daemon("[store refs]\nmap_size = 1MiB\n")
    c = storeclient.connect(d.socket)
    c.put("refs", b"k", b"v", repo=repo)
    got = {}
    entering = threading.Event()

    def reader():
        entering.set()
        got["v"] = c.get("refs", b"k", repo=repo)
    # With no forced switches, the reader gives up the GIL only inside
    # get(), once it holds the connection: that is when this thread runs
    # on after entering.wait().
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    os.kill(d.pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=reader)
        t.start()
        assert entering.wait(60)
        with pytest.raises(RuntimeError) as e:
            c.ping()
        assert "another thread" in str(e.value)
        assert t.is_alive()
    finally:
        sys.setswitchinterval(interval)
        os.kill(d.pid, signal.SIGCONT)
    t.join()
    assert got["v"] == b"v"
    c.ping()
    c.close()


def test_a_shared_connection_is_refused_not_corrupted(sock, repo):
    """Two threads hammering one connection: every call either works or
    raises RuntimeError (never a crash or a wrong answer)."""
    c = storeclient.connect(sock)
    c.put("refs", b"k", b"v", repo=repo)
    results = {"ok": 0, "refused": 0, "wrong": 0}
    lock = threading.Lock()

    def hammer():
        for _ in range(300):
            try:
                r = c.get("refs", b"k", repo=repo)
                key = "ok" if r == b"v" else "wrong"
            except RuntimeError:
                key = "refused"
            with lock:
                results[key] += 1
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["wrong"] == 0
    assert results["ok"] + results["refused"] == 1200
    c.ping()
    c.close()


# ---------------------------------------------------------------- README

def readme_python_example():
    with open(os.path.join(TREE, "README.md")) as f:
        text = f.read()
    section = text.split("\n### Python\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example(sock, capsys):
    exec(compile(readme_python_example(), "README.md", "exec"), {})
    assert capsys.readouterr().out == "b'3f2a9c'\nok\n"


# ----------------------------------------------------------------- stubs

def test_stubs_match_the_module():
    """Every public name of the module and of its classes is in the .pyi
    stubs shipped with it, and nothing more."""
    import ast
    stub = os.path.join(os.path.dirname(storeclient.__file__),
                        "__init__.pyi")
    with open(stub) as f:
        tree = ast.parse(f.read())
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            classes[node.name] = {
                n.name for n in node.body
                if isinstance(n, ast.FunctionDef)} | {
                n.target.id for n in node.body
                if isinstance(n, ast.AnnAssign)}
        elif isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
    public = {n for n in dir(storeclient) if not n.startswith("_")} - \
        {"annotations"}
    assert public - top == set()
    for name in ("Client", "Batch", "Scan", "Pipeline"):
        cls = getattr(storeclient, name)
        have = {n for n in vars(cls) if not n.startswith("_")}
        stubbed = {n for n in classes[name] if not n.startswith("_")}
        assert have == stubbed, name
    for name in ("NotFound", "CondFailed", "MapFull", "Busy", "Forbidden",
                 "ConnectionError", "Timeout"):
        assert name in classes


# ----------------------------------------------------------- no leaks

def test_no_reference_leaks(c, repo):
    """Every call, its results and its exceptions, 300 times over: the
    Python heap must not grow with the count (a reference leaked per call
    would keep each value or exception alive)."""
    import gc
    import tracemalloc

    def every_call():
        c.put("refs", b"k", b"v" * 100, repo=repo)
        c.get("refs", b"k", repo=repo)
        c.get("refs", b"absent", repo=repo)
        c.mget("refs", [b"k", b"absent"], repo=repo)
        c.missing("refs", [b"k", "absent"], repo=repo)
        c.count("refs", repo=repo)
        list(c.scan("refs", repo=repo))
        with c.batch("refs", repo=repo) as b:
            b.put(b"b", b"1")
        p = c.pipeline()
        p.get("refs", b"k", repo=repo).delete("refs", b"none", repo=repo)
        p.execute()
        c.stats("refs", repo=repo)
        c.live(repo=repo)
        for bad in (lambda: c.get("nosuchstore", b"k"),
                    lambda: c.put("refs", b"k", b"x", repo=repo,
                                  if_absent=True),
                    lambda: c.put("refs", b"", b"x", repo=repo)):
            try:
                bad()
            except Error:
                pass

    # Warm up while tracing: one-off growth (interned names, caches)
    # happens here, not in the window measured.
    tracemalloc.start()
    for _ in range(100):
        every_call()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(300):
        every_call()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # One leaked 100-byte value or exception per call would be 30 KiB+.
    assert grown < 16 * 1024, grown

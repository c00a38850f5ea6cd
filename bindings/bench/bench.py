#!/usr/bin/env python3
"""The bindings' benchmark: gets per second over one connection, one at a
time and pipelined, through the C library, the Python and Rust bindings,
and redis-py with hiredis against Redis, so each binding's overhead is
known.

    BUILD=build python3 bindings/bench/bench.py [--seconds S] [--depth D]
        [--rounds N]

Run by `make bench-bindings`, which builds what it needs.  One storesd
and one redis-server are started on private sockets in a temporary
directory (both in memory as far as gets go: the keys fit in the page
cache, Redis persists nothing) and stopped at the end.  Every client
gets the same keys in the same order.  Prints a Markdown table.
"""
import argparse
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

TREE = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(TREE, os.environ.get("BUILD", "build"))
sys.path.insert(0, os.path.join(BUILD, "python"))

import storeclient  # noqa: E402

NKEYS = 10000
VALUE = b"v" * 100
CONFIG = "[store bench]\nmap_size = 256MiB\nsync = none\n"


def start_storesd(d):
    conf = os.path.join(d, "storesd.conf")
    with open(conf, "w") as f:
        f.write(CONFIG)
    sock = os.path.join(d, "storesd.sock")
    log = open(os.path.join(d, "storesd.log"), "w")
    p = subprocess.Popen(
        [os.path.join(BUILD, "tests", "notify-wait"),
         os.path.join(d, "notify"), "--", os.path.join(BUILD, "storesd"),
         "-s", sock, "-d", os.path.join(d, "data"), "-c", conf],
        stdout=subprocess.PIPE, stderr=log)
    if not p.stdout.readline().strip():
        sys.exit("bench: storesd did not start; see its log")
    return p, sock


def start_redis(d):
    import redis
    sock = os.path.join(d, "redis.sock")
    p = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", sock,
         "--unixsocketperm", "700", "--dir", d, "--save", "",
         "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL)
    # Not a test: wait for its socket, bounded, then give up.
    for _ in range(500):
        try:
            r = redis.Redis(unix_socket_path=sock)
            r.ping()
            return p, r
        except (redis.exceptions.ConnectionError, FileNotFoundError):
            time.sleep(0.01)
    p.terminate()
    sys.exit("bench: redis-server did not start")


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def keys():
    return [b"key%06d" % i for i in range(NKEYS)]


def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def timed_gets(get, new_pipeline, seconds, depth):
    """Gets the keys in turn for seconds, through get(key) one at a time,
    or depth at a time through new_pipeline() -> (pipeline, its get).
    Returns gets/s and this process's CPU seconds per get."""
    ks = keys()
    n = 0
    c0 = cpu(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        if depth == 1:
            assert get(ks[n % NKEYS]) is not None
            n += 1
            continue
        p, pget = new_pipeline()
        for i in range(depth):
            pget(ks[(n + i) % NKEYS])
        assert None not in p.execute()
        n += depth
    return (n / (time.monotonic() - t0),
            (cpu(resource.RUSAGE_SELF) - c0) / n)


def python_gets(sock, seconds, depth):
    def new_pipeline():
        p = c.pipeline()
        return p, functools.partial(p.get, "bench")
    with storeclient.connect(sock) as c:
        return timed_gets(functools.partial(c.get, "bench"), new_pipeline,
                          seconds, depth)


def redis_gets(r, seconds, depth):
    def new_pipeline():
        p = r.pipeline(transaction=False)
        return p, p.get
    return timed_gets(r.get, new_pipeline, seconds, depth)


def program_gets(argv, sock, seconds, depth):
    """Runs a client program; its gets/s and CPU seconds per get."""
    c0 = cpu(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv + [sock, "bench", str(NKEYS), str(seconds),
                                 str(depth)], check=True,
                         capture_output=True, text=True).stdout
    rate, n = out.split()
    return float(rate), (cpu(resource.RUSAGE_CHILDREN) - c0) / int(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="bench-bindings.", dir="/tmp")
    procs = []
    try:
        sd, sock = start_storesd(d)
        procs.append(sd)
        rp, r = start_redis(d)
        procs.append(rp)
        with storeclient.connect(sock) as c, c.batch("bench") as b:
            for k in keys():
                b.put(k, VALUE)
        r.mset({k: VALUE for k in keys()})
        import redis
        hiredis = redis.utils.HIREDIS_AVAILABLE
        c_prog = [os.path.join(BUILD, "bench", "get_c")]
        rust_prog = [os.path.join(BUILD, "rust", "release", "examples",
                                  "bench_get")]
        rows = [
            ("C libstoreclient", "storesd",
             lambda dp: program_gets(c_prog, sock, a.seconds, dp)),
            ("Python storeclient", "storesd",
             lambda dp: python_gets(sock, a.seconds, dp)),
            ("Rust storeclient", "storesd",
             lambda dp: program_gets(rust_prog, sock, a.seconds, dp)),
            ("redis-py %s%s" % (redis.__version__,
                                " + hiredis" if hiredis else
                                " (no hiredis!)"), "Redis",
             lambda dp: redis_gets(r, a.seconds, dp)),
        ]
        # Rounds interleave the clients, so that a slow spell of a shared
        # machine hits them alike; each figure is the median round.
        runs = {(name, dp): [] for name, _, _ in rows
                for dp in (1, a.depth)}
        for _ in range(a.rounds):
            for name, _, fn in rows:
                for dp in (1, a.depth):
                    runs[name, dp].append(fn(dp))
        got = {name: [median([r[i] for r in runs[name, dp]])
                      for dp in (1, a.depth) for i in (0, 1)]
               for name, _, _ in rows}
        base = got["C libstoreclient"]
        print("%d rounds of %g s each, median round.  CPU: the client "
              "process's user+system time per get.\n" % (a.rounds,
                                                         a.seconds))
        print("| client | server | gets/s, 1 connection | vs C | CPU µs/get "
              "| gets/s, %d pipelined | vs C | CPU µs/get |" % a.depth)
        print("|---|---|---|---|---|---|---|---|")
        for name, server, _ in rows:
            one, cpu1, piped, cpup = got[name]
            print("| %s | %s | %.0f | %.2f | %.1f | %.0f | %.2f | %.1f |" % (
                name, server, one, one / base[0], cpu1 * 1e6, piped,
                piped / base[2], cpup * 1e6))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

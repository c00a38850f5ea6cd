"""storeclient: the Python client of storesd.

    import storeclient
    with storeclient.connect() as c:
        c.put("refs", b"main", b"3f2a9c", repo="ox/mnist")
        c.get("refs", b"main", repo="ox/mnist")      # b"3f2a9c", or None

Every call goes through libstoreclient (the C library), with the GIL
released while it waits on storesd.  A Client is used by one thread at a
time: open one connection per thread.  Failures raise storeclient.Error
subclasses whose .code is the stable code name ("COND_FAILED").

c.watch(store, prefix=b"...") iterates the changes as Event(rev, op,
key, value) named tuples (op "put" or "del"), each once, in order.
"""
from ._storeclient import (  # noqa: F401
    Batch, BadKey, BadRepo, BadRequest, BadVersion, Busy, Client,
    CondFailed, ConnectionError, Corrupt, DiskError, Error, Event, Exists,
    FdError, Forbidden, NoRepo, Compacted, Resync, WatchOverflow, NoRoom,
    InternalError, InvalidArgument, Limit, MapFull, NotFound, OutOfMemory,
    Pipeline, Scan, Timeout, TooLarge, UnknownDb, UnknownStore, Watch,
    LIB_VERSION_MAJOR, LIB_VERSION_MINOR, connect, default_socket)

__all__ = [
    "Batch", "BadKey", "BadRepo", "BadRequest", "BadVersion", "Busy",
    "Client", "CondFailed", "ConnectionError", "Corrupt", "DiskError",
    "Error", "Event",
    "Exists", "FdError", "Forbidden", "NoRepo", "Compacted", "Resync",
    "WatchOverflow", "NoRoom", "InternalError",
    "InvalidArgument", "Limit",
    "MapFull",
    "NotFound", "OutOfMemory", "Pipeline", "Scan", "Timeout", "TooLarge",
    "UnknownDb", "UnknownStore", "Watch", "connect", "default_socket",
]

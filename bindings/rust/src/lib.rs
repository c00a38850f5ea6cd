//! storeclient: the Rust client of storesd, over libstoreclient.
//!
//! storesd owns every LMDB env on a host and serves them over a Unix
//! socket; this crate reaches it through the C library (the wire format
//! is written once, in C), with no dependency beyond `std`.
//!
//! ```no_run
//! use storeclient::{Client, Target};
//!
//! let c = Client::connect(None)?;                 // the default socket
//! let refs = Target::new("refs").repo("ox/mnist");
//! c.put(refs, b"main", b"3f2a9c")?;
//! assert_eq!(c.get(refs, b"main")?, Some(b"3f2a9c".to_vec()));
//! # Ok::<(), storeclient::Error>(())
//! ```
//!
//! Threads: a [`Client`] is `Send` but not `Sync`, as the C library's
//! rule says (a connection is used by one thread at a time): move it to
//! another thread, or open one connection per thread.
//!
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<storeclient::Client>();
//! ```
//!
//! Errors: every failure is an [`Error`] whose [`Error::code`] is one of
//! the stable [`Code`]s.  A missing key is not an error for
//! [`Client::get`] (it returns `None`).
#![deny(missing_docs)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::time::Duration;

mod ffi;

// ------------------------------------------------------------------ errors

/// The stable code of a failure: the names and numbers storesd and
/// libstoreclient use (`sc_errname()`), never renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `NOT_FOUND`: no such key, db or env.
    NotFound,
    /// `BAD_REQUEST`: storesd did not accept the request.
    BadRequest,
    /// `UNKNOWN_STORE`: no store of that name is configured.
    UnknownStore,
    /// `UNKNOWN_DB`: the store has no db of that name.
    UnknownDb,
    /// `BAD_REPO`: an invalid repo name, or a repo for a fixed-path store.
    BadRepo,
    /// `BAD_KEY`: a key that is empty or over 511 bytes.
    BadKey,
    /// `MAP_FULL`: the store's map is full; raise its `map_size`.
    MapFull,
    /// `TOO_LARGE`: the request is over storesd's `max_frame` or `max_batch`.
    TooLarge,
    /// `BUSY`: storesd cannot take this now; retry.
    Busy,
    /// `FORBIDDEN`: the store's readers or writers leave this user out.
    Forbidden,
    /// `INTERNAL`: storesd failed; see its log.
    Internal,
    /// `BAD_VERSION`: storesd does not speak this library's protocol.
    BadVersion,
    /// `EXISTS`: a fork's destination exists.
    Exists,
    /// `IO_ERROR`: storesd's disk failed (full, read-only, EIO).
    IoError,
    /// `COND_FAILED`: a write's precondition did not hold; nothing changed.
    CondFailed,
    /// `FD_ERROR`: the descriptor passed with a snapshot failed (its
    /// reader went away, its file system is full, it stopped taking
    /// bytes within storesd's `snapshot_timeout`, or it took longer than
    /// `snapshot_max_time`).
    FdError,
    /// `CORRUPT`: the env's `data.mdb` is damaged; storesd refuses that env
    /// until it is restored from a snapshot.
    Corrupt,
    /// `NO_REPO`: the store has `create = explicit` and the repository
    /// has no env for it; create it first.
    NoRepo,
    /// `COMPACTED`: a watch asked for a revision no longer in history.
    Compacted,
    /// `RESYNC`: another program wrote the env under a watch.
    Resync,
    /// `WATCH_OVERFLOW`: a watch on a store without history fell behind.
    WatchOverflow,
    /// `NO_ROOM`: a compacting snapshot would leave the data disk less
    /// free than `snapshot_reserve`; take a plain one, or free space.
    NoRoom,
    /// `CONNECT`: storesd cannot be reached.
    Connect,
    /// `IO`: the connection broke or is dead (closed by a failure before).
    Io,
    /// `PROTOCOL`: a reply the library cannot read; the connection is dead.
    Protocol,
    /// `NOMEM`: out of memory.
    NoMem,
    /// `INVALID`: a call the library refused: a bad argument (a name with
    /// a NUL byte), or a call made while pipelined replies or a batch's
    /// chunks are pending on the connection.
    Invalid,
    /// `TIMEOUT`: no reply within the connection's timeout; it is dead.
    Timeout,
    /// `LIMIT`: the connection's `max_inflight` or `max_queued` is
    /// reached; collect replies, then retry (the connection stays usable).
    Limit,
    /// `CLOSED`: the connection was freed before the reply came (the
    /// asynchronous API's; never from this crate's calls).
    Closed,
    /// A code this crate does not know (a newer library).
    Other(i32),
}

/// Each code and its number, once.
const CODES: &[(Code, i32)] = &[
    (Code::NotFound, 1),
    (Code::BadRequest, 2),
    (Code::UnknownStore, 3),
    (Code::UnknownDb, 4),
    (Code::BadRepo, 5),
    (Code::BadKey, 6),
    (Code::MapFull, 7),
    (Code::TooLarge, 8),
    (Code::Busy, 9),
    (Code::Forbidden, 10),
    (Code::Internal, 11),
    (Code::BadVersion, 12),
    (Code::Exists, 13),
    (Code::IoError, 14),
    (Code::CondFailed, 15),
    (Code::FdError, 16),
    (Code::Corrupt, 17),
    (Code::NoRepo, 18),
    (Code::Compacted, 19),
    (Code::Resync, 20),
    (Code::WatchOverflow, 21),
    (Code::NoRoom, 22),
    (Code::Connect, 100),
    (Code::Io, 101),
    (Code::Protocol, 102),
    (Code::NoMem, 103),
    (Code::Invalid, 104),
    (Code::Timeout, 105),
    (Code::Limit, 106),
    (Code::Closed, 107),
];

impl Code {
    /// The code of a library number.
    pub fn from_raw(n: i32) -> Code {
        CODES
            .iter()
            .find(|(_, raw)| *raw == n)
            .map(|(code, _)| *code)
            .unwrap_or(Code::Other(n))
    }

    /// Its number, as on the wire (1-99) or in the library (100 up).
    pub fn raw(self) -> i32 {
        match self {
            Code::Other(n) => n,
            code => CODES.iter().find(|(c, _)| *c == code).unwrap().1,
        }
    }

    /// Its stable name, e.g. `"COND_FAILED"` (`"UNKNOWN"` for [`Code::Other`]).
    pub fn name(self) -> &'static str {
        // The C library's table: the names are written once.
        unsafe { CStr::from_ptr(ffi::sc_errname(self.raw())) }
            .to_str()
            .unwrap_or("UNKNOWN")
    }

    /// Whether the connection is dead after a failure with this code
    /// (connect again).
    pub fn is_connection(self) -> bool {
        matches!(
            self,
            Code::Connect | Code::Io | Code::Protocol | Code::Timeout
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure reported by storesd or libstoreclient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
    index: Option<usize>,
    retry_ms: Option<u64>,
}

impl Error {
    fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            index: None,
            retry_ms: None,
        }
    }

    /// The last failure recorded on c.
    fn last(c: *const ffi::sc_conn) -> Error {
        unsafe {
            let index = ffi::sc_errindex(c);
            let retry = ffi::sc_errretry_ms(c);
            Error {
                code: Code::from_raw(ffi::sc_errcode(c)),
                message: CStr::from_ptr(ffi::sc_errmsg(c))
                    .to_string_lossy()
                    .into_owned(),
                index: if index == ffi::SC_NOINDEX {
                    None
                } else {
                    Some(index)
                },
                retry_ms: u64::try_from(retry).ok(),
            }
        }
    }

    /// The stable code, to branch on.
    pub fn code(&self) -> Code {
        self.code
    }

    /// What went wrong and what to do, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The element at fault (a batch op counted from 0 in the order
    /// added, or a key of `mget`/`missing`), when there is one.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// For [`Code::Busy`]: how long storesd suggests waiting before
    /// retrying, in milliseconds, when it says (a hint: the retry may be
    /// busy again).
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// The result of every call.
pub type Result<T> = std::result::Result<T, Error>;

// ------------------------------------------------------------ arguments

/// Where a call reads or writes: a store, and optionally a repo and a db.
///
/// `Target::new("refs")` (or just `"refs"`) is the store's primary db in
/// the repo `"default"`; a store with a fixed `path` takes no repo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    store: &'a str,
    repo: Option<&'a str>,
    db: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// The primary db of store, in the default repo.
    pub fn new(store: &'a str) -> Target<'a> {
        Target {
            store,
            repo: None,
            db: None,
        }
    }

    /// The same in repo (e.g. `"ox/mnist"`).
    pub fn repo(self, repo: &'a str) -> Target<'a> {
        Target {
            repo: Some(repo),
            ..self
        }
    }

    /// The same in the named db of the store.
    pub fn db(self, db: &'a str) -> Target<'a> {
        Target {
            db: Some(db),
            ..self
        }
    }
}

impl<'a> From<&'a str> for Target<'a> {
    fn from(store: &'a str) -> Target<'a> {
        Target::new(store)
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(Code::Invalid, format!("{:?} has a NUL byte", s)))
}

fn opt_cstring(s: Option<&str>) -> Result<Option<CString>> {
    s.map(cstring).transpose()
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// A target's names as C strings, alive for one call.
struct Names {
    store: CString,
    repo: Option<CString>,
    db: Option<CString>,
}

impl Names {
    fn of(t: Target<'_>) -> Result<Names> {
        Ok(Names {
            store: cstring(t.store)?,
            repo: opt_cstring(t.repo)?,
            db: opt_cstring(t.db)?,
        })
    }
    fn store(&self) -> *const c_char {
        self.store.as_ptr()
    }
    fn repo(&self) -> *const c_char {
        opt_ptr(&self.repo)
    }
    fn db(&self) -> *const c_char {
        opt_ptr(&self.db)
    }
}

fn bytes_ptr(b: &[u8]) -> *const c_void {
    b.as_ptr() as *const c_void
}

/// Copies n bytes at p (NULL with n 0 is empty).
unsafe fn copy_out(p: *const c_void, n: usize) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    std::slice::from_raw_parts(p as *const u8, n).to_vec()
}

unsafe fn opt_string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

// ------------------------------------------------------------- connecting

/// How to connect: the socket, a timeout, a name for storesd's log.
#[derive(Clone, Debug, Default)]
pub struct Options {
    path: Option<PathBuf>,
    timeout: Option<Duration>,
    client_name: Option<String>,
    max_inflight: usize,
    max_queued: usize,
}

impl Options {
    /// The defaults: the default socket, no timeout, no name.
    pub fn new() -> Options {
        Options::default()
    }

    /// The socket to connect to (default: [`default_socket`]).
    pub fn socket(mut self, path: impl AsRef<Path>) -> Options {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    /// How long one call may wait for storesd (at least 1 ms); past it
    /// the call fails with [`Code::Timeout`] and the connection is dead.
    pub fn timeout(mut self, t: Duration) -> Options {
        self.timeout = Some(t);
        self
    }

    /// The name storesd's debug log shows for this connection.
    pub fn client_name(mut self, name: &str) -> Options {
        self.client_name = Some(name.to_string());
        self
    }

    /// At most n pipelined requests awaiting replies (0, the default: no
    /// bound); past it [`Pipeline`]'s adders fail with [`Code::Limit`].
    pub fn max_inflight(mut self, n: usize) -> Options {
        self.max_inflight = n;
        self
    }

    /// At most this many bytes of requests not yet sent (0, the default:
    /// no bound); past it [`Pipeline`]'s adders fail with [`Code::Limit`].
    pub fn max_queued(mut self, bytes: usize) -> Options {
        self.max_queued = bytes;
        self
    }
}

/// Connects with o.  The only use of `sc_options`, so that a change of
/// how options reach the library is made here alone.
fn conn_open(o: &Options) -> Result<NonNull<ffi::sc_conn>> {
    let path =
        match &o.path {
            Some(p) => Some(CString::new(p.as_os_str().as_bytes()).map_err(|_| {
                Error::new(Code::Invalid, format!("{} has a NUL byte", p.display()))
            })?),
            None => None,
        };
    let name = opt_cstring(o.client_name.as_deref())?;
    let timeout_ms = match o.timeout {
        None => 0,
        Some(t) => t.as_millis().clamp(1, c_int::MAX as u128) as c_int,
    };
    let nomem = || Error::new(Code::NoMem, "out of memory");
    let c = unsafe {
        let opts = ffi::sc_options_new();
        if opts.is_null() {
            return Err(nomem());
        }
        let ok = ffi::sc_options_set_path(opts, opt_ptr(&path)) == 0
            && ffi::sc_options_set_timeout(opts, timeout_ms) == 0
            && ffi::sc_options_set_client_name(opts, opt_ptr(&name)) == 0
            && ffi::sc_options_set_max_inflight(opts, o.max_inflight) == 0
            && ffi::sc_options_set_max_queued(opts, o.max_queued) == 0;
        let c = if ok {
            ffi::sc_connect_opts(opts)
        } else {
            ptr::null_mut()
        };
        ffi::sc_options_free(opts);
        NonNull::new(c).ok_or_else(nomem)?
    };
    if unsafe { ffi::sc_errcode(c.as_ptr()) } != 0 {
        let e = Error::last(c.as_ptr());
        unsafe { ffi::sc_close(c.as_ptr()) };
        return Err(e);
    }
    Ok(c)
}

/// The socket path a client connects to when given none:
/// `$STORESD_SOCKET`, else the per-user default (storesd's own rule);
/// empty if that path is over 4 KiB.
pub fn default_socket() -> PathBuf {
    let mut buf = vec![0u8; 4096];
    let rc = unsafe { ffi::sc_default_socket(buf.as_mut_ptr() as *mut c_char, buf.len()) };
    if rc == -1 {
        return PathBuf::new();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    PathBuf::from(OsStr::from_bytes(&buf[..n]))
}

// ---------------------------------------------------------------- Client

/// A connection to storesd.
///
/// `Send`, not `Sync`: one thread uses it at a time.  Every call blocks
/// until storesd answers.  After a connection failure
/// ([`Code::is_connection`]) the client is dead: every later call fails
/// with [`Code::Io`]; connect again.  Dropping it closes the connection.
pub struct Client {
    c: NonNull<ffi::sc_conn>,
    /// Not Sync: the C library allows one thread at a time per connection.
    _not_sync: PhantomData<Cell<()>>,
}

// The C library has no global state and a connection may move between
// threads (its rule is one thread at a time, which !Sync keeps).
unsafe impl Send for Client {}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket_path())
            .finish()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        unsafe { ffi::sc_close(self.c.as_ptr()) }
    }
}

/// What a pipelined request's reply turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A get's value, `None` when the key is absent.
    Value(Option<Vec<u8>>),
    /// A put was applied.
    Written,
    /// A delete: `true` when the key was there.
    Deleted(bool),
}

/// Statistics from [`Client::stats`]; counter names are in storesd's
/// PROTOCOL.md (newer daemons may add some).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The daemon's counters (`uptime_s`, `connections`, ...).
    pub daemon: BTreeMap<String, u64>,
    /// The envs asked about.
    pub envs: Vec<EnvStats>,
}

/// One env's statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvStats {
    /// Its repo (`None` for a fixed-path store).
    pub repo: Option<String>,
    /// Its store.
    pub store: String,
    /// Its directory.
    pub dir: String,
    /// The env's counters (`map_size`, `map_used`, ...).
    pub counters: BTreeMap<String, u64>,
    /// Each db's counters (`entries`, `depth`, ...), by db name.
    pub dbs: BTreeMap<String, BTreeMap<String, u64>>,
}

/// An env storesd has open, from [`Client::live`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEnv {
    /// Its repo (`None` for a fixed-path store).
    pub repo: Option<String>,
    /// Its store.
    pub store: String,
    /// Its directory.
    pub dir: String,
    /// Requests using it right now.
    pub inflight: u64,
    /// Milliseconds since it was last used (0 while in use).
    pub idle_ms: u64,
}

unsafe fn counters(p: *const ffi::sc_counter, n: usize) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for i in 0..n {
        let ct = &*p.add(i);
        m.insert(opt_string(ct.name).unwrap_or_default(), ct.value);
    }
    m
}

impl Client {
    /// Connects to storesd at path (`None`: [`default_socket`]).
    ///
    /// Errors: [`Code::Connect`] when nobody answers, [`Code::Busy`] when
    /// storesd has `max_connections` open, [`Code::BadVersion`].
    pub fn connect(path: Option<&Path>) -> Result<Client> {
        let mut o = Options::new();
        if let Some(p) = path {
            o = o.socket(p);
        }
        Client::connect_with(&o)
    }

    /// Connects with options.
    pub fn connect_with(o: &Options) -> Result<Client> {
        Ok(Client {
            c: conn_open(o)?,
            _not_sync: PhantomData,
        })
    }

    fn raw(&self) -> *mut ffi::sc_conn {
        self.c.as_ptr()
    }

    /// 0 is success; -1 is the connection's error.
    fn check(&self, rc: c_int) -> Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::last(self.raw()))
        }
    }

    /// The socket this client connects to.
    pub fn socket_path(&self) -> PathBuf {
        let p = unsafe { CStr::from_ptr(ffi::sc_socket_path(self.raw())) };
        PathBuf::from(OsStr::from_bytes(p.to_bytes()))
    }

    /// storesd's name and version, e.g. `"storesd 0.1.0"`.
    pub fn server_version(&self) -> String {
        unsafe { opt_string(ffi::sc_server_version(self.raw())) }.unwrap_or_default()
    }

    /// Asks storesd to answer.
    pub fn ping(&self) -> Result<()> {
        self.check(unsafe { ffi::sc_ping(self.raw()) })
    }

    /// The value of key, or `None` when the key (or its env) is absent.
    ///
    /// Errors: [`Code::BadKey`], and those every call shares.
    pub fn get<'a>(
        &self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Vec<u8>>> {
        let n = Names::of(at.into())?;
        let k = key.as_ref();
        let mut v: *mut c_void = ptr::null_mut();
        let mut vn = 0usize;
        let rc = unsafe {
            ffi::sc_get(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
                &mut v,
                &mut vn,
            )
        };
        if rc == -1 {
            let e = Error::last(self.raw());
            return if e.code == Code::NotFound {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let out = unsafe { copy_out(v, vn) };
        unsafe { ffi::sc_free(v) };
        Ok(Some(out))
    }

    /// Writes key = val as one durable commit.
    ///
    /// Errors: [`Code::BadKey`], [`Code::MapFull`], [`Code::TooLarge`].
    pub fn put<'a>(
        &self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
        val: impl AsRef<[u8]>,
    ) -> Result<()> {
        let n = Names::of(at.into())?;
        let (k, v) = (key.as_ref(), val.as_ref());
        self.check(unsafe {
            ffi::sc_put(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
                bytes_ptr(v),
                v.len(),
            )
        })
    }

    /// Writes key = val only if key is absent; else [`Code::CondFailed`]
    /// and nothing changes.
    pub fn put_if_absent<'a>(
        &self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
        val: impl AsRef<[u8]>,
    ) -> Result<()> {
        let n = Names::of(at.into())?;
        let (k, v) = (key.as_ref(), val.as_ref());
        self.check(unsafe {
            ffi::sc_put_if_absent(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
                bytes_ptr(v),
                v.len(),
            )
        })
    }

    /// Writes key = val only if key holds exactly old (an absent key
    /// fails too): [`Code::CondFailed`] otherwise, and nothing changes.
    pub fn put_if_equals<'a>(
        &self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
        old: impl AsRef<[u8]>,
        val: impl AsRef<[u8]>,
    ) -> Result<()> {
        let n = Names::of(at.into())?;
        let (k, o, v) = (key.as_ref(), old.as_ref(), val.as_ref());
        self.check(unsafe {
            ffi::sc_put_if_equals(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
                bytes_ptr(o),
                o.len(),
                bytes_ptr(v),
                v.len(),
            )
        })
    }

    /// Deletes key; `false` when it (or its env) was absent.
    pub fn delete<'a>(&self, at: impl Into<Target<'a>>, key: impl AsRef<[u8]>) -> Result<bool> {
        let n = Names::of(at.into())?;
        let k = key.as_ref();
        match self.check(unsafe {
            ffi::sc_del(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
            )
        }) {
            Ok(()) => Ok(true),
            Err(e) if e.code == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes key only if it holds exactly old: [`Code::CondFailed`]
    /// otherwise (an absent key too).
    pub fn delete_if_equals<'a>(
        &self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
        old: impl AsRef<[u8]>,
    ) -> Result<()> {
        let n = Names::of(at.into())?;
        let (k, o) = (key.as_ref(), old.as_ref());
        self.check(unsafe {
            ffi::sc_del_if_equals(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
                bytes_ptr(o),
                o.len(),
            )
        })
    }

    /// The values of keys from one read snapshot, in their order, `None`
    /// for each absent one.  Errors: [`Code::BadKey`] (with the key's
    /// index), [`Code::TooLarge`] when the keys exceed one frame.
    pub fn mget<'a, K: AsRef<[u8]>>(
        &self,
        at: impl Into<Target<'a>>,
        keys: &[K],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let n = Names::of(at.into())?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ks = sc_keys(keys);
        let mut vals: *mut ffi::sc_bytes = ptr::null_mut();
        self.check(unsafe {
            ffi::sc_mget(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                ks.as_ptr(),
                ks.len(),
                &mut vals,
            )
        })?;
        let out = (0..keys.len())
            .map(|i| unsafe {
                let v = &*vals.add(i);
                if v.p.is_null() {
                    None
                } else {
                    Some(copy_out(v.p, v.n))
                }
            })
            .collect();
        unsafe { ffi::sc_free(vals as *mut c_void) };
        Ok(out)
    }

    /// The indices (ascending) of the keys that are absent.  Any number
    /// of keys: they are sent in as many requests as needed.
    pub fn missing<'a, K: AsRef<[u8]>>(
        &self,
        at: impl Into<Target<'a>>,
        keys: &[K],
    ) -> Result<Vec<usize>> {
        let n = Names::of(at.into())?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ks = sc_keys(keys);
        let mut miss: *mut usize = ptr::null_mut();
        let mut nmiss = 0usize;
        self.check(unsafe {
            ffi::sc_missing(
                self.raw(),
                n.repo(),
                n.store(),
                n.db(),
                ks.as_ptr(),
                ks.len(),
                &mut miss,
                &mut nmiss,
            )
        })?;
        let out = if nmiss == 0 {
            Vec::new()
        } else {
            unsafe { std::slice::from_raw_parts(miss, nmiss) }.to_vec()
        };
        unsafe { ffi::sc_free(miss as *mut c_void) };
        Ok(out)
    }

    /// The number of entries in the db (0 when its env does not exist).
    pub fn count<'a>(&self, at: impl Into<Target<'a>>) -> Result<u64> {
        let n = Names::of(at.into())?;
        let mut count = 0u64;
        self.check(unsafe { ffi::sc_count(self.raw(), n.repo(), n.store(), n.db(), &mut count) })?;
        Ok(count)
    }

    /// An ordered scan of the db: an iterator of `(key, value)` pairs in
    /// byte order (see [`ScanOptions`]), fetched a page at a time, each
    /// page its own snapshot.  Nothing is sent until the first `next()`,
    /// which reports storesd's errors (an unknown store...).  The client
    /// may be used between entries.
    pub fn scan<'a>(&self, at: impl Into<Target<'a>>, o: &ScanOptions) -> Result<Scan<'_>> {
        let n = Names::of(at.into())?;
        let s = scan_open(self.raw(), &n, o)?;
        Ok(Scan {
            client: self,
            s: Some(s),
        })
    }

    /// The current revision of the target's env (its store and repo; 0
    /// when the env does not exist yet).  Every write request committed
    /// to an env makes one more revision.
    ///
    /// Errors: [`Code::UnknownStore`], [`Code::Forbidden`] without read
    /// access, and those every call shares.
    pub fn rev<'a>(&self, at: impl Into<Target<'a>>) -> Result<u64> {
        let n = Names::of(at.into())?;
        let mut rev = 0u64;
        self.check(unsafe { ffi::sc_rev(self.raw(), n.repo(), n.store(), &mut rev) })?;
        Ok(rev)
    }

    /// The revision of the last reply that carried one: the one a write
    /// made, or the one a read's snapshot saw (0 before any).
    pub fn last_rev(&self) -> u64 {
        unsafe { ffi::sc_last_rev(self.raw()) }
    }

    /// Watches the target's db as o says: an iterator of the changes
    /// ([`Event`]), each once, in revision order, from the revision after
    /// [`Watch::start_rev`] (or from [`WatchOptions::from_rev`] on, replayed
    /// from the store's history).  The client may be used for other
    /// calls meanwhile (events that come then wait on the watch); the
    /// watch ends when dropped.
    ///
    /// Errors: [`Code::UnknownStore`], [`Code::Forbidden`],
    /// [`Code::Busy`] past storesd's `max_watches`, [`Code::BadRequest`]
    /// for a store with `max_dbs = 0`, [`Code::BadKey`].
    pub fn watch<'a>(&self, at: impl Into<Target<'a>>, o: &WatchOptions) -> Result<Watch<'_>> {
        let n = Names::of(at.into())?;
        let mut rev = 0u64;
        let w = watch_open(self.raw(), &n, o, &mut rev)?;
        Ok(Watch {
            client: self,
            w: Some(w),
            rev,
            timeout_ms: o
                .timeout
                .map_or(-1, |t| t.as_millis().min(c_int::MAX as u128) as c_int),
            progress: o.progress,
            compacted: None,
        })
    }

    /// Starts an atomic batch on the target's env.  Ops are sent as they
    /// are added and applied at [`Batch::commit`], all or nothing; a
    /// batch dropped uncommitted is aborted.  While it is open, the
    /// client's other calls fail with [`Code::Invalid`] once a chunk has
    /// been sent.
    pub fn batch<'a>(&self, at: impl Into<Target<'a>>) -> Result<Batch<'_>> {
        let n = Names::of(at.into())?;
        let b = unsafe { ffi::sc_batch_begin(self.raw(), n.repo(), n.store(), n.db()) };
        match NonNull::new(b) {
            Some(b) => Ok(Batch {
                client: self,
                b: Some(b),
                db: None,
            }),
            None => Err(Error::last(self.raw())),
        }
    }

    /// Queues gets, puts and deletes without waiting for each reply
    /// (see [`Pipeline`]).
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            client: self,
            kinds: Vec::new(),
        }
    }

    /// Has storesd write a consistent copy of the env of the target's
    /// (repo, store) into file (open for writing); returns the bytes
    /// written.  The target's db is not used.  Errors: [`Code::NotFound`]
    /// (no such env), [`Code::BadRequest`] (file not open for writing).
    pub fn snapshot<'a>(
        &self,
        at: impl Into<Target<'a>>,
        file: &impl AsRawFd,
        compact: bool,
    ) -> Result<u64> {
        let n = Names::of(at.into())?;
        let mut size = 0u64;
        self.check(unsafe {
            ffi::sc_snapshot(
                self.raw(),
                n.repo(),
                n.store(),
                file.as_raw_fd(),
                compact as c_int,
                &mut size,
            )
        })?;
        Ok(size)
    }

    /// Makes a point-in-time copy of src_repo's env of store the env of
    /// dst_repo.  Errors: [`Code::Exists`], [`Code::Busy`] (the
    /// destination is open), [`Code::NotFound`] (no source env),
    /// [`Code::BadRequest`] (same repo, or a fixed-path store).
    pub fn fork(&self, store: &str, src_repo: &str, dst_repo: &str) -> Result<()> {
        let (s, src, dst) = (cstring(store)?, cstring(src_repo)?, cstring(dst_repo)?);
        self.check(unsafe { ffi::sc_fork(self.raw(), src.as_ptr(), s.as_ptr(), dst.as_ptr()) })
    }

    /// Statistics: with store, the daemon's and the env of (repo, store)
    /// ([`Code::NotFound`] if it does not exist); without, every open
    /// env's (only repo's when repo is set).
    pub fn stats(&self, store: Option<&str>, repo: Option<&str>) -> Result<Stats> {
        let (s, r) = (opt_cstring(store)?, opt_cstring(repo)?);
        let mut st: *mut ffi::sc_stats = ptr::null_mut();
        self.check(unsafe { ffi::sc_get_stats(self.raw(), opt_ptr(&r), opt_ptr(&s), &mut st) })?;
        let out = unsafe {
            let st = &*st;
            Stats {
                daemon: counters(st.daemon, st.ndaemon),
                envs: (0..st.nenvs)
                    .map(|i| {
                        let e = &*st.envs.add(i);
                        EnvStats {
                            repo: opt_string(e.repo),
                            store: opt_string(e.store).unwrap_or_default(),
                            dir: opt_string(e.dir).unwrap_or_default(),
                            counters: counters(e.counters, e.ncounters),
                            dbs: (0..e.ndbs)
                                .map(|j| {
                                    let d = &*e.dbs.add(j);
                                    (
                                        opt_string(d.name).unwrap_or_default(),
                                        counters(d.counters, d.ncounters),
                                    )
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            }
        };
        unsafe { ffi::sc_stats_free(st) };
        Ok(out)
    }

    /// The envs storesd has open (those of store and/or repo when set).
    pub fn live(&self, store: Option<&str>, repo: Option<&str>) -> Result<Vec<LiveEnv>> {
        let (s, r) = (opt_cstring(store)?, opt_cstring(repo)?);
        let mut l: *mut ffi::sc_live = ptr::null_mut();
        self.check(unsafe { ffi::sc_get_live(self.raw(), opt_ptr(&r), opt_ptr(&s), &mut l) })?;
        let out = unsafe {
            let l = &*l;
            (0..l.n)
                .map(|i| {
                    let e = &*l.envs.add(i);
                    LiveEnv {
                        repo: opt_string(e.repo),
                        store: opt_string(e.store).unwrap_or_default(),
                        dir: opt_string(e.dir).unwrap_or_default(),
                        inflight: e.inflight,
                        idle_ms: e.idle_ms,
                    }
                })
                .collect()
        };
        unsafe { ffi::sc_live_free(l) };
        Ok(out)
    }
}

fn sc_keys<K: AsRef<[u8]>>(keys: &[K]) -> Vec<ffi::sc_bytes> {
    keys.iter()
        .map(|k| {
            let k = k.as_ref();
            ffi::sc_bytes {
                p: bytes_ptr(k),
                n: k.len(),
            }
        })
        .collect()
}

// ----------------------------------------------------------------- scans

/// What a scan covers: keys in `[start, end)` that start with prefix, in
/// byte order or reversed, up to a limit, with or without values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanOptions {
    prefix: Option<Vec<u8>>,
    start: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
    limit: Option<u64>,
    reverse: bool,
    keys_only: bool,
}

impl ScanOptions {
    /// Every entry, in order.
    pub fn new() -> ScanOptions {
        ScanOptions::default()
    }
    /// Only keys starting with these bytes.
    pub fn prefix(mut self, p: impl AsRef<[u8]>) -> ScanOptions {
        self.prefix = Some(p.as_ref().to_vec());
        self
    }
    /// From this key on.
    pub fn start(mut self, k: impl AsRef<[u8]>) -> ScanOptions {
        self.start = Some(k.as_ref().to_vec());
        self
    }
    /// Up to, not including, this key.
    pub fn end(mut self, k: impl AsRef<[u8]>) -> ScanOptions {
        self.end = Some(k.as_ref().to_vec());
        self
    }
    /// At most n entries.
    pub fn limit(mut self, n: u64) -> ScanOptions {
        self.limit = Some(n);
        self
    }
    /// Last key first.
    pub fn reverse(mut self, yes: bool) -> ScanOptions {
        self.reverse = yes;
        self
    }
    /// Keys only: values come back empty and are not fetched.
    pub fn keys_only(mut self, yes: bool) -> ScanOptions {
        self.keys_only = yes;
        self
    }
}

fn opt_bytes(b: &Option<Vec<u8>>) -> (*const c_void, usize) {
    match b {
        Some(b) => (
            if b.is_empty() {
                b"".as_ptr() as *const c_void
            } else {
                bytes_ptr(b)
            },
            b.len(),
        ),
        None => (ptr::null(), 0),
    }
}

/// Starts a scan.  The only use of `sc_scan_opts`, so that a change of
/// how scan options reach the library is made here alone.
fn scan_open(c: *mut ffi::sc_conn, n: &Names, o: &ScanOptions) -> Result<NonNull<ffi::sc_scan>> {
    let (prefix, prefix_len) = opt_bytes(&o.prefix);
    let (start, start_len) = opt_bytes(&o.start);
    let (end, end_len) = opt_bytes(&o.end);
    unsafe {
        let opts = ffi::sc_scan_opts_new();
        if opts.is_null() {
            return Err(Error::new(Code::NoMem, "out of memory"));
        }
        let ok = ffi::sc_scan_opts_set_prefix(opts, prefix, prefix_len) == 0
            && ffi::sc_scan_opts_set_start(opts, start, start_len) == 0
            && ffi::sc_scan_opts_set_end(opts, end, end_len) == 0
            && o.limit
                .map_or(true, |l| ffi::sc_scan_opts_set_limit(opts, l) == 0)
            && ffi::sc_scan_opts_set_reverse(opts, o.reverse as c_int) == 0
            && ffi::sc_scan_opts_set_keys_only(opts, o.keys_only as c_int) == 0;
        // The library copies the options: they go right after.
        let s = if ok {
            ffi::sc_scan_begin(c, n.repo(), n.store(), n.db(), opts)
        } else {
            ptr::null_mut()
        };
        ffi::sc_scan_opts_free(opts);
        match NonNull::new(s) {
            Some(s) => Ok(s),
            None if ok => Err(Error::last(c)),
            None => Err(Error::new(Code::NoMem, "out of memory")),
        }
    }
}

/// An ordered scan ([`Client::scan`]): yields `Ok((key, value))` (value
/// empty with `keys_only`), then ends; after an `Err` it ends too.
pub struct Scan<'c> {
    client: &'c Client,
    s: Option<NonNull<ffi::sc_scan>>,
}

impl fmt::Debug for Scan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scan")
            .field("open", &self.s.is_some())
            .finish()
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.s?;
        let (mut k, mut kn, mut v, mut vn) = (ptr::null(), 0usize, ptr::null(), 0usize);
        let rc = unsafe { ffi::sc_scan_next(s.as_ptr(), &mut k, &mut kn, &mut v, &mut vn) };
        if rc == 1 {
            return Some(Ok(unsafe { (copy_out(k, kn), copy_out(v, vn)) }));
        }
        let out = if rc == -1 {
            Some(Err(Error::last(self.client.raw())))
        } else {
            None
        };
        self.end();
        out
    }
}

impl std::iter::FusedIterator for Scan<'_> {}

impl Scan<'_> {
    fn end(&mut self) {
        if let Some(s) = self.s.take() {
            unsafe { ffi::sc_scan_end(s.as_ptr()) }
        }
    }
}

impl Drop for Scan<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

// --------------------------------------------------------------- watches

/// What a watch follows ([`Client::watch`]): one key, or the keys
/// starting with a prefix (neither: every key of the db; the last set
/// wins), from which revision, and how long each wait lasts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchOptions {
    key: Option<Vec<u8>>,
    prefix: Option<Vec<u8>>,
    from: Option<u64>,
    timeout: Option<Duration>,
    progress: bool,
}

impl WatchOptions {
    /// Every key of the db, from the next revision on.
    pub fn new() -> WatchOptions {
        WatchOptions::default()
    }
    /// Only this key.
    pub fn key(mut self, k: impl AsRef<[u8]>) -> WatchOptions {
        self.key = Some(k.as_ref().to_vec());
        self.prefix = None;
        self
    }
    /// Only keys starting with these bytes.
    pub fn prefix(mut self, p: impl AsRef<[u8]>) -> WatchOptions {
        self.prefix = Some(p.as_ref().to_vec());
        self.key = None;
        self
    }
    /// The changes from revision `rev` (>= 1) on, replayed from the
    /// store's history before the live ones: to resume after the last
    /// event seen, `last.rev + 1`.
    pub fn from_rev(mut self, rev: u64) -> WatchOptions {
        self.from = Some(rev);
        self
    }
    /// How long each `next()` waits: past it, `None` (the watch stays
    /// open; call `next()` again to go on).  Without one it waits for
    /// ever.
    pub fn timeout(mut self, t: Duration) -> WatchOptions {
        self.timeout = Some(t);
        self
    }
    /// Also yield progress marks ([`EventOp::Progress`]) that storesd
    /// sends after quiet spells; skipped otherwise.
    pub fn progress(mut self, yes: bool) -> WatchOptions {
        self.progress = yes;
        self
    }
}

/// What an [`Event`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventOp {
    /// The key now holds the value.
    Put,
    /// The key was deleted.
    Del,
    /// No change: every change up to the revision was sent
    /// ([`WatchOptions::progress`] only).
    Progress,
}

/// A change a watch saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The revision of the change (the ops of a batch share one).
    pub rev: u64,
    /// What happened.
    pub op: EventOp,
    /// The key (empty for progress).
    pub key: Vec<u8>,
    /// The value a put wrote; `None` for a delete and progress.
    pub value: Option<Vec<u8>>,
}

/// Starts a watch.  The only use of `sc_watch_opts`, so that a change of
/// how watch options reach the library is made here alone.
fn watch_open(
    c: *mut ffi::sc_conn,
    n: &Names,
    o: &WatchOptions,
    rev: &mut u64,
) -> Result<NonNull<ffi::sc_watch>> {
    if o.from == Some(0) {
        return Err(Error::new(Code::Invalid, "revisions start at 1"));
    }
    let (key, key_len) = opt_bytes(&o.key);
    let (prefix, prefix_len) = opt_bytes(&o.prefix);
    unsafe {
        let opts = ffi::sc_watch_opts_new();
        if opts.is_null() {
            return Err(Error::new(Code::NoMem, "out of memory"));
        }
        let ok = (key.is_null() || ffi::sc_watch_opts_set_key(opts, key, key_len) == 0)
            && (prefix.is_null() || ffi::sc_watch_opts_set_prefix(opts, prefix, prefix_len) == 0)
            && o.from
                .map_or(true, |r| ffi::sc_watch_opts_set_from(opts, r) == 0);
        // The library copies what it needs: the options go right after.
        let w = if ok {
            ffi::sc_watch_begin(c, n.repo(), n.store(), n.db(), opts, rev)
        } else {
            ptr::null_mut()
        };
        ffi::sc_watch_opts_free(opts);
        match NonNull::new(w) {
            Some(w) => Ok(w),
            None if ok => Err(Error::last(c)),
            None => Err(Error::new(Code::NoMem, "out of memory")),
        }
    }
}

/// A watch ([`Client::watch`]): yields `Ok(event)` for each change, in
/// revision order.  With a timeout, `None` when none came in time (the
/// watch stays: call `next()` again).  When storesd ends the watch it
/// yields one `Err` ([`Code::Compacted`]: see [`Watch::compacted`];
/// [`Code::Resync`], [`Code::WatchOverflow`], [`Code::Forbidden`]; or the
/// connection's failure), then `None` for good.  Dropping it ends the
/// watch.
pub struct Watch<'c> {
    client: &'c Client,
    w: Option<NonNull<ffi::sc_watch>>,
    rev: u64,
    timeout_ms: c_int,
    progress: bool,
    compacted: Option<(u64, u64)>,
}

impl fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("rev", &self.rev)
            .field("open", &self.w.is_some())
            .finish()
    }
}

impl Watch<'_> {
    /// The env's revision when the watch started (named so that it is
    /// not `Iterator::rev`).
    pub fn start_rev(&self) -> u64 {
        self.rev
    }

    /// After the watch ended with [`Code::Compacted`]: the oldest
    /// revision the store's history keeps and the current one.  Read the
    /// data again, then watch from `current + 1`.
    pub fn compacted(&self) -> Option<(u64, u64)> {
        self.compacted
    }

    /// Ends the watch now (storesd is told, unless it ended it).
    pub fn end(&mut self) {
        if let Some(w) = self.w.take() {
            unsafe { ffi::sc_watch_end(w.as_ptr()) }
        }
    }
}

impl Iterator for Watch<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        let w = self.w?;
        let mut ev = ffi::sc_event {
            rev: 0,
            op: 0,
            key: ptr::null(),
            klen: 0,
            val: ptr::null(),
            vlen: 0,
        };
        loop {
            let rc = unsafe { ffi::sc_watch_next(w.as_ptr(), &mut ev, self.timeout_ms) };
            if rc == 0 {
                return None;
            }
            if rc == -1 {
                let e = Error::last(self.client.raw());
                // Pipelined replies pending: the watch goes on.
                if e.code() != Code::Invalid {
                    let (mut oldest, mut current) = (0u64, 0u64);
                    if unsafe { ffi::sc_watch_compacted(w.as_ptr(), &mut oldest, &mut current) }
                        == 0
                    {
                        self.compacted = Some((oldest, current));
                    }
                    self.end();
                }
                return Some(Err(e));
            }
            let op = match ev.op {
                ffi::SC_EV_PUT => EventOp::Put,
                ffi::SC_EV_DEL => EventOp::Del,
                ffi::SC_EV_PROGRESS if self.progress => EventOp::Progress,
                // Progress not asked for (or a kind of a newer library).
                _ => continue,
            };
            return Some(Ok(Event {
                rev: ev.rev,
                op,
                key: unsafe { copy_out(ev.key, ev.klen) },
                value: if op == EventOp::Put {
                    Some(unsafe { copy_out(ev.val, ev.vlen) })
                } else {
                    None
                },
            }));
        }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

// --------------------------------------------------------------- batches

/// An atomic batch ([`Client::batch`]).  Ops apply at [`Batch::commit`]
/// in one transaction, all or nothing; dropping the batch uncommitted
/// aborts it (nothing applied).
///
/// The adders fail once the batch is known to have failed (storesd
/// refused a chunk: a bad key, an unknown db, `max_batch`); conditions
/// are checked only at commit.
pub struct Batch<'c> {
    client: &'c Client,
    b: Option<NonNull<ffi::sc_batch>>,
    db: Option<CString>,
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("open", &self.b.is_some())
            .field("len", &self.len())
            .finish()
    }
}

impl<'c> Batch<'c> {
    fn add(&mut self, f: impl FnOnce(*mut ffi::sc_batch, *const c_char) -> c_int) -> Result<()> {
        let b = match self.b {
            Some(b) => b,
            None => return Err(Error::new(Code::Invalid, "the batch is over")),
        };
        self.client.check(f(b.as_ptr(), opt_ptr(&self.db)))
    }

    /// Names the db the ops added from now on go to (`None`: the batch's).
    pub fn set_db(&mut self, db: Option<&str>) -> Result<&mut Self> {
        self.db = opt_cstring(db)?;
        Ok(self)
    }

    /// put: set key to val.
    pub fn put(&mut self, key: impl AsRef<[u8]>, val: impl AsRef<[u8]>) -> Result<()> {
        let (k, v) = (key.as_ref(), val.as_ref());
        self.add(|b, db| unsafe {
            ffi::sc_batch_put(b, db, bytes_ptr(k), k.len(), bytes_ptr(v), v.len())
        })
    }

    /// delete: remove key (an absent key is no error in a batch).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let k = key.as_ref();
        self.add(|b, db| unsafe { ffi::sc_batch_del(b, db, bytes_ptr(k), k.len()) })
    }

    /// put_if_absent: set key, failing the batch at commit if it exists.
    pub fn put_if_absent(&mut self, key: impl AsRef<[u8]>, val: impl AsRef<[u8]>) -> Result<()> {
        let (k, v) = (key.as_ref(), val.as_ref());
        self.add(|b, db| unsafe {
            ffi::sc_batch_put_if_absent(b, db, bytes_ptr(k), k.len(), bytes_ptr(v), v.len())
        })
    }

    /// expect: fail the batch at commit unless key holds exactly val.
    pub fn expect(&mut self, key: impl AsRef<[u8]>, val: impl AsRef<[u8]>) -> Result<()> {
        let (k, v) = (key.as_ref(), val.as_ref());
        self.add(|b, db| unsafe {
            ffi::sc_batch_expect(b, db, bytes_ptr(k), k.len(), bytes_ptr(v), v.len())
        })
    }

    /// expect_absent: fail the batch at commit if key exists.
    pub fn expect_absent(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let k = key.as_ref();
        self.add(|b, db| unsafe { ffi::sc_batch_expect_absent(b, db, bytes_ptr(k), k.len()) })
    }

    /// clear: empty the db (ops after it refill it).
    pub fn clear(&mut self) -> Result<()> {
        self.add(|b, db| unsafe { ffi::sc_batch_clear(b, db) })
    }

    /// The ops added so far.
    pub fn len(&self) -> usize {
        self.b
            .map_or(0, |b| unsafe { ffi::sc_batch_count(b.as_ptr()) })
    }

    /// Whether no op was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies every op in one atomic commit.  On failure nothing is
    /// applied; [`Error::index`] names the op at fault
    /// ([`Code::CondFailed`], [`Code::MapFull`], ...).
    pub fn commit(mut self) -> Result<()> {
        let b = self.b.take().expect("a batch is open until commit or drop");
        self.client
            .check(unsafe { ffi::sc_batch_commit(b.as_ptr()) })
    }

    /// Drops the batch: nothing is applied (as dropping it does).
    pub fn abort(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if let Some(b) = self.b.take() {
            unsafe { ffi::sc_batch_abort(b.as_ptr()) }
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

// ------------------------------------------------------------- pipelines

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Put,
    Del,
}

/// Requests queued without waiting for each reply ([`Client::pipeline`]),
/// as redis pipelines do.  [`Pipeline::execute`] returns the replies in
/// the order queued.  Requests in flight are not ordered against each
/// other (a get queued after a put of the same key may not see it):
/// execute the put first when that matters.  While replies are pending
/// the client's other calls fail with [`Code::Invalid`]; dropping the
/// pipeline collects and discards them.
pub struct Pipeline<'c> {
    client: &'c Client,
    kinds: Vec<Kind>,
}

impl fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("len", &self.kinds.len())
            .finish()
    }
}

impl<'c> Pipeline<'c> {
    fn queued(&mut self, kind: Kind, rc: c_int) -> Result<&mut Self> {
        if rc == -1 {
            let e = Error::last(self.client.raw());
            // A send that failed lost every queued reply.
            if unsafe { ffi::sc_pending(self.client.raw()) } == 0 {
                self.kinds.clear();
            }
            return Err(e);
        }
        self.kinds.push(kind);
        Ok(self)
    }

    /// Queues a get; its reply is [`Reply::Value`].
    pub fn get<'a>(
        &mut self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
    ) -> Result<&mut Self> {
        let n = Names::of(at.into())?;
        let k = key.as_ref();
        let rc = unsafe {
            ffi::sc_append_get(
                self.client.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
            )
        };
        self.queued(Kind::Get, rc)
    }

    /// Queues a put; its reply is [`Reply::Written`].  A request over
    /// `max_frame` fails here ([`Code::TooLarge`]) and is not queued.
    pub fn put<'a>(
        &mut self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
        val: impl AsRef<[u8]>,
    ) -> Result<&mut Self> {
        let n = Names::of(at.into())?;
        let (k, v) = (key.as_ref(), val.as_ref());
        let rc = unsafe {
            ffi::sc_append_put(
                self.client.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
                bytes_ptr(v),
                v.len(),
            )
        };
        self.queued(Kind::Put, rc)
    }

    /// Queues a delete; its reply is [`Reply::Deleted`].
    pub fn delete<'a>(
        &mut self,
        at: impl Into<Target<'a>>,
        key: impl AsRef<[u8]>,
    ) -> Result<&mut Self> {
        let n = Names::of(at.into())?;
        let k = key.as_ref();
        let rc = unsafe {
            ffi::sc_append_del(
                self.client.raw(),
                n.repo(),
                n.store(),
                n.db(),
                bytes_ptr(k),
                k.len(),
            )
        };
        self.queued(Kind::Del, rc)
    }

    /// Requests queued and not executed yet.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Sends what is queued and returns each request's outcome, in
    /// order; one failing leaves the others as they are.  The pipeline
    /// is empty and usable again afterwards.
    pub fn execute(&mut self) -> Vec<Result<Reply>> {
        let c = self.client.raw();
        self.kinds
            .drain(..)
            .map(|kind| {
                let (mut v, mut vn) = (ptr::null(), 0usize);
                let rc = unsafe { ffi::sc_collect(c, &mut v, &mut vn) };
                if rc == 0 {
                    return Ok(match kind {
                        Kind::Get => Reply::Value(Some(unsafe { copy_out(v, vn) })),
                        Kind::Put => Reply::Written,
                        Kind::Del => Reply::Deleted(true),
                    });
                }
                let e = Error::last(c);
                match (kind, e.code) {
                    (Kind::Get, Code::NotFound) => Ok(Reply::Value(None)),
                    (Kind::Del, Code::NotFound) => Ok(Reply::Deleted(false)),
                    _ => Err(e),
                }
            })
            .collect()
    }
}

impl Drop for Pipeline<'_> {
    fn drop(&mut self) {
        if !self.kinds.is_empty() {
            self.execute();
        }
    }
}

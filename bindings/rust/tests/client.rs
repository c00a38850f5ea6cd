//! storeclient against a real storesd: every call and every error path.
mod common;

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::Daemon;
use storeclient::{
    Client, Code, Event, EventOp, Options, Reply, ScanOptions, Target, Watch, WatchOptions,
};

fn connect(d: &Daemon) -> Client {
    Client::connect(Some(&d.socket)).unwrap()
}

fn code<T: std::fmt::Debug>(r: storeclient::Result<T>) -> Code {
    r.unwrap_err().code()
}

/// A pseudo-random byte string (no crate for it: a small LCG).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

// ------------------------------------------------------------ connecting

#[test]
fn connect_and_ping() {
    let d = Daemon::main();
    let c = Client::connect_with(
        &Options::new()
            .socket(&d.socket)
            .timeout(Duration::from_secs(30))
            .client_name("cargo-test"),
    )
    .unwrap();
    assert!(c.server_version().starts_with("storesd "));
    assert_eq!(c.socket_path(), d.socket);
    c.ping().unwrap();
    assert!(format!("{:?}", c).contains("sock"));
}

#[test]
fn default_socket_from_the_environment() {
    // No other test reads $STORESD_SOCKET: they all name their socket.
    let d = Daemon::main();
    std::env::set_var("STORESD_SOCKET", &d.socket);
    assert_eq!(storeclient::default_socket(), d.socket);
    let c = Client::connect(None).unwrap();
    assert_eq!(c.socket_path(), d.socket);
    c.ping().unwrap();
    std::env::remove_var("STORESD_SOCKET");
}

#[test]
fn connect_nobody_there() {
    let dir = common::temp_dir("nosock");
    let e = Client::connect(Some(&dir.join("sock"))).unwrap_err();
    assert_eq!(e.code(), Code::Connect);
    assert!(e.code().is_connection());
    assert_eq!(e.code().name(), "CONNECT");
    assert!(e.message().contains("is storesd running"));
    assert!(e.to_string().starts_with("CONNECT: "));
    assert_eq!(e.index(), None);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn timeout_on_a_silent_listener() {
    let dir = common::temp_dir("silent");
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path).unwrap();
    let e = Client::connect_with(
        &Options::new()
            .socket(&path)
            .timeout(Duration::from_millis(200)),
    )
    .unwrap_err();
    assert_eq!(e.code(), Code::Timeout);
    assert!(e.code().is_connection());
    drop(listener);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn busy_at_max_connections() {
    let d = Daemon::start("[daemon]\nmax_connections = 1\n[store refs]\nmap_size = 1MiB\n");
    let first = connect(&d);
    first.ping().unwrap();
    assert_eq!(code(Client::connect(Some(&d.socket))), Code::Busy);
}

#[test]
fn daemon_gone() {
    let mut d = Daemon::start("[store refs]\nmap_size = 1MiB\n");
    let c = connect(&d);
    c.put("refs", b"k", b"v").unwrap();
    assert_eq!(d.stop(), Some(0));
    let e = c.get("refs", b"k").unwrap_err();
    assert!(e.code().is_connection(), "{}", e);
    assert_eq!(code(c.ping()), Code::Io); // dead for good
}

// ----------------------------------------------------------- single keys

#[test]
fn get_put_delete() {
    let d = Daemon::main();
    let c = connect(&d);
    let at = Target::new("refs").repo("rs/a");
    assert_eq!(c.get(at, b"main").unwrap(), None);
    c.put(at, b"main", b"3f2a9c").unwrap();
    assert_eq!(c.get(at, b"main").unwrap(), Some(b"3f2a9c".to_vec()));
    c.put(at, "str key", vec![0u8, 255, 0]).unwrap();
    assert_eq!(c.get(at, "str key").unwrap(), Some(vec![0u8, 255, 0]));
    c.put(at, b"empty", b"").unwrap();
    assert_eq!(c.get(at, b"empty").unwrap(), Some(Vec::new()));
    assert!(c.delete(at, b"main").unwrap());
    assert!(!c.delete(at, b"main").unwrap());
    assert_eq!(c.get(at, b"main").unwrap(), None);
    // An env that does not exist: absent, not an error.
    assert_eq!(
        c.get(Target::new("refs").repo("rs/none"), b"k").unwrap(),
        None
    );
    assert!(!c.delete(Target::new("refs").repo("rs/none"), b"k").unwrap());
    // Default repo, and a named db.
    c.put("refs", b"d", b"default").unwrap();
    assert_eq!(
        c.get(Target::new("refs").repo("default"), b"d").unwrap(),
        Some(b"default".to_vec())
    );
    c.put(at.db("other"), b"k", b"other").unwrap();
    assert_eq!(
        c.get(at.db("other"), b"k").unwrap(),
        Some(b"other".to_vec())
    );
    assert_eq!(c.get(at.db("refs"), b"k").unwrap(), None);
    let big = noise(512 * 1024, 1);
    c.put(at, b"big", &big).unwrap();
    assert_eq!(c.get(at, b"big").unwrap(), Some(big));
}

#[test]
fn conditional_writes() {
    let d = Daemon::main();
    let c = connect(&d);
    c.put_if_absent("refs", b"r", b"v1").unwrap();
    let e = c.put_if_absent("refs", b"r", b"v2").unwrap_err();
    assert_eq!(e.code(), Code::CondFailed);
    assert_eq!(e.code().raw(), 15);
    c.put_if_equals("refs", b"r", b"v1", b"v2").unwrap();
    assert_eq!(
        code(c.put_if_equals("refs", b"r", b"v1", b"v3")),
        Code::CondFailed
    );
    assert_eq!(
        code(c.put_if_equals("refs", b"none", b"v", b"v")),
        Code::CondFailed
    );
    assert_eq!(c.get("refs", b"r").unwrap(), Some(b"v2".to_vec()));
    assert_eq!(
        code(c.delete_if_equals("refs", b"r", b"v1")),
        Code::CondFailed
    );
    c.delete_if_equals("refs", b"r", b"v2").unwrap();
    assert_eq!(c.get("refs", b"r").unwrap(), None);
}

#[test]
fn store_errors() {
    let d = Daemon::main();
    let c = connect(&d);
    assert_eq!(code(c.get("nosuchstore", b"k")), Code::UnknownStore);
    assert_eq!(
        code(c.put(Target::new("refs").db("nosuchdb"), b"k", b"v")),
        Code::UnknownDb
    );
    assert_eq!(
        code(c.get(Target::new("refs").repo("../escape"), b"k")),
        Code::BadRepo
    );
    assert_eq!(code(c.get("refs", b"")), Code::BadKey);
    assert_eq!(code(c.put("refs", vec![b'k'; 512], b"v")), Code::BadKey);
    c.put("refs", vec![b'k'; 511], b"v").unwrap();
    assert_eq!(
        code(c.put("refs", b"k", vec![0u8; 2 << 20])),
        Code::TooLarge
    );
    assert_eq!(code(c.get("re\0fs", b"k")), Code::Invalid);
    c.ping().unwrap(); // storesd's errors leave the connection usable
}

#[test]
fn map_full() {
    let d = Daemon::main();
    let c = connect(&d);
    let chunk = noise(64 * 1024, 2);
    let mut err = None;
    for i in 0..64 {
        if let Err(e) = c.put("tiny", format!("k{}", i), &chunk) {
            err = Some(e);
            break;
        }
    }
    let e = err.expect("a 1 MiB map takes no 4 MiB");
    assert_eq!(e.code(), Code::MapFull);
    assert!(e.message().contains("map_size"));
    assert_eq!(c.get("tiny", b"k0").unwrap(), Some(chunk));
}

/// Run as another user by the forbidden test: re-executes this test
/// binary as nobody, with the socket in $STORECLIENT_FORBIDDEN_SOCKET.
#[test]
fn forbidden_probe() {
    let sock = match std::env::var("STORECLIENT_FORBIDDEN_SOCKET") {
        Ok(s) => s,
        Err(_) => return, // only meaningful when run by `forbidden`
    };
    let c = Client::connect(Some(Path::new(&sock))).unwrap();
    c.get("refs", b"k").unwrap();
    println!("PROBE {}", code(c.get("locked", b"k")).name());
}

#[test]
fn forbidden() {
    if !is_root() {
        eprintln!("forbidden: skipped, needs root to run a probe as nobody");
        return;
    }
    let d = Daemon::main();
    let c = connect(&d);
    c.put("locked", b"k", b"v").unwrap(); // root may always
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "forbidden_probe",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("STORECLIENT_FORBIDDEN_SOCKET", &d.socket)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PROBE FORBIDDEN"),
        "{}\n{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
}

use std::os::unix::process::CommandExt;

fn is_root() -> bool {
    // No libc crate: ask id(1).
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

// --------------------------------------------------------------- batches

#[test]
fn batch_commits() {
    let d = Daemon::main();
    let c = connect(&d);
    c.put("refs", b"gone", b"x").unwrap();
    let mut b = c.batch("refs").unwrap();
    assert!(b.is_empty());
    b.put(b"a", b"1").unwrap();
    b.put("b", b"2").unwrap();
    b.delete(b"gone").unwrap();
    b.put_if_absent(b"c", b"3").unwrap();
    b.expect_absent(b"zz").unwrap();
    b.expect(b"a", b"1").unwrap();
    b.set_db(Some("other"))
        .unwrap()
        .put(b"o", b"other")
        .unwrap();
    assert_eq!(b.len(), 7);
    assert_eq!(c.get("refs", b"a").unwrap(), None); // not yet
    b.commit().unwrap();
    assert_eq!(
        c.mget("refs", &[&b"a"[..], b"b", b"c", b"gone"]).unwrap(),
        vec![
            Some(b"1".to_vec()),
            Some(b"2".to_vec()),
            Some(b"3".to_vec()),
            None
        ]
    );
    assert_eq!(
        c.get(Target::new("refs").db("other"), b"o").unwrap(),
        Some(b"other".to_vec())
    );
}

#[test]
fn batch_aborts_on_drop_and_abort() {
    let d = Daemon::main();
    let c = connect(&d);
    {
        let mut b = c.batch("refs").unwrap();
        b.put(b"dropped", b"1").unwrap();
    }
    assert_eq!(c.get("refs", b"dropped").unwrap(), None);
    let mut b = c.batch("refs").unwrap();
    b.put(b"aborted", b"1").unwrap();
    b.abort();
    assert_eq!(c.get("refs", b"aborted").unwrap(), None);
    // A panic in the middle of building a batch applies nothing.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut b = c.batch("refs").unwrap();
        b.put(b"panicked", b"1").unwrap();
        panic!("boom");
    }));
    assert!(r.is_err());
    assert_eq!(c.get("refs", b"panicked").unwrap(), None);
    c.ping().unwrap();
}

#[test]
fn batch_failures() {
    let d = Daemon::main();
    let c = connect(&d);
    c.put("refs", b"ref", b"old").unwrap();
    let mut b = c.batch("refs").unwrap();
    b.put(b"x", b"1").unwrap();
    b.expect(b"ref", b"not-old").unwrap();
    let e = b.commit().unwrap_err();
    assert_eq!((e.code(), e.index()), (Code::CondFailed, Some(1)));
    assert_eq!(c.get("refs", b"x").unwrap(), None);
    let mut b = c.batch("refs").unwrap();
    b.put_if_absent(b"ref", b"new").unwrap();
    assert_eq!(b.commit().unwrap_err().index(), Some(0));

    let mut b = c.batch("refs").unwrap();
    b.put(b"k", b"v").unwrap();
    let r = b.put(b"", b"v").and_then(|_| b.commit());
    let e = r.unwrap_err();
    assert_eq!((e.code(), e.index()), (Code::BadKey, Some(1)));

    let mut b = c.batch("refs").unwrap();
    b.set_db(Some("nosuchdb")).unwrap();
    let r = b.put(b"k", b"v").and_then(|_| b.commit());
    assert_eq!(code(r), Code::UnknownDb);

    let mut b = c.batch("nosuchstore").unwrap();
    let r = b.put(b"k", b"v").and_then(|_| b.commit());
    assert_eq!(code(r), Code::UnknownStore);

    let mut b = c.batch(Target::new("tiny").repo("rs/full")).unwrap();
    let chunk = noise(64 * 1024, 3);
    let r = (0..40)
        .try_for_each(|i| b.put(format!("k{}", i), &chunk))
        .and_then(|_| b.commit());
    assert_eq!(code(r), Code::MapFull);
    assert_eq!(c.count(Target::new("tiny").repo("rs/full")).unwrap(), 0);
}

#[test]
fn batch_clear() {
    let d = Daemon::main();
    let c = connect(&d);
    let other = Target::new("refs").db("other");
    for i in 0..5 {
        c.put(other, format!("k{}", i), b"v").unwrap();
    }
    let mut b = c.batch(other).unwrap();
    b.clear().unwrap();
    b.put(b"kept", b"1").unwrap();
    b.commit().unwrap();
    assert_eq!(c.count(other).unwrap(), 1);
}

#[test]
fn streamed_batch() {
    let d = Daemon::main();
    let c = connect(&d);
    let other = connect(&d);
    let v = noise(1024, 4);
    let mut b = c.batch("refs").unwrap();
    for i in 0..3000 {
        b.put(format!("s{:05}", i), &v).unwrap();
    }
    // Chunks are out: this connection refuses other calls meanwhile,
    // another connection sees nothing yet.
    assert_eq!(code(c.get("refs", b"s00000")), Code::Invalid);
    assert_eq!(other.count("refs").unwrap(), 0);
    b.commit().unwrap();
    assert_eq!(c.count("refs").unwrap(), 3000);
    assert_eq!(c.get("refs", b"s02999").unwrap(), Some(v));
}

// ------------------------------------------------------ multi-key reads

#[test]
fn mget_missing_count() {
    let d = Daemon::main();
    let c = connect(&d);
    let keys: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("k{:03}", i).into_bytes())
        .collect();
    let mut b = c.batch("refs").unwrap();
    for k in keys.iter().step_by(2) {
        b.put(k, [&k[..], b"!"].concat()).unwrap();
    }
    b.commit().unwrap();
    let got = c.mget("refs", &keys).unwrap();
    for (i, (k, v)) in keys.iter().zip(&got).enumerate() {
        let want = if i % 2 == 0 {
            Some([&k[..], b"!"].concat())
        } else {
            None
        };
        assert_eq!(v, &want);
    }
    assert_eq!(
        c.mget::<&[u8]>("refs", &[]).unwrap(),
        Vec::<Option<Vec<u8>>>::new()
    );
    assert_eq!(
        c.missing("refs", &keys).unwrap(),
        (0..100).filter(|i| i % 2 == 1).collect::<Vec<_>>()
    );
    assert_eq!(
        c.missing::<&[u8]>("refs", &[]).unwrap(),
        Vec::<usize>::new()
    );
    assert_eq!(c.count("refs").unwrap(), 50);
    assert_eq!(c.count(Target::new("refs").db("other")).unwrap(), 0);
    assert_eq!(c.count(Target::new("refs").repo("rs/none")).unwrap(), 0);
    let e = c.mget("refs", &[&b"ok"[..], b""]).unwrap_err();
    assert_eq!((e.code(), e.index()), (Code::BadKey, Some(1)));
    let long = vec![b'x'; 600];
    let e = c.missing("refs", &[&b"ok"[..], b"ok2", &long]).unwrap_err();
    assert_eq!((e.code(), e.index()), (Code::BadKey, Some(2)));
    assert_eq!(code(c.count("nosuchstore")), Code::UnknownStore);
    // Many keys: missing spans several requests.
    let many: Vec<Vec<u8>> = (0..20000u64).map(|i| noise(32, 1000 + i)).collect();
    let mut b = c.batch("refs").unwrap();
    for k in &many[..100] {
        b.put(k, b"").unwrap();
    }
    b.commit().unwrap();
    assert_eq!(
        c.missing("refs", &many).unwrap(),
        (100..20000).collect::<Vec<_>>()
    );
}

// ----------------------------------------------------------------- scans

fn keys_of(s: storeclient::Scan<'_>) -> Vec<Vec<u8>> {
    s.map(|r| r.unwrap().0).collect()
}

#[test]
fn scans() {
    let d = Daemon::main();
    let c = connect(&d);
    let mut b = c.batch("refs").unwrap();
    for i in 0..10 {
        b.put(format!("a{}", i), format!("v{}", i)).unwrap();
    }
    b.put(b"b0", b"x").unwrap();
    b.put(b"\xff\xff", b"y").unwrap();
    b.commit().unwrap();
    let all: Vec<(Vec<u8>, Vec<u8>)> = c
        .scan("refs", &ScanOptions::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(all.len(), 12);
    assert_eq!(all[3], (b"a3".to_vec(), b"v3".to_vec()));
    assert_eq!(all[11].0, b"\xff\xff".to_vec());
    let a: Vec<Vec<u8>> = (0..10).map(|i| format!("a{}", i).into_bytes()).collect();
    let pairs: Vec<_> = c
        .scan("refs", &ScanOptions::new().prefix("a").keys_only(true))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(pairs.iter().map(|p| p.0.clone()).collect::<Vec<_>>(), a);
    assert!(pairs.iter().all(|p| p.1.is_empty()));
    assert_eq!(
        keys_of(
            c.scan("refs", &ScanOptions::new().start("a8").end("b1"))
                .unwrap()
        ),
        vec![b"a8".to_vec(), b"a9".to_vec(), b"b0".to_vec()]
    );
    assert_eq!(
        keys_of(
            c.scan(
                "refs",
                &ScanOptions::new().prefix("a").reverse(true).limit(3)
            )
            .unwrap()
        ),
        vec![b"a9".to_vec(), b"a8".to_vec(), b"a7".to_vec()]
    );
    assert!(keys_of(c.scan("refs", &ScanOptions::new().limit(0)).unwrap()).is_empty());
    assert_eq!(
        keys_of(c.scan("refs", &ScanOptions::new().limit(1)).unwrap()),
        vec![b"a0".to_vec()]
    );
    assert_eq!(
        keys_of(c.scan("refs", &ScanOptions::new().prefix(b"\xff")).unwrap()),
        vec![b"\xff\xff".to_vec()]
    );
    assert!(keys_of(
        c.scan(Target::new("refs").repo("rs/none"), &ScanOptions::new())
            .unwrap()
    )
    .is_empty());
}

#[test]
fn scan_pages_lazily_and_client_usable() {
    let d = Daemon::main();
    let c = connect(&d);
    for i in 0..10 {
        c.put("refs", format!("k{}", i), b"v").unwrap();
    }
    let mut s = c.scan("refs", &ScanOptions::new().keys_only(true)).unwrap();
    assert_eq!(s.next().unwrap().unwrap().0, b"k0".to_vec());
    // The client takes other calls between entries; a later page
    // (scan_page is 4) sees the write.
    c.put("refs", b"k95", b"v").unwrap();
    let rest = keys_of(s);
    assert_eq!(rest.last().unwrap(), &b"k95".to_vec());
    let mut s2 = c.scan("refs", &ScanOptions::new()).unwrap();
    s2.next();
    drop(s2); // ended early
    c.ping().unwrap();
}

#[test]
fn scan_errors() {
    let d = Daemon::main();
    let c = connect(&d);
    let mut s = c.scan("nosuchstore", &ScanOptions::new()).unwrap(); // nothing sent yet
    assert_eq!(s.next().unwrap().unwrap_err().code(), Code::UnknownStore);
    assert!(s.next().is_none()); // ended after the error
    let mut s = c
        .scan("refs", &ScanOptions::new().prefix(vec![b'p'; 600]))
        .unwrap();
    assert_eq!(s.next().unwrap().unwrap_err().code(), Code::BadKey);
    let mut s = c
        .scan(Target::new("refs").db("nosuchdb"), &ScanOptions::new())
        .unwrap();
    assert_eq!(s.next().unwrap().unwrap_err().code(), Code::UnknownDb);
}

// ----------------------------------------------- snapshot, fork, stats

fn mdb_dump(path: &Path) -> Vec<u8> {
    let out = Command::new("mdb_dump")
        .args(["-n", "-p", "-a"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn snapshot() {
    let d = Daemon::main();
    let c = connect(&d);
    c.put("refs", b"snapkey", b"snapvalue").unwrap();
    let path = d.dir.join("copy.mdb");
    let f = fs::File::create(&path).unwrap();
    let size = c.snapshot("refs", &f, false).unwrap();
    drop(f);
    assert_eq!(size, fs::metadata(&path).unwrap().len());
    assert!(contains(&mdb_dump(&path), b"snapkey"));
    let path2 = d.dir.join("compact.mdb");
    let f = fs::File::create(&path2).unwrap();
    assert!(c.snapshot("refs", &f, true).unwrap() > 0);
    drop(f);
    assert!(contains(&mdb_dump(&path2), b"snapvalue"));
    let f = fs::File::create(&path).unwrap();
    assert_eq!(
        code(c.snapshot(Target::new("refs").repo("rs/none"), &f, false)),
        Code::NotFound
    );
    let ro = fs::File::open(&path).unwrap();
    assert_eq!(code(c.snapshot("refs", &ro, false)), Code::BadRequest);
    // A pipe whose reader is gone: the descriptor's failure, by name.
    let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(r);
    let e = c.snapshot("refs", &w, false).unwrap_err();
    assert_eq!(e.code(), Code::FdError);
    assert_eq!(e.code().name(), "FD_ERROR");
}

#[test]
fn no_repo() {
    let d = Daemon::main();
    let c = connect(&d);
    let t = Target::new("strict").repo("rs/strict");
    assert_eq!(code(c.put(t, b"k", b"v")), Code::NoRepo);
    assert_eq!(Code::NoRepo.name(), "NO_REPO");
}

#[test]
fn watch_codes() {
    // The watch's end codes, by number and name.
    assert_eq!(Code::Compacted.name(), "COMPACTED");
    assert_eq!(Code::Resync.name(), "RESYNC");
    assert_eq!(Code::WatchOverflow.name(), "WATCH_OVERFLOW");
    assert_eq!(Code::from_raw(19), Code::Compacted);
    assert_eq!(Code::from_raw(20), Code::Resync);
    assert_eq!(Code::from_raw(21), Code::WatchOverflow);
}

#[test]
fn no_room_code() {
    // A compacting snapshot refused for want of room on the data disk.
    assert_eq!(Code::NoRoom.name(), "NO_ROOM");
    assert_eq!(Code::from_raw(22), Code::NoRoom);
}

// --------------------------------------------------------------- watches

/// The next n events of w, each within the watch's timeout.
fn take(w: &mut Watch<'_>, n: usize) -> Vec<Event> {
    let evs: Vec<Event> = w.by_ref().take(n).map(|e| e.unwrap()).collect();
    assert_eq!(evs.len(), n, "only {} of {} events came", evs.len(), n);
    evs
}

fn patient() -> WatchOptions {
    WatchOptions::new().timeout(Duration::from_secs(30))
}

#[test]
fn watch_sees_writes_in_order() {
    let d = Daemon::main();
    let c = connect(&d);
    let t = Target::new("hist").repo("rs/w1");
    assert_eq!(c.rev(t).unwrap(), 0);
    c.put(t, b"k/0", b"before").unwrap();
    assert_eq!(c.last_rev(), 1);
    let start = c.rev(t).unwrap();
    assert_eq!(start, 1);
    let mut w = c.watch(t, &patient().prefix(b"k/")).unwrap();
    assert_eq!(w.start_rev(), start);
    // A writer on its own client and thread, while this client writes
    // too (events wait on the watch meanwhile).
    let sock = d.socket.clone();
    let writer = thread::spawn(move || {
        let c2 = Client::connect(Some(&sock)).unwrap();
        for i in 0..50 {
            c2.put(
                Target::new("hist").repo("rs/w1"),
                format!("k/w{:02}", i),
                format!("v{}", i),
            )
            .unwrap();
        }
    });
    c.put(t, b"other", b"not watched").unwrap();
    let mut b = c.batch(t).unwrap();
    b.put(b"k/b1", b"1").unwrap();
    b.delete(b"k/0").unwrap();
    b.commit().unwrap();
    writer.join().unwrap();
    let evs = take(&mut w, 52);
    drop(w);
    let revs: Vec<u64> = evs.iter().map(|e| e.rev).collect();
    let mut sorted = revs.clone();
    sorted.sort();
    assert_eq!(revs, sorted);
    assert!(revs[0] > start);
    sorted.dedup();
    assert_eq!(sorted.len(), 51); // the batch's two ops share one
    let from_writer: Vec<&Event> = evs.iter().filter(|e| e.key.starts_with(b"k/w")).collect();
    for (i, e) in from_writer.iter().enumerate() {
        assert_eq!(e.key, format!("k/w{:02}", i).into_bytes());
        assert_eq!(e.op, EventOp::Put);
        assert_eq!(e.value, Some(format!("v{}", i).into_bytes()));
    }
    assert_eq!(from_writer.len(), 50);
    let batch: Vec<&Event> = evs.iter().filter(|e| !e.key.starts_with(b"k/w")).collect();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        (batch[0].op, &batch[0].key[..]),
        (EventOp::Put, &b"k/b1"[..])
    );
    assert_eq!(batch[0].value, Some(b"1".to_vec()));
    assert_eq!(
        (batch[1].op, &batch[1].key[..]),
        (EventOp::Del, &b"k/0"[..])
    );
    assert_eq!(batch[1].value, None);
    assert_eq!(batch[0].rev, batch[1].rev);
    assert_eq!(c.get(t, b"k/b1").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn watch_key_from_rev_and_resume() {
    let d = Daemon::main();
    let c = connect(&d);
    let t = Target::new("hist").repo("rs/w2");
    for i in 0..6 {
        let k: &[u8] = if i % 2 == 1 { b"a" } else { b"b" };
        c.put(t, k, format!("{}", i)).unwrap();
    }
    // From revision 1: the history replayed, one key only.
    let mut w = c.watch(t, &patient().key(b"a").from_rev(1)).unwrap();
    let first = take(&mut w, 2);
    drop(w);
    let got: Vec<(u64, Vec<u8>)> = first
        .iter()
        .map(|e| (e.rev, e.value.clone().unwrap()))
        .collect();
    assert_eq!(got, vec![(2, b"1".to_vec()), (4, b"3".to_vec())]);
    // Resume after the last seen: no gap, no duplicate.
    c.put(t, b"a", b"6").unwrap();
    let mut w = c
        .watch(t, &patient().key(b"a").from_rev(first[1].rev + 1))
        .unwrap();
    let rest: Vec<(u64, Vec<u8>)> = take(&mut w, 2)
        .into_iter()
        .map(|e| (e.rev, e.value.unwrap()))
        .collect();
    assert_eq!(rest, vec![(6, b"5".to_vec()), (7, b"6".to_vec())]);
}

#[test]
fn watch_compacted() {
    let d = Daemon::main();
    let c = connect(&d);
    let t = Target::new("refs").repo("rs/w3");
    c.put(t, b"k", b"v").unwrap();
    c.put(t, b"k", b"w").unwrap();
    let cur = c.rev(t).unwrap();
    let mut w = c.watch(t, &patient().from_rev(1)).unwrap();
    let e = w.next().unwrap().unwrap_err();
    assert_eq!(e.code(), Code::Compacted);
    assert_eq!(w.compacted(), Some((cur + 1, cur)));
    // Ended: the iteration is over.
    assert!(w.next().is_none());
    assert!(w.next().is_none());
    drop(w);
    assert_eq!(c.rev(t).unwrap(), cur);
}

#[test]
fn watch_ends_early_and_times_out() {
    let d = Daemon::main();
    let c = connect(&d);
    let t = Target::new("hist").repo("rs/w4");
    let mut w = c
        .watch(t, &WatchOptions::new().timeout(Duration::from_millis(200)))
        .unwrap();
    assert!(w.next().is_none()); // nothing in time: the watch stays
    c.put(t, b"x", b"1").unwrap();
    c.put(t, b"y", b"2").unwrap();
    assert_eq!(w.next().unwrap().unwrap().key, b"x");
    assert_eq!(w.next().unwrap().unwrap().key, b"y");
    w.end();
    assert!(w.next().is_none());
    // Ended early by a drop; the client goes on.
    let w = c.watch(t, &WatchOptions::new()).unwrap();
    drop(w);
    c.ping().unwrap();
    assert!(format!("{:?}", c.watch(t, &WatchOptions::new()).unwrap()).contains("open: true"));
}

#[test]
fn watch_daemon_gone() {
    let mut d = Daemon::start("[store hist]\nmap_size = 1MiB\nhistory = 64KiB\n");
    let c = connect(&d);
    let mut w = c.watch("hist", &patient()).unwrap();
    assert_eq!(d.stop(), Some(0));
    let e = w.next().unwrap().unwrap_err();
    assert!(e.code().is_connection(), "{}", e);
    assert!(w.next().is_none()); // ended: once
}

#[test]
fn watch_errors() {
    let d = Daemon::main();
    let c = connect(&d);
    let t = Target::new("hist").repo("rs/w5");
    assert_eq!(
        code(c.watch("nope", &WatchOptions::new())),
        Code::UnknownStore
    );
    assert_eq!(
        code(c.watch(t, &WatchOptions::new().from_rev(0))),
        Code::Invalid
    );
    assert_eq!(
        code(c.watch(t, &WatchOptions::new().key(b""))),
        Code::BadKey
    );
    assert_eq!(code(c.rev("nope")), Code::UnknownStore);
    // The last set of key and prefix wins.
    let o = WatchOptions::new().key(b"a").prefix(b"p");
    assert_eq!(o, WatchOptions::new().prefix(b"p"));
}

#[test]
fn fork() {
    let d = Daemon::main();
    let c = connect(&d);
    c.put(Target::new("refs").repo("rs/src"), b"k", b"v")
        .unwrap();
    c.fork("refs", "rs/src", "rs/dst").unwrap();
    assert_eq!(code(c.fork("refs", "rs/src", "rs/dst")), Code::Exists);
    assert_eq!(
        c.get(Target::new("refs").repo("rs/dst"), b"k").unwrap(),
        Some(b"v".to_vec())
    );
    let busy = c.fork("refs", "rs/src", "rs/dst").unwrap_err(); // open now
    assert_eq!(busy.code(), Code::Busy);
    assert_eq!(busy.retry_ms(), Some(1000)); // a fork's hint
    assert_eq!(
        c.fork("refs", "rs/none", "rs/dst2").unwrap_err().retry_ms(),
        None
    );
    assert_eq!(code(c.fork("refs", "rs/none", "rs/dst2")), Code::NotFound);
    assert_eq!(code(c.fork("refs", "rs/src", "rs/src")), Code::BadRequest);
    assert_eq!(code(c.fork("refs", "rs/src", "../x")), Code::BadRepo);
}

#[test]
fn stats_and_live() {
    let d = Daemon::main();
    let c = connect(&d);
    let at = Target::new("refs").repo("rs/st");
    c.put(at, b"k", b"v").unwrap();
    let st = c.stats(Some("refs"), Some("rs/st")).unwrap();
    assert!(st.daemon["connections"] >= 1);
    assert_eq!(st.envs.len(), 1);
    let env = &st.envs[0];
    assert_eq!(
        (env.repo.as_deref(), env.store.as_str()),
        (Some("rs/st"), "refs")
    );
    assert!(Path::new(&env.dir).is_dir());
    assert_eq!(env.counters["map_size"], 64 << 20);
    assert_eq!(env.dbs["refs"]["entries"], 1);
    assert_eq!(env.dbs["other"]["entries"], 0);
    assert!(c
        .stats(None, None)
        .unwrap()
        .envs
        .iter()
        .any(|e| e.repo.as_deref() == Some("rs/st")));
    assert_eq!(code(c.stats(Some("refs"), Some("rs/none"))), Code::NotFound);
    assert_eq!(code(c.stats(Some("nosuchstore"), None)), Code::UnknownStore);
    let live = c.live(None, Some("rs/st")).unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].repo.as_deref(), live[0].store.as_str()),
        (Some("rs/st"), "refs")
    );
    assert_eq!(live[0].dir, env.dir);
    assert!(c
        .live(Some("refs"), None)
        .unwrap()
        .iter()
        .any(|e| e.dir == env.dir));
    assert_eq!(code(c.live(None, Some("../x"))), Code::BadRepo);
}

// ------------------------------------------------------------- pipelines

#[test]
fn pipeline() {
    let d = Daemon::main();
    let c = connect(&d);
    let mut p = c.pipeline();
    for i in 0..100 {
        p.put("refs", format!("p{}", i), format!("v{}", i)).unwrap();
    }
    assert_eq!(p.len(), 100);
    assert_eq!(code(c.get("refs", b"p7")), Code::Invalid); // replies pending
    assert!(p.execute().into_iter().all(|r| r == Ok(Reply::Written)));
    assert!(p.is_empty());
    // Requests in flight are not ordered against each other: the gets go
    // once the puts are acknowledged.
    p.get("refs", b"p7")
        .unwrap()
        .get("refs", b"absent")
        .unwrap();
    p.delete("refs", b"p8")
        .unwrap()
        .delete("refs", b"absent")
        .unwrap();
    assert_eq!(
        p.execute(),
        vec![
            Ok(Reply::Value(Some(b"v7".to_vec()))),
            Ok(Reply::Value(None)),
            Ok(Reply::Deleted(true)),
            Ok(Reply::Deleted(false))
        ]
    );
    p.get("refs", b"ok").unwrap();
    p.get("nosuchstore", b"k").unwrap();
    p.put(Target::new("refs").db("nosuchdb"), b"k", b"v")
        .unwrap();
    p.put("refs", b"after", b"v").unwrap();
    let got = p.execute();
    assert_eq!(got[0], Ok(Reply::Value(None)));
    assert_eq!(got[1].as_ref().unwrap_err().code(), Code::UnknownStore);
    assert_eq!(got[2].as_ref().unwrap_err().code(), Code::UnknownDb);
    assert_eq!(got[3], Ok(Reply::Written));
    assert_eq!(
        code(p.put("refs", b"big", vec![0u8; 2 << 20])),
        Code::TooLarge
    );
    assert!(p.is_empty());
    p.put("refs", b"dropped-reply", b"v").unwrap();
    drop(p); // collects and discards
    assert_eq!(
        c.get("refs", b"dropped-reply").unwrap(),
        Some(b"v".to_vec())
    );
}

#[test]
fn pipeline_limit() {
    let d = Daemon::main();
    let c = Client::connect_with(&Options::new().socket(&d.socket).max_inflight(2)).unwrap();
    let mut p = c.pipeline();
    p.put("refs", b"l1", b"v")
        .unwrap()
        .put("refs", b"l2", b"v")
        .unwrap();
    assert_eq!(code(p.put("refs", b"l3", b"v")), Code::Limit);
    assert_eq!(p.execute(), vec![Ok(Reply::Written), Ok(Reply::Written)]);
    assert_eq!(c.get("refs", b"l3").unwrap(), None); // usable, l3 not sent
}

// --------------------------------------------------------------- threads

#[test]
fn client_is_send() {
    let d = Daemon::main();
    let c = connect(&d);
    c.put("refs", b"k", b"v").unwrap();
    // Moved to another thread, used there, and moved back.
    let c = thread::spawn(move || {
        assert_eq!(c.get("refs", b"k").unwrap(), Some(b"v".to_vec()));
        c.put("refs", b"from-thread", b"1").unwrap();
        c
    })
    .join()
    .unwrap();
    assert_eq!(c.get("refs", b"from-thread").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn threads_with_their_own_clients() {
    let d = Daemon::main();
    let sock = d.socket.clone();
    let handles: Vec<_> = (0..8)
        .map(|n| {
            let sock = sock.clone();
            thread::spawn(move || {
                let c = Client::connect(Some(&sock)).unwrap();
                for i in 0..200 {
                    let k = format!("t{}-{}", n, i);
                    c.put("refs", &k, &k).unwrap();
                    assert_eq!(c.get("refs", &k).unwrap(), Some(k.into_bytes()));
                }
                let mut b = c.batch("refs").unwrap();
                b.put(format!("done{}", n), b"1").unwrap();
                b.commit().unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(connect(&d).count("refs").unwrap(), 8 * 201);
}

// ------------------------------------------------------------------ codes

#[test]
fn codes_round_trip() {
    let names = [
        "NOT_FOUND",
        "BAD_REQUEST",
        "UNKNOWN_STORE",
        "UNKNOWN_DB",
        "BAD_REPO",
        "BAD_KEY",
        "MAP_FULL",
        "TOO_LARGE",
        "BUSY",
        "FORBIDDEN",
        "INTERNAL",
        "BAD_VERSION",
        "EXISTS",
        "IO_ERROR",
        "COND_FAILED",
    ];
    for (i, name) in names.iter().enumerate() {
        let code = Code::from_raw(i as i32 + 1);
        assert_eq!(code.name(), *name);
        assert_eq!(code.raw(), i as i32 + 1);
        assert!(!code.is_connection());
    }
    for (n, name) in [
        (100, "CONNECT"),
        (101, "IO"),
        (102, "PROTOCOL"),
        (103, "NOMEM"),
        (104, "INVALID"),
        (105, "TIMEOUT"),
        (106, "LIMIT"),
        (107, "CLOSED"),
    ] {
        assert_eq!(Code::from_raw(n).name(), name);
        assert_eq!(Code::from_raw(n).raw(), n);
    }
    assert_eq!(Code::from_raw(77), Code::Other(77));
    assert_eq!(Code::Other(77).raw(), 77);
    assert_eq!(Code::Other(77).name(), "UNKNOWN");
    assert_eq!(Code::CondFailed.to_string(), "COND_FAILED");
}

// ----------------------------------------------------------------- README

mod readme {
    include!("../examples/readme.rs");

    pub fn call(socket: &Path) -> Result<(), storeclient::Error> {
        run(socket)
    }
}

#[test]
fn readme_example() {
    let text = fs::read_to_string(common::tree().join("README.md")).unwrap();
    let example =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/readme.rs"))
            .unwrap();
    let body = example
        .split("// README begin\n")
        .nth(1)
        .unwrap()
        .split("// README end\n")
        .next()
        .unwrap();
    assert!(
        text.contains(body),
        "README.md's Rust example differs from examples/readme.rs"
    );
    let d = Daemon::main();
    readme::call(&d.socket).unwrap();
}

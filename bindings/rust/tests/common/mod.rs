//! A real storesd on a temporary socket and data dir, for the tests.
//!
//! Started through the tree's notify-wait, which returns once storesd
//! has said READY=1 (never a sleep); stopped with SIGTERM when dropped.
//! `$BUILD` names the build directory (default `build`), relative to the
//! top of the tree.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The stores the tests use, shared with the Python suite.
pub const CONFIG: &str = include_str!("../../../tests.conf");

pub fn tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn build() -> PathBuf {
    tree().join(std::env::var("BUILD").unwrap_or_else(|_| "build".into()))
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under $TMPDIR, searchable by other users (the
/// Forbidden test connects as nobody).
pub fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "storeclient-rs.{}.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
        what
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

pub struct Daemon {
    pub dir: PathBuf,
    pub socket: PathBuf,
    waiter: Option<Child>,
    pid: Option<u32>,
}

impl Daemon {
    pub fn start(config: &str) -> Daemon {
        let dir = temp_dir("d");
        let socket = dir.join("sock");
        let conf = dir.join("storesd.conf");
        fs::write(&conf, config).unwrap();
        let log = fs::File::create(dir.join("storesd.log")).unwrap();
        let mut waiter = Command::new(build().join("tests/notify-wait"))
            .arg(dir.join("notify"))
            .arg("--")
            .arg(build().join("storesd"))
            .arg("-s")
            .arg(&socket)
            .arg("-d")
            .arg(dir.join("data"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("notify-wait (make build/tests/notify-wait)");
        let mut line = String::new();
        BufReader::new(waiter.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid = match line.trim().parse() {
            Ok(pid) => pid,
            Err(_) => {
                let _ = waiter.wait();
                panic!(
                    "storesd did not start:\n{}",
                    fs::read_to_string(dir.join("storesd.log")).unwrap_or_default()
                );
            }
        };
        Daemon {
            dir,
            socket,
            waiter: Some(waiter),
            pid: Some(pid),
        }
    }

    /// The usual stores.
    pub fn main() -> Daemon {
        Daemon::start(CONFIG)
    }

    /// SIGTERM and wait; storesd's exit status (0 when it stopped well).
    pub fn stop(&mut self) -> Option<i32> {
        let pid = self.pid.take()?;
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        self.waiter.take().unwrap().wait().unwrap().code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let status = self.stop();
        let _ = fs::remove_dir_all(&self.dir);
        if status.is_some() && !std::thread::panicking() {
            assert_eq!(status, Some(0), "storesd did not exit cleanly");
        }
    }
}

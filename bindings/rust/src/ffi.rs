//! The declarations of client/storeclient.h this crate uses, written by
//! hand (no bindgen: std only).  Each matches the header's prototype;
//! the header documents what each does.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

#[repr(C)]
pub struct sc_conn {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct sc_batch {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct sc_scan {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct sc_watch {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct sc_watch_opts {
    _opaque: [u8; 0],
}

pub const SC_EV_PUT: c_int = 1;
pub const SC_EV_DEL: c_int = 2;
pub const SC_EV_PROGRESS: c_int = 3;

#[repr(C)]
pub struct sc_event {
    pub rev: u64,
    pub op: c_int,
    pub key: *const c_void,
    pub klen: usize,
    pub val: *const c_void,
    pub vlen: usize,
}

#[repr(C)]
pub struct sc_options {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct sc_scan_opts {
    _opaque: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct sc_bytes {
    pub p: *const c_void,
    pub n: usize,
}

#[repr(C)]
pub struct sc_counter {
    pub name: *const c_char,
    pub value: u64,
}

#[repr(C)]
pub struct sc_stats_db {
    pub name: *const c_char,
    pub counters: *mut sc_counter,
    pub ncounters: usize,
}

#[repr(C)]
pub struct sc_stats_env {
    pub repo: *const c_char,
    pub store: *const c_char,
    pub dir: *const c_char,
    pub counters: *mut sc_counter,
    pub ncounters: usize,
    pub dbs: *mut sc_stats_db,
    pub ndbs: usize,
}

#[repr(C)]
pub struct sc_stats {
    pub daemon: *mut sc_counter,
    pub ndaemon: usize,
    pub envs: *mut sc_stats_env,
    pub nenvs: usize,
}

#[repr(C)]
pub struct sc_live_env {
    pub repo: *const c_char,
    pub store: *const c_char,
    pub dir: *const c_char,
    pub inflight: u64,
    pub idle_ms: u64,
}

#[repr(C)]
pub struct sc_live {
    pub envs: *mut sc_live_env,
    pub n: usize,
}

pub const SC_NOINDEX: usize = usize::MAX;

extern "C" {
    pub fn sc_options_new() -> *mut sc_options;
    pub fn sc_options_free(o: *mut sc_options);
    pub fn sc_options_set_path(o: *mut sc_options, path: *const c_char) -> c_int;
    pub fn sc_options_set_client_name(o: *mut sc_options, name: *const c_char) -> c_int;
    pub fn sc_options_set_timeout(o: *mut sc_options, ms: c_int) -> c_int;
    pub fn sc_options_set_max_inflight(o: *mut sc_options, n: usize) -> c_int;
    pub fn sc_options_set_max_queued(o: *mut sc_options, bytes: usize) -> c_int;
    pub fn sc_connect_opts(o: *const sc_options) -> *mut sc_conn;
    pub fn sc_close(c: *mut sc_conn);
    pub fn sc_errcode(c: *const sc_conn) -> c_int;
    pub fn sc_errmsg(c: *const sc_conn) -> *const c_char;
    pub fn sc_errname(code: c_int) -> *const c_char;
    pub fn sc_socket_path(c: *const sc_conn) -> *const c_char;
    pub fn sc_errindex(c: *const sc_conn) -> usize;
    pub fn sc_errretry_ms(c: *const sc_conn) -> i64;
    pub fn sc_server_version(c: *const sc_conn) -> *const c_char;
    pub fn sc_default_socket(buf: *mut c_char, n: usize) -> c_int;
    pub fn sc_free(p: *mut c_void);
    pub fn sc_ping(c: *mut sc_conn) -> c_int;

    pub fn sc_get(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        val: *mut *mut c_void,
        vlen: *mut usize,
    ) -> c_int;
    pub fn sc_put(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
    ) -> c_int;
    pub fn sc_del(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
    ) -> c_int;
    pub fn sc_put_if_absent(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
    ) -> c_int;
    pub fn sc_put_if_equals(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        old: *const c_void,
        oldlen: usize,
        val: *const c_void,
        vlen: usize,
    ) -> c_int;
    pub fn sc_del_if_equals(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        old: *const c_void,
        oldlen: usize,
    ) -> c_int;

    pub fn sc_append_get(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
    ) -> c_int;
    pub fn sc_append_put(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
    ) -> c_int;
    pub fn sc_append_del(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
    ) -> c_int;
    pub fn sc_collect(c: *mut sc_conn, val: *mut *const c_void, vlen: *mut usize) -> c_int;
    pub fn sc_pending(c: *const sc_conn) -> usize;

    pub fn sc_batch_begin(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
    ) -> *mut sc_batch;
    pub fn sc_batch_put(
        b: *mut sc_batch,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
    ) -> c_int;
    pub fn sc_batch_del(
        b: *mut sc_batch,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
    ) -> c_int;
    pub fn sc_batch_put_if_absent(
        b: *mut sc_batch,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
    ) -> c_int;
    pub fn sc_batch_expect(
        b: *mut sc_batch,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
    ) -> c_int;
    pub fn sc_batch_expect_absent(
        b: *mut sc_batch,
        db: *const c_char,
        key: *const c_void,
        klen: usize,
    ) -> c_int;
    pub fn sc_batch_clear(b: *mut sc_batch, db: *const c_char) -> c_int;
    pub fn sc_batch_count(b: *const sc_batch) -> usize;
    pub fn sc_batch_commit(b: *mut sc_batch) -> c_int;
    pub fn sc_batch_abort(b: *mut sc_batch);

    pub fn sc_mget(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        keys: *const sc_bytes,
        n: usize,
        vals: *mut *mut sc_bytes,
    ) -> c_int;
    pub fn sc_missing(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        keys: *const sc_bytes,
        n: usize,
        missing: *mut *mut usize,
        nmissing: *mut usize,
    ) -> c_int;
    pub fn sc_count(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        count: *mut u64,
    ) -> c_int;

    pub fn sc_scan_opts_new() -> *mut sc_scan_opts;
    pub fn sc_scan_opts_free(o: *mut sc_scan_opts);
    pub fn sc_scan_opts_set_prefix(o: *mut sc_scan_opts, p: *const c_void, n: usize) -> c_int;
    pub fn sc_scan_opts_set_start(o: *mut sc_scan_opts, p: *const c_void, n: usize) -> c_int;
    pub fn sc_scan_opts_set_end(o: *mut sc_scan_opts, p: *const c_void, n: usize) -> c_int;
    pub fn sc_scan_opts_set_limit(o: *mut sc_scan_opts, n: u64) -> c_int;
    pub fn sc_scan_opts_set_reverse(o: *mut sc_scan_opts, on: c_int) -> c_int;
    pub fn sc_scan_opts_set_keys_only(o: *mut sc_scan_opts, on: c_int) -> c_int;
    pub fn sc_scan_begin(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        o: *const sc_scan_opts,
    ) -> *mut sc_scan;
    pub fn sc_scan_next(
        s: *mut sc_scan,
        key: *mut *const c_void,
        klen: *mut usize,
        val: *mut *const c_void,
        vlen: *mut usize,
    ) -> c_int;
    pub fn sc_scan_end(s: *mut sc_scan);

    pub fn sc_snapshot(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        fd: c_int,
        compact: c_int,
        size: *mut u64,
    ) -> c_int;
    pub fn sc_fork(
        c: *mut sc_conn,
        src_repo: *const c_char,
        store: *const c_char,
        dst_repo: *const c_char,
    ) -> c_int;

    pub fn sc_get_stats(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        out: *mut *mut sc_stats,
    ) -> c_int;
    pub fn sc_stats_free(s: *mut sc_stats);
    pub fn sc_get_live(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        out: *mut *mut sc_live,
    ) -> c_int;
    pub fn sc_live_free(l: *mut sc_live);

    pub fn sc_last_rev(c: *const sc_conn) -> u64;
    pub fn sc_rev(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        rev: *mut u64,
    ) -> c_int;
    pub fn sc_watch_opts_new() -> *mut sc_watch_opts;
    pub fn sc_watch_opts_free(o: *mut sc_watch_opts);
    pub fn sc_watch_opts_set_key(o: *mut sc_watch_opts, p: *const c_void, n: usize) -> c_int;
    pub fn sc_watch_opts_set_prefix(o: *mut sc_watch_opts, p: *const c_void, n: usize) -> c_int;
    pub fn sc_watch_opts_set_from(o: *mut sc_watch_opts, rev: u64) -> c_int;
    pub fn sc_watch_begin(
        c: *mut sc_conn,
        repo: *const c_char,
        store: *const c_char,
        db: *const c_char,
        o: *const sc_watch_opts,
        rev: *mut u64,
    ) -> *mut sc_watch;
    pub fn sc_watch_next(w: *mut sc_watch, ev: *mut sc_event, timeout_ms: c_int) -> c_int;
    pub fn sc_watch_compacted(w: *const sc_watch, oldest: *mut u64, current: *mut u64) -> c_int;
    pub fn sc_watch_end(w: *mut sc_watch);
}

// The Rust row of the bindings' benchmark (bindings/bench/bench.py):
//
//     bench_get SOCKET STORE NKEYS SECONDS DEPTH
//
// The same loop as bindings/bench/get_c.c: gets keys "key000000".. in
// turn over one connection for SECONDS, DEPTH at a time (more than 1:
// pipelined), and prints the gets per second and the number of gets.
use std::path::Path;
use std::time::{Duration, Instant};

use storeclient::{Client, Reply};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: bench_get SOCKET STORE NKEYS SECONDS DEPTH");
        std::process::exit(2);
    }
    let store = args[2].as_str();
    let nkeys: u64 = args[3].parse().unwrap();
    let secs: f64 = args[4].parse().unwrap();
    let depth: u64 = args[5].parse().unwrap();
    let c = Client::connect(Some(Path::new(&args[1]))).unwrap_or_else(|e| {
        eprintln!("bench_get: {}", e);
        std::process::exit(1);
    });
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while Instant::now() < end {
        if depth == 1 {
            let v = c.get(store, format!("key{:06}", n % nkeys)).unwrap();
            assert!(v.is_some());
            n += 1;
            continue;
        }
        let mut p = c.pipeline();
        for i in 0..depth {
            p.get(store, format!("key{:06}", (n + i) % nkeys)).unwrap();
        }
        for r in p.execute() {
            assert!(matches!(r, Ok(Reply::Value(Some(_)))));
        }
        n += depth;
    }
    println!("{:.0} {}", n as f64 / t0.elapsed().as_secs_f64(), n);
}

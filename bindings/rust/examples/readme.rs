// The README's Rust example (tests/client.rs runs it and checks that
// README.md shows this text).
// README begin
use std::path::Path;
use storeclient::{Client, Code, ScanOptions, Target};

fn run(socket: &Path) -> Result<(), storeclient::Error> {
    let c = Client::connect(Some(socket))?; // None: the default socket
    let refs = Target::new("refs").repo("ox/mnist");
    c.put(refs, b"main", b"3f2a9c")?;
    assert_eq!(c.get(refs, b"main")?, Some(b"3f2a9c".to_vec()));
    // Move the ref only if it still points where we saw it.
    match c.put_if_equals(refs, b"main", b"0000", b"77e1d0") {
        Err(e) if e.code() == Code::CondFailed => println!("main moved"),
        other => other?,
    }
    let mut b = c.batch(refs)?; // all or nothing; dropped: aborted
    b.put(b"dev", b"77e1d0")?;
    b.expect(b"main", b"3f2a9c")?;
    b.commit()?;
    for entry in c.scan(refs, &ScanOptions::new().prefix("d"))? {
        let (k, v) = entry?;
        println!(
            "{} {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }
    Ok(())
}
// README end

#[allow(dead_code)]
fn main() {
    let socket = storeclient::default_socket();
    if let Err(e) = run(&socket) {
        eprintln!("{}", e);
        std::process::exit(1);
    }
}

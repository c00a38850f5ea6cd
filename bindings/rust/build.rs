//! Finds libstoreclient, in order:
//!   STORECLIENT_BUILD=DIR  a storesd build directory (linked with an
//!                          rpath to it, so tests run in place)
//!   pkg-config             an installed libstoreclient (make install)
//!   ../../build            the tree this crate sits in, built with make
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn in_tree(dir: PathBuf) {
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}

fn pkg_config() -> bool {
    let out = match Command::new("pkg-config")
        .args(["--libs-only-L", "libstoreclient"])
        .output()
    {
        Ok(out) if out.status.success() => out,
        _ => return false,
    };
    for flag in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
        }
    }
    true
}

fn main() {
    println!("cargo:rerun-if-env-changed=STORECLIENT_BUILD");
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(dir) = env::var_os("STORECLIENT_BUILD") {
        in_tree(PathBuf::from(dir));
    } else if !pkg_config() {
        let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
        in_tree(manifest.join("../../build"));
    }
    println!("cargo:rustc-link-lib=dylib=storeclient");
}

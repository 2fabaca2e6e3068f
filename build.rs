//! Compiles `proto/ipo_mtcti3.proto` with a pure-Rust protobuf compiler (protox), so building
//! the engine never needs `protoc` on the machine. It is the build script of `crates/acd-wire`,
//! the only crate that knows protobuf; paths are taken from the repository's root.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../..");
    let proto_dir = root.join("proto");
    let proto = proto_dir.join("ipo_mtcti3.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [&proto_dir])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}

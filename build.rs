//! Compiles `proto/ipo_mtcti3.proto` with a pure-Rust protobuf compiler (protox), so building
//! the engine never needs `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/ipo_mtcti3.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}

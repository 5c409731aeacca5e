//! Compiles `proto/stampede.proto` with protox (pure Rust): no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let file = proto_dir.join("stampede.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let fds = protox::compile([&file], [&proto_dir])?;
    // Data files are `Bytes`: the coordinator builds one assignment and hands
    // every agent a reference-counted view of the same buffer, not a copy.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".stampede.v1.DataFile.content")
        .compile_fds(fds)?;
    Ok(())
}

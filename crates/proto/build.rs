//! Compiles `proto/stampede.proto` with protox (pure Rust): no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let file = proto_dir.join("stampede.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let fds = protox::compile([&file], [&proto_dir])?;
    // Data files are `Bytes`: the coordinator builds one assignment and hands
    // every agent a reference-counted view of the same buffer, not a copy.
    // Histograms too: a snapshot decoded from the stream's buffer holds
    // views of it (no allocation and copy per histogram, hundreds of
    // thousands a second at 100 agents), laid out as they arrived.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".stampede.v1.DataFile.content")
        .bytes(".stampede.v1.GroupSeries.duration")
        .bytes(".stampede.v1.RequestSeries.trends")
        .bytes(".stampede.v1.MetricSeries.trend")
        .bytes(".stampede.v1.ScenarioSeries")
        .compile_fds(fds)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .compile_protos(&["berth/shim.proto"], &["berth"])?;
    // CRI v1: kubelet and crictl are the clients; the e2e tests use the client too.
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&["cri/runtime_v1.proto"], &["cri"])?;
    println!("cargo:rerun-if-changed=berth");
    println!("cargo:rerun-if-changed=cri");
    Ok(())
}

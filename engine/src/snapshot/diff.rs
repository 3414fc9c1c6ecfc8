//! A snapshot's changes as an OCI layer: its upper dir written as OCI
//! wants it (whiteouts as `.wh.` files, opaque dirs marked;
//! `berth_kernel::cp`), through a pipe straight into the one-pass
//! unpacker a pull uses, so the layer is stored, hashed and extracted once.

use crate::error::{Error, Result};
use crate::image::unpack::{self, Expect, Unpacked};
use crate::paths::Paths;
use std::path::PathBuf;

/// As [`layer_of`], for an upper dir that is not needed after (a build
/// step's, removed next, nothing mounted on it): the empty `skip` paths
/// are taken out and the dir itself becomes the layer's files, so only
/// the blob is written.
pub(crate) async fn layer_taking(paths: &Paths, upper: PathBuf, skip: &[&str]) -> Result<Unpacked> {
    let skip: Vec<String> = skip.iter().map(|s| s.to_string()).collect();
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::system("pipe", e))?;
    let dir = upper.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::from(w));
        let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
        let view = berth_kernel::cp::View::of_dir(&upper)?;
        view.remove_empty(&skip)?;
        view.layer(&[], out)
    });
    let p = paths.clone();
    let hashed = tokio::task::spawn_blocking(move || unpack::hash(&p, std::fs::File::from(r)));
    let written = writer.await?.map_err(|e| Error::system("write the layer", e));
    let hashed = hashed.await?;
    // Only a tar written whole is the dir's layer.
    written?;
    let paths = paths.clone();
    tokio::task::spawn_blocking(move || hashed?.adopt(&paths, &dir)).await?
}

/// Stores the changes in `upper` as a layer (blob and unpacked dir);
/// `skip`: paths left out while they are empty (the runtime's mount points).
pub(crate) async fn layer_of(paths: &Paths, upper: PathBuf, skip: &[&str]) -> Result<Unpacked> {
    let skip: Vec<String> = skip.iter().map(|s| s.to_string()).collect();
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::system("pipe", e))?;
    let writer = tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::from(w));
        let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
        berth_kernel::cp::View::of_dir(&upper).and_then(|v| v.layer(&skip, out))
    });
    let paths = paths.clone();
    let expect = Expect { unpack: true, ..Default::default() };
    let unpacked = tokio::task::spawn_blocking(move || {
        unpack::layer(&paths, std::fs::File::from(r), &expect, |e| unpack::input_error("commit", e))
    })
    .await?;
    writer.await?.map_err(|e| Error::system("write the layer", e))?;
    unpacked
}

//! save, load: image archives (Docker's format, which is also an OCI
//! layout) between berthd and a file or a pipe.

use crate::client::Client;
use crate::Failure;
use berth_proto::engine as pb;
use std::io::IsTerminal;
use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;

#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Write to a file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

pub async fn save(c: &mut Client, a: SaveArgs) -> Result<i32, Failure> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::new("Cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    }
    let mut stream = c.save_images(pb::SaveImagesRequest { names: a.images }).await?.into_inner();
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &a.output {
        Some(p) => Box::new(tokio::fs::File::create(p).await.map_err(|e| Failure::new(format!("Error: create {p}: {e}")))?),
        None => Box::new(tokio::io::stdout()),
    };
    let copied: Result<(), Failure> = async {
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk?.data).await.map_err(|e| Failure::new(format!("Error: write: {e}")))?;
        }
        out.flush().await.map_err(|e| Failure::new(format!("Error: write: {e}")))
    }
    .await;
    if copied.is_err() {
        // No half archive left behind under the name asked for.
        if let Some(p) = &a.output {
            let _ = std::fs::remove_file(p);
        }
    }
    copied.map(|()| 0)
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Read from a file instead of standard input.
    #[arg(short, long)]
    input: Option<String>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

pub async fn load(c: &mut Client, a: LoadArgs) -> Result<i32, Failure> {
    let input: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match &a.input {
        Some(p) => Box::new(tokio::fs::File::open(p).await.map_err(|e| Failure::new(format!("Error: open {p}: {e}")))?),
        None if std::io::stdin().is_terminal() => return Err(Failure::new("requested load from stdin, but stdin is empty")),
        None => Box::new(tokio::io::stdin()),
    };
    let (rx, reader) = super::upload(input, |data| pb::DataChunk { data });
    let res = c.load_images(rx).await;
    if let Ok(Err(e)) = reader.await {
        return Err(Failure::new(format!("Error: read input: {e}")));
    }
    for img in res?.into_inner().images {
        if a.quiet {
            continue;
        }
        if img.tags.is_empty() {
            println!("Loaded image ID: {}", img.id);
        }
        for t in img.tags {
            println!("Loaded image: {t}");
        }
    }
    Ok(0)
}

//! save, load: image archives (Docker's format, which is also an OCI
//! layout) between berthd and a file or a pipe.

use crate::client::{next_chunk, query, reader_body, Client};
use crate::Failure;
use hyper::Method;
use std::io::IsTerminal;
use tokio::io::AsyncWriteExt;

#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Write to a file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

pub async fn save(c: &Client, a: SaveArgs) -> Result<i32, Failure> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::new(
            "Cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let q = query(a.images.iter().map(|n| ("names", n.clone())));
    let resp =
        c.checked(Method::GET, &format!("/images/get?{q}"), &[], crate::client::empty()).await?;
    write_out(resp.into_body(), a.output.as_deref()).await.map(|()| 0)
}

/// Writes an answer's body to the file `output` (none left behind if it
/// fails) or to standard output.
pub(super) async fn write_out(
    mut body: hyper::body::Incoming,
    output: Option<&str>,
) -> Result<(), Failure> {
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match output {
        Some(p) => Box::new(
            tokio::fs::File::create(p)
                .await
                .map_err(|e| Failure::new(format!("Error: create {p}: {e}")))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    let copied: Result<(), Failure> = async {
        while let Some(chunk) = next_chunk(&mut body).await? {
            out.write_all(&chunk).await.map_err(|e| Failure::new(format!("Error: write: {e}")))?;
        }
        out.flush().await.map_err(|e| Failure::new(format!("Error: write: {e}")))
    }
    .await;
    if copied.is_err() {
        // No half archive left behind under the name asked for.
        if let Some(p) = output {
            let _ = std::fs::remove_file(p);
        }
    }
    copied
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

pub async fn load(c: &Client, a: LoadArgs) -> Result<i32, Failure> {
    let body = match &a.input {
        Some(p) => reader_body(
            tokio::fs::File::open(p)
                .await
                .map_err(|e| Failure::new(format!("Error: open {p}: {e}")))?,
        ),
        None if std::io::stdin().is_terminal() => {
            return Err(Failure::new("requested load from stdin, but stdin is empty"))
        }
        None => reader_body(tokio::io::stdin()),
    };
    let resp = c
        .checked(Method::POST, &format!("/images/load?quiet={}", u8::from(a.quiet)), &[], body)
        .await?;
    if a.quiet {
        crate::client::each_json(resp.into_body(), |m| super::transfer::failed(&m)).await?;
    } else {
        super::transfer::show_progress(resp.into_body(), false).await?;
    }
    Ok(0)
}

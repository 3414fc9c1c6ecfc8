//! import, images, rmi.

use crate::client::Client;
use crate::units::{ago, human_size, short_id};
use crate::Failure;
use berth_proto::engine as pb;
use tokio::io::AsyncReadExt;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, STOPSIGNAL, LABEL, EXPOSE).
    #[arg(short = 'c', long = "change")]
    changes: Vec<String>,
    /// Commit message.
    #[arg(short, long, default_value = "")]
    message: String,
    /// Tarball, or - for stdin.
    file: String,
    /// NAME[:TAG]
    reference: Option<String>,
}

pub async fn import(c: &mut Client, a: ImportArgs) -> Result<i32, Failure> {
    let mut input: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if a.file == "-" {
        Box::new(tokio::io::stdin())
    } else {
        Box::new(tokio::fs::File::open(&a.file).await.map_err(|e| Failure { message: format!("Error: open {}: {e}", a.file), code: 1 })?)
    };
    let header = pb::ImportHeader { reference: a.reference.unwrap_or_default(), changes: a.changes, message: a.message };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(pb::ImportChunk { header: Some(header), data: Vec::new() }).await.ok();
    let reader = tokio::spawn(async move {
        loop {
            let mut buf = vec![0u8; 256 * 1024];
            match input.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(pb::ImportChunk { header: None, data: buf }).await.is_err() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    });
    let res = c.import_image(tokio_stream::wrappers::ReceiverStream::new(rx)).await;
    if let Ok(Err(e)) = reader.await {
        return Err(Failure { message: format!("Error: read input: {e}"), code: 1 });
    }
    println!("{}", res?.into_inner().id);
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Only show image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show full ids.
    #[arg(long)]
    no_trunc: bool,
}

pub async fn list(c: &mut Client, a: ImagesArgs) -> Result<i32, Failure> {
    let images = c.list_images(pb::ListImagesRequest {}).await?.into_inner().images;
    let id = |i: &pb::ImageSummary| if a.no_trunc { i.id.clone() } else { short_id(&i.id).to_owned() };
    if a.quiet {
        for i in &images {
            println!("{}", id(i));
        }
        return Ok(0);
    }
    println!("{:<40} {:<16} {:<14} {:<24} SIZE", "REPOSITORY", "TAG", "IMAGE ID", "CREATED");
    for i in &images {
        let tags: Vec<(String, String)> = if i.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.repo_tags
                .iter()
                .map(|t| match t.rfind(':').filter(|&p| !t[p..].contains('/')) {
                    Some(p) => (t[..p].to_owned(), t[p + 1..].to_owned()),
                    None => (t.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in tags {
            println!("{:<40} {:<16} {:<14} {:<24} {}", repo, tag, id(i), ago(i.created_unix), human_size(i.size));
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Remove even if tagged several times or used by containers (untags only).
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

pub async fn remove(c: &mut Client, a: RmiArgs) -> Result<i32, Failure> {
    let mut code = 0;
    for name in &a.images {
        match c.remove_image(pb::RemoveImageRequest { reference: name.clone(), force: a.force }).await {
            Ok(r) => {
                let r = r.into_inner();
                for t in r.untagged {
                    println!("Untagged: {t}");
                }
                for d in r.deleted {
                    println!("Deleted: {d}");
                }
            }
            Err(s) => {
                eprintln!("{}", Failure::from(s).message);
                code = 1;
            }
        }
    }
    Ok(code)
}

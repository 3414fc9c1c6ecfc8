//! import, images, rmi.

use crate::client::Client;
use crate::units::{ago, human_size, short_id};
use crate::Failure;
use berth_proto::engine as pb;
use tokio_stream::StreamExt;

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
    let input: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if a.file == "-" {
        Box::new(tokio::io::stdin())
    } else {
        Box::new(tokio::fs::File::open(&a.file).await.map_err(|e| Failure { message: format!("Error: open {}: {e}", a.file), code: 1 })?)
    };
    let header = pb::ImportHeader { reference: a.reference.unwrap_or_default(), changes: a.changes, message: a.message };
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(pb::ImportChunk { header: Some(header), data: Vec::new() }).await.ok();
    drop(tx);
    let (data, reader) = super::upload(input, |data| pb::ImportChunk { header: None, data });
    let res = c.import_image(tokio_stream::wrappers::ReceiverStream::new(rx).chain(data)).await;
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
    /// Show digests.
    #[arg(long)]
    digests: bool,
}

/// `repo:tag` → (repo, tag); `repo@digest` → (repo, digest).
fn split_ref(t: &str, sep: char) -> (String, String) {
    match t.rfind(sep).filter(|&p| !t[p..].contains('/')) {
        Some(p) => (t[..p].to_owned(), t[p + 1..].to_owned()),
        None => (t.to_owned(), "<none>".into()),
    }
}

/// The rows `docker images` shows for an image: one per tag (with the
/// digest of its repository), one per digest of an untagged repository.
fn rows(i: &pb::ImageSummary) -> Vec<(String, String, String)> {
    let digests: Vec<(String, String)> = i.repo_digests.iter().map(|d| split_ref(d, '@')).collect();
    let digest_of = |repo: &str| digests.iter().find(|(r, _)| r == repo).map_or("<none>".to_owned(), |(_, d)| d.clone());
    let mut out: Vec<(String, String, String)> = i
        .repo_tags
        .iter()
        .map(|t| {
            let (repo, tag) = split_ref(t, ':');
            let d = digest_of(&repo);
            (repo, tag, d)
        })
        .collect();
    for (repo, d) in &digests {
        if !out.iter().any(|(r, _, _)| r == repo) {
            out.push((repo.clone(), "<none>".into(), d.clone()));
        }
    }
    if out.is_empty() {
        out.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    out
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
    let digest_col = |d: &str| if a.digests { format!("{d:<72} ") } else { String::new() };
    println!("{:<40} {:<16} {}{:<14} {:<24} SIZE", "REPOSITORY", "TAG", digest_col("DIGEST"), "IMAGE ID", "CREATED");
    for i in &images {
        for (repo, tag, digest) in rows(i) {
            if !a.digests && tag == "<none>" && repo != "<none>" && !i.repo_tags.is_empty() {
                continue;
            }
            println!("{:<40} {:<16} {}{:<14} {:<24} {}", repo, tag, digest_col(&digest), id(i), ago(i.created_unix), human_size(i.size));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pair_tags_with_their_repository_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let img = pb::ImageSummary {
            repo_tags: vec!["busybox:latest".into(), "127.0.0.1:5000/bb:1".into()],
            repo_digests: vec![format!("busybox@{d}"), format!("other@{d}")],
            ..Default::default()
        };
        assert_eq!(
            rows(&img),
            vec![("busybox".into(), "latest".into(), d.clone()), ("127.0.0.1:5000/bb".into(), "1".into(), "<none>".into()), ("other".into(), "<none>".into(), d.clone()),]
        );
        assert_eq!(rows(&pb::ImageSummary::default()), vec![("<none>".into(), "<none>".into(), "<none>".into())]);
    }
}

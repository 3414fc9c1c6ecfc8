//! diff (what a container changed: `C`, `A`, `D` lines), export (its
//! filesystem as a tar archive, to a file or a pipe) and commit (its
//! changes as a new image).

use crate::client::{query, seg, Client};
use crate::Failure;
use berth_docker_api::container::Change;
use berth_docker_api::IdResponse;
use hyper::Method;
use std::io::IsTerminal;

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    container: String,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write to a file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
    container: String,
}

#[derive(Debug, clap::Args)]
pub struct CommitArgs {
    /// Author (e.g. "Jane Doe <jane@example.com>").
    #[arg(short, long)]
    author: Option<String>,
    /// Commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENV, LABEL, ...).
    #[arg(short, long)]
    change: Vec<String>,
    /// Pause the container while committing.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pause: bool,
    container: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

pub async fn commit(c: &Client, a: CommitArgs) -> Result<i32, Failure> {
    let (repo, tag) = match a.reference.as_deref() {
        // A colon after the last slash is the tag's.
        Some(r) => match r.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((repo, tag)) => (repo.to_owned(), tag.to_owned()),
            None => (r.to_owned(), String::new()),
        },
        None => (String::new(), String::new()),
    };
    let mut pairs = vec![
        ("container", a.container.clone()),
        ("repo", repo),
        ("tag", tag),
        ("author", a.author.unwrap_or_default()),
        ("comment", a.message.unwrap_or_default()),
        ("pause", a.pause.to_string()),
    ];
    pairs.extend(a.change.into_iter().map(|ch| ("changes", ch)));
    let v: IdResponse = c.json(Method::POST, &format!("/commit?{}", query(pairs)), None).await?;
    println!("{}", v.id);
    Ok(0)
}

pub async fn diff(c: &Client, a: DiffArgs) -> Result<i32, Failure> {
    let changes: Vec<Change> = c.get(&format!("/containers/{}/changes", seg(&a.container))).await?;
    for ch in changes {
        let kind = match ch.kind {
            1 => "A",
            2 => "D",
            _ => "C",
        };
        println!("{kind} {}", ch.path);
    }
    Ok(0)
}

pub async fn export(c: &Client, a: ExportArgs) -> Result<i32, Failure> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::new(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let resp = c
        .checked(
            Method::GET,
            &format!("/containers/{}/export", seg(&a.container)),
            &[],
            crate::client::empty(),
        )
        .await?;
    super::archive::write_out(resp.into_body(), a.output.as_deref()).await.map(|()| 0)
}

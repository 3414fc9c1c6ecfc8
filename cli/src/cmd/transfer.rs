//! pull, push, tag. Pull shows one line per layer, redrawn in place as a
//! progress bar on a terminal, and plain state changes otherwise (as
//! `docker pull` does).

use crate::client::Client;
use crate::units::human_size;
use crate::Failure;
use berth_proto::engine as pb;
use std::io::{IsTerminal, Write};
use tokio_stream::StreamExt;

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Pull for this platform (os/arch[/variant]) instead of the node's.
    #[arg(long, default_value = "")]
    platform: String,
    /// Print only the image reference at the end.
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG|@DIGEST]
    reference: String,
}

fn short(d: &str) -> &str {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    &hex[..hex.len().min(12)]
}

/// The layer lines of a pull in progress.
struct Board {
    tty: bool,
    quiet: bool,
    lines: Vec<(String, String)>,
    drawn: usize,
}

impl Board {
    fn set(&mut self, digest: &str, text: String) {
        let id = short(digest).to_owned();
        match self.lines.iter_mut().find(|(d, _)| *d == id) {
            Some((_, t)) if *t == text => return,
            Some((_, t)) => *t = text.clone(),
            None => self.lines.push((id.clone(), text.clone())),
        }
        if self.quiet {
            return;
        }
        if self.tty {
            let mut out = std::io::stdout().lock();
            if self.drawn > 0 {
                let _ = write!(out, "\x1b[{}A", self.drawn);
            }
            for (d, t) in &self.lines {
                let _ = writeln!(out, "\x1b[2K{d}: {t}");
            }
            self.drawn = self.lines.len();
            let _ = out.flush();
        } else if !text.starts_with("Downloading") {
            println!("{id}: {text}");
        }
    }
}

fn bar(current: u64, total: u64) -> String {
    let width = 50usize;
    let filled = if total == 0 { width } else { ((current as f64 / total as f64) * width as f64) as usize }.min(width);
    let arrow = if filled < width { ">" } else { "" };
    format!("Downloading [{}{}{}] {}/{}", "=".repeat(filled.saturating_sub(1)), arrow, " ".repeat(width - filled.max(1)), human_size(current), human_size(total))
}

/// Docker's first line: `<tag>: Pulling from <repository path>`.
fn pulling_from(reference: &str) -> String {
    let (name, what) = match reference.split_once('@') {
        Some((n, d)) => (n, d.to_owned()),
        None => match reference.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((n, t)) => (n, t.to_owned()),
            None => (reference, "latest".to_owned()),
        },
    };
    let name = name.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(name, |(n, _)| n);
    let path = match crate::auth::split_registry(name) {
        ("docker.io", p) if !p.contains('/') => format!("library/{p}"),
        (_, p) => p.to_owned(),
    };
    format!("{what}: Pulling from {path}")
}

pub async fn pull(c: &mut Client, a: PullArgs) -> Result<i32, Failure> {
    let auth = crate::auth::for_reference(&a.reference);
    let req = pb::PullImageRequest { reference: a.reference.clone(), platform: a.platform, auth };
    let mut stream = c.pull_image(req).await?.into_inner();
    let mut board = Board { tty: std::io::stdout().is_terminal(), quiet: a.quiet, lines: Vec::new(), drawn: 0 };
    let mut resolved = String::new();
    let mut fetched = false;
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        if !a.quiet && resolved.is_empty() {
            println!("{}", pulling_from(&a.reference));
        }
        if !ev.resolved_digest.is_empty() {
            resolved = ev.resolved_digest.clone();
        }
        if let Some(l) = ev.layer {
            let text = match l.state.as_str() {
                "waiting" => "Pulling fs layer".to_owned(),
                "downloading" => bar(l.current, l.total),
                "exists" => "Already exists".to_owned(),
                _ => {
                    fetched = true;
                    "Pull complete".to_owned()
                }
            };
            board.set(&l.digest, text);
        }
        if let Some(img) = ev.image {
            if a.quiet {
                println!("{}", img.repo_tags.first().cloned().unwrap_or(img.id));
            } else {
                println!("Digest: {resolved}");
                let name = &a.reference;
                if fetched {
                    println!("Status: Downloaded newer image for {name}");
                } else {
                    println!("Status: Image is up to date for {name}");
                }
            }
            return Ok(0);
        }
    }
    Err(Failure { message: "Error: the pull ended without a result".into(), code: 1 })
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// NAME[:TAG]
    reference: String,
}

pub async fn push(c: &mut Client, a: PushArgs) -> Result<i32, Failure> {
    let auth = crate::auth::for_reference(&a.reference);
    let mut stream = c.push_image(pb::PushImageRequest { reference: a.reference.clone(), auth }).await?.into_inner();
    println!("The push refers to repository [{}]", a.reference.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(a.reference.as_str(), |(r, _)| r));
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        if !ev.blob_digest.is_empty() {
            println!("{}: {}", short(&ev.blob_digest), ev.blob_status);
        }
        if !ev.digest.is_empty() {
            println!("{}: digest: {} size: {}", ev.tag, ev.digest, ev.size);
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub async fn tag(c: &mut Client, a: TagArgs) -> Result<i32, Failure> {
    c.tag_image(pb::TagImageRequest { source: a.source, target: a.target }).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::pulling_from;

    #[test]
    fn pulling_from_names_the_repository_path() {
        assert_eq!(pulling_from("busybox"), "latest: Pulling from library/busybox");
        assert_eq!(pulling_from("team/app:v1"), "v1: Pulling from team/app");
        assert_eq!(pulling_from("localhost:5000/tools/bb:2"), "2: Pulling from tools/bb");
        assert_eq!(pulling_from("127.0.0.1:5000/x@sha256:ab"), "sha256:ab: Pulling from x");
    }
}

//! pull and push, and the renderer of Docker's progress messages they
//! (and import) answer with: one line per layer, redrawn in place on a
//! terminal, state changes only otherwise, as the docker CLI shows them.
//! Credentials come from the CLI's config.json, sent as `X-Registry-Auth`.

use crate::client::{image_seg, query, Client};
use crate::Failure;
use berth_docker_api::progress::Message;
use hyper::body::Incoming;
use hyper::Method;
use std::io::{IsTerminal, Write};

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

/// A progress stream's error message as the transfer's failure.
pub(crate) fn failed(m: &Message) -> Result<(), Failure> {
    let detail = m.error_detail.as_ref().map_or("", |d| d.message.as_str());
    match [m.error.as_str(), detail].into_iter().find(|e| !e.is_empty()) {
        Some(e) => Err(Failure::new(e.to_owned())),
        None => Ok(()),
    }
}

/// The layer lines of a transfer in progress.
struct Board<W: Write> {
    out: W,
    tty: bool,
    lines: Vec<(String, String)>,
    drawn: usize,
}

impl<W: Write> Board<W> {
    /// Shows one message; an `error` in it is the transfer's failure.
    fn show(&mut self, m: &Message) -> Result<(), Failure> {
        failed(m)?;
        let status = m.status.as_str();
        if !m.stream.is_empty() {
            let _ = write!(self.out, "{}", m.stream);
            return Ok(());
        }
        let id = m.id.as_str();
        if id.is_empty() {
            if !status.is_empty() {
                let _ = writeln!(self.out, "{status}");
            }
            return Ok(());
        }
        let progress = m.progress.as_str();
        let text =
            if progress.is_empty() { status.to_owned() } else { format!("{status} {progress}") };
        match self.lines.iter_mut().find(|(d, _)| d == id) {
            Some((_, t)) if *t == text => return Ok(()),
            Some((_, t)) => *t = text.clone(),
            None => {
                self.lines.push((id.to_owned(), text.clone()));
                if self.tty {
                    // A new line below the others.
                    let _ = writeln!(self.out);
                    self.drawn += 1;
                }
            }
        }
        if self.tty {
            let at = self.lines.iter().position(|(d, _)| d == id).unwrap_or(0);
            let up = self.drawn - at;
            let _ = write!(self.out, "\x1b[{up}A\r\x1b[2K{id}: {text}\x1b[{up}B\r");
        } else if progress.is_empty() {
            let _ = writeln!(self.out, "{id}: {text}");
        }
        let _ = self.out.flush();
        Ok(())
    }
}

/// Renders a progress stream to stdout (or stderr with `to_stderr`, as
/// `run` shows its pull), until it ends; an error message fails it.
pub async fn show_progress(body: Incoming, to_stderr: bool) -> Result<(), Failure> {
    let (out, tty): (Box<dyn Write>, bool) = if to_stderr {
        (Box::new(std::io::stderr()), std::io::stderr().is_terminal())
    } else {
        (Box::new(std::io::stdout()), std::io::stdout().is_terminal())
    };
    let mut board = Board { out, tty, lines: Vec::new(), drawn: 0 };
    crate::client::each_json(body, |m: Message| board.show(&m)).await
}

/// `X-Registry-Auth` for a reference, from the CLI's config.json.
fn auth_header(reference: &str) -> Vec<(&'static str, String)> {
    crate::auth::header_for(reference).map(|h| vec![("X-Registry-Auth", h)]).unwrap_or_default()
}

/// `POST /images/create?fromImage=&tag=`.
async fn start_pull(c: &Client, reference: &str, platform: &str) -> Result<Incoming, Failure> {
    let (name, tag) = match reference.split_once('@') {
        Some((n, d)) => (n.to_owned(), d.to_owned()),
        None => match reference.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((n, t)) => (n.to_owned(), t.to_owned()),
            None => (reference.to_owned(), "latest".to_owned()),
        },
    };
    let mut q = vec![("fromImage", name), ("tag", tag)];
    if !platform.is_empty() {
        q.push(("platform", platform.to_owned()));
    }
    let resp = c
        .checked(
            Method::POST,
            &format!("/images/create?{}", query(q)),
            &auth_header(reference),
            crate::client::empty(),
        )
        .await?;
    Ok(resp.into_body())
}

pub async fn pull(c: &Client, a: PullArgs) -> Result<i32, Failure> {
    let body = start_pull(c, &a.reference, &a.platform).await?;
    if a.quiet {
        crate::client::each_json(body, |m: Message| failed(&m)).await?;
        println!("{}", full_name(&a.reference));
        return Ok(0);
    }
    show_progress(body, false).await?;
    println!("{}", full_name(&a.reference));
    Ok(0)
}

/// The name docker prints after a pull: `docker.io/library/busybox:latest`.
fn full_name(reference: &str) -> String {
    let (host, rest) = crate::auth::split_registry(reference);
    let rest = if host == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest.to_owned()
    };
    let rest = if rest.contains('@') || rest.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'))
    {
        rest
    } else {
        format!("{rest}:latest")
    };
    format!("{host}/{rest}")
}

/// The pull `run` and `create` make of a missing image: progress on stderr.
pub async fn pull_quietly(c: &Client, reference: &str) -> Result<(), Failure> {
    let body = start_pull(c, reference, "").await?;
    show_progress(body, true).await
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// NAME[:TAG]
    reference: String,
}

pub async fn push(c: &Client, a: PushArgs) -> Result<i32, Failure> {
    push_reference(c, &a.reference).await.map(|()| 0)
}

/// Pushes one `name[:tag]`, its progress shown.
pub(crate) async fn push_reference(c: &Client, reference: &str) -> Result<(), Failure> {
    let (name, tag) = match reference.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((n, t)) => (n.to_owned(), t.to_owned()),
        None => (reference.to_owned(), String::new()),
    };
    let resp = c
        .checked(
            Method::POST,
            &format!("/images/{}/push?{}", image_seg(&name), query([("tag", tag)])),
            &auth_header(reference),
            crate::client::empty(),
        )
        .await?;
    show_progress(resp.into_body(), false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulled_names_are_docker_s_full_names() {
        assert_eq!(full_name("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full_name("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(full_name("localhost:5000/tools/bb"), "localhost:5000/tools/bb:latest");
        assert_eq!(full_name("127.0.0.1:5000/x@sha256:ab"), "127.0.0.1:5000/x@sha256:ab");
    }

    #[test]
    fn progress_lines_without_a_terminal() {
        let mut out = Vec::new();
        let mut b = Board { out: &mut out, tty: false, lines: Vec::new(), drawn: 0 };
        let downloading =
            Message { progress: "[=>  ] 1B/2B".into(), ..Message::status("Downloading", "abc") };
        for m in [
            Message::status("Pulling from library/busybox", "latest"),
            Message::status("Pulling fs layer", "abc"),
            downloading,
            Message::status("Pull complete", "abc"),
            Message::status("Digest: sha256:00", ""),
        ] {
            b.show(&m).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "latest: Pulling from library/busybox\nabc: Pulling fs layer\nabc: Pull complete\nDigest: sha256:00\n");
        let mut sink = Vec::new();
        let mut b = Board { out: &mut sink, tty: false, lines: Vec::new(), drawn: 0 };
        assert!(b.show(&Message::error("manifest unknown")).is_err());
    }
}

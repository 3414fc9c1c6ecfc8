//! remotecommand over SPDY (`kubectl exec`, `crictl exec`): the client
//! opens one stream per channel — error, stdin, stdout, stderr (not with a
//! terminal), resize (terminal, v3+) — marked by the `streamtype` header;
//! we wait for the ones the request asked for, run the command, copy, and
//! end with its status on the error stream: JSON (a Kubernetes `Status`) in
//! v4/v5, plain text in v2/v3.

use super::spdy::{Incoming, Writer, REFUSED_STREAM};
use berth_engine::container::{ExecProcess, ExecStreamOptions, Terminal};
use berth_engine::Engine;
use berth_proto::cri;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinSet;

/// How long the client has to open its streams (kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Output still copied after the command exited (a background process may
/// hold the pipes or the terminal forever).
const DRAIN: Duration = Duration::from_secs(2);

/// The streams a request asks for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Want {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl From<&cri::ExecRequest> for Want {
    fn from(r: &cri::ExecRequest) -> Self {
        Self { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, tty: r.tty }
    }
}

#[derive(Default)]
pub(super) struct Streams {
    pub error: Option<Incoming>,
    pub stdin: Option<Incoming>,
    pub stdout: Option<Incoming>,
    pub stderr: Option<Incoming>,
    pub resize: Option<Incoming>,
}

impl Streams {
    fn complete(&self, req: Want, resize: bool) -> bool {
        self.error.is_some()
            && (!req.stdin || self.stdin.is_some())
            && (!req.stdout || self.stdout.is_some())
            && (!req.stderr || req.tty || self.stderr.is_some())
            && (!(req.tty && resize) || self.resize.is_some())
    }

    /// Files a stream under its type; false for one the request did not ask for.
    fn take(&mut self, req: Want, s: Incoming) -> Result<(), Incoming> {
        let slot = match s.header("streamtype") {
            Some("error") => &mut self.error,
            Some("stdin") if req.stdin => &mut self.stdin,
            Some("stdout") if req.stdout => &mut self.stdout,
            Some("stderr") if req.stderr && !req.tty => &mut self.stderr,
            Some("resize") if req.tty => &mut self.resize,
            _ => return Err(s),
        };
        if slot.is_some() {
            return Err(s);
        }
        *slot = Some(s);
        Ok(())
    }
}

/// Waits for the streams `want` needs; `None` if the client went away or
/// took too long.
pub(super) async fn accept(
    want: Want,
    proto: &str,
    w: &Writer,
    incoming: &mut Receiver<Incoming>,
) -> Option<Streams> {
    let resize = proto != "v2.channel.k8s.io";
    let mut streams = Streams::default();
    let deadline = tokio::time::sleep(STREAM_CREATION_TIMEOUT);
    tokio::pin!(deadline);
    while !streams.complete(want, resize) {
        tokio::select! {
            s = incoming.recv() => match s {
                Some(s) => if let Err(s) = streams.take(want, s) {
                    let _ = w.reset(s.id, REFUSED_STREAM).await;
                },
                None => return None,
            },
            _ = &mut deadline => {
                tracing::info!("the client did not open its streams in time");
                return None;
            }
        }
    }
    Some(streams)
}

pub(super) fn json_status(proto: &str) -> bool {
    matches!(proto, "v4.channel.k8s.io" | "v5.channel.k8s.io")
}

pub(super) async fn serve(
    engine: &Engine,
    req: cri::ExecRequest,
    proto: &'static str,
    w: Writer,
    mut incoming: Receiver<Incoming>,
) {
    let json_status = json_status(proto);
    let Some(mut streams) = accept(Want::from(&req), proto, &w, &mut incoming).await else {
        return;
    };
    let Some(error) = streams.error.take() else { return };
    let opts = ExecStreamOptions {
        args: req.cmd.clone(),
        tty: req.tty,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr && !req.tty,
        ..Default::default()
    };
    let outcome = match engine.exec_stream(&req.container_id, &opts).await {
        Ok(p) => run(p, &mut streams, &w, &mut incoming).await,
        Err(e) => Outcome::Failed(e.to_string()),
    };
    let Outcome::Exited(code) = outcome else {
        if let Outcome::Failed(msg) = &outcome {
            let _ = w.data(error.id, status(json_status, None, msg).as_bytes()).await;
        }
        // Gone: nobody is there to tell.
        return finish(&w, error.id, &streams).await;
    };
    if code != 0 || json_status {
        let msg = format!("command terminated with non-zero exit code: error executing command {:?}, exit code {code}", req.cmd);
        let _ = w.data(error.id, status(json_status, Some(code), &msg).as_bytes()).await;
    }
    finish(&w, error.id, &streams).await;
}

enum Outcome {
    Exited(i32),
    Failed(String),
    /// The client went away; the command was killed.
    Gone,
}

/// Copies until the command exits (and its output is drained); kills it
/// if the client goes away first.
async fn run(
    mut p: ExecProcess,
    s: &mut Streams,
    w: &Writer,
    incoming: &mut Receiver<Incoming>,
) -> Outcome {
    let mut outputs = JoinSet::new();
    let mut inputs = JoinSet::new();
    if let Some(term) = p.terminal.take() {
        let term = Arc::new(term);
        if let Some(out) = &s.stdout {
            outputs.spawn(terminal_out(term.clone(), w.clone(), out.id));
        }
        if let Some(inp) = s.stdin.as_mut() {
            inputs.spawn(terminal_in(
                term.clone(),
                std::mem::replace(&mut inp.data, tokio::sync::mpsc::channel(1).1),
            ));
        }
        if let Some(r) = s.resize.as_mut() {
            inputs.spawn(resizes(
                term,
                std::mem::replace(&mut r.data, tokio::sync::mpsc::channel(1).1),
            ));
        }
    } else {
        if let (Some(pipe), Some(out)) = (p.stdout.take(), &s.stdout) {
            outputs.spawn(pipe_out(pipe, w.clone(), out.id));
        }
        if let (Some(pipe), Some(err)) = (p.stderr.take(), &s.stderr) {
            outputs.spawn(pipe_out(pipe, w.clone(), err.id));
        }
        if let (Some(pipe), Some(inp)) = (p.stdin.take(), s.stdin.as_mut()) {
            inputs.spawn(pipe_in(
                pipe,
                std::mem::replace(&mut inp.data, tokio::sync::mpsc::channel(1).1),
            ));
        }
    }
    let code = loop {
        tokio::select! {
            c = p.wait() => break c,
            more = incoming.recv() => match more {
                Some(extra) => { let _ = w.reset(extra.id, REFUSED_STREAM).await; }
                // Dropping the process kills it.
                None => return Outcome::Gone,
            },
        }
    };
    let _ =
        tokio::time::timeout(DRAIN, async { while outputs.join_next().await.is_some() {} }).await;
    outputs.abort_all();
    inputs.abort_all();
    match code {
        Ok(c) => Outcome::Exited(c),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Ends our half of every stream.
pub(super) async fn finish(w: &Writer, error: u32, s: &Streams) {
    for id in [
        Some(error),
        s.stdin.as_ref().map(|x| x.id),
        s.stdout.as_ref().map(|x| x.id),
        s.stderr.as_ref().map(|x| x.id),
        s.resize.as_ref().map(|x| x.id),
    ]
    .into_iter()
    .flatten()
    {
        let _ = w.close(id).await;
    }
}

/// The error stream's message: a Kubernetes `Status` (v4+) or text.
pub(super) fn status(json: bool, exit: Option<i32>, msg: &str) -> String {
    if !json {
        return msg.to_owned();
    }
    let v = match exit {
        Some(0) => serde_json::json!({"metadata": {}, "status": "Success"}),
        Some(code) => serde_json::json!({
            "metadata": {}, "status": "Failure", "message": msg, "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
        }),
        None => {
            serde_json::json!({"metadata": {}, "status": "Failure", "message": msg, "reason": "InternalError", "code": 500})
        }
    };
    v.to_string()
}

async fn pipe_out(mut r: impl AsyncRead + Unpin, w: Writer, id: u32) {
    let mut buf = vec![0u8; 32 << 10];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || w.data(id, &buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn pipe_in(mut pipe: impl AsyncWrite + Unpin, mut data: Receiver<Vec<u8>>) {
    while let Some(d) = data.recv().await {
        if pipe.write_all(&d).await.is_err() {
            return;
        }
    }
    // The client's stdin ended: so does the command's.
    let _ = pipe.shutdown().await;
}

async fn terminal_out(t: Arc<Terminal>, w: Writer, id: u32) {
    let mut buf = vec![0u8; 32 << 10];
    while let Ok(n) = t.read(&mut buf).await {
        if n == 0 || w.data(id, &buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn terminal_in(t: Arc<Terminal>, mut data: Receiver<Vec<u8>>) {
    while let Some(d) = data.recv().await {
        if t.write_all(&d).await.is_err() {
            return;
        }
    }
}

/// `{"Width":80,"Height":24}` per line, as client-go's JSON encoder sends.
#[derive(serde::Deserialize)]
struct TerminalSize {
    #[serde(rename = "Width", alias = "width")]
    width: u16,
    #[serde(rename = "Height", alias = "height")]
    height: u16,
}

/// Takes the complete sizes out of what the resize stream sent so far.
pub(super) fn sizes(buf: &mut Vec<u8>) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    while let Some(end) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=end).collect();
        match serde_json::from_slice::<TerminalSize>(&line) {
            Ok(sz) => out.push((sz.width, sz.height)),
            Err(e) => tracing::debug!(error = %e, "bad terminal size"),
        }
    }
    if buf.len() > 4096 {
        buf.clear();
    }
    out
}

async fn resizes(t: Arc<Terminal>, mut data: Receiver<Vec<u8>>) {
    let mut buf = Vec::new();
    while let Some(d) = data.recv().await {
        buf.extend_from_slice(&d);
        for (cols, rows) in sizes(&mut buf) {
            if let Err(e) = t.resize(cols, rows) {
                tracing::debug!(error = %e, "resize the terminal");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_are_what_client_go_decodes() {
        assert_eq!(status(true, Some(0), ""), r#"{"metadata":{},"status":"Success"}"#);
        let v: serde_json::Value = serde_json::from_str(&status(true, Some(3), "m")).unwrap();
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(
            v["details"]["causes"][0],
            serde_json::json!({"reason": "ExitCode", "message": "3"})
        );
        let v: serde_json::Value = serde_json::from_str(&status(true, None, "boom")).unwrap();
        assert_eq!((v["status"].as_str(), v["message"].as_str()), (Some("Failure"), Some("boom")));
        assert_eq!(status(false, Some(3), "text"), "text");
    }

    #[test]
    fn terminal_sizes_are_json_lines() {
        let mut buf = b"{\"Width\":80,\"Height\":24}\nnot json\n{\"width\":1,".to_vec();
        assert_eq!(sizes(&mut buf), vec![(80, 24)]);
        buf.extend_from_slice(b"\"height\":2}\n");
        assert_eq!(sizes(&mut buf), vec![(1, 2)]);
        assert!(buf.is_empty());
    }

    #[test]
    fn only_the_streams_asked_for_are_taken() {
        let req = cri::ExecRequest {
            stdin: false,
            stdout: true,
            stderr: true,
            tty: false,
            ..Default::default()
        };
        let mk = |t: &str| Incoming {
            id: 1,
            headers: vec![("streamtype".into(), t.into())],
            data: tokio::sync::mpsc::channel(1).1,
        };
        let req = Want::from(&req);
        let mut s = Streams::default();
        assert!(s.take(req, mk("stdin")).is_err());
        assert!(s.take(req, mk("resize")).is_err());
        assert!(!s.complete(req, true));
        s.take(req, mk("error")).unwrap();
        assert!(s.take(req, mk("error")).is_err(), "one of each");
        s.take(req, mk("stdout")).unwrap();
        assert!(!s.complete(req, true));
        s.take(req, mk("stderr")).unwrap();
        assert!(s.complete(req, true));
        let tty = Want { stdin: true, stdout: true, stderr: false, tty: true };
        let mut s = Streams::default();
        for t in ["error", "stdin", "stdout"] {
            s.take(tty, mk(t)).unwrap();
        }
        assert!(s.complete(tty, false) && !s.complete(tty, true), "v3+ waits for resize");
    }
}

//! remotecommand for Attach (`kubectl attach`, `kubectl run -it`): the
//! same streams as exec, bridged to the container's shim, which holds its
//! stdin and copies its output. It ends when the container exits (status
//! Success, as kubelet reports it) or the client goes away; the container
//! keeps running then.

use super::exec::{accept, finish, json_status, sizes, status, Want};
use super::spdy::{Incoming, Writer, REFUSED_STREAM};
use berth_engine::container::{AttachEvent, AttachInput};
use berth_engine::Engine;
use berth_proto::cri;
use std::sync::Arc;
use tokio::sync::mpsc::Receiver;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

pub(super) async fn serve(
    engine: &Engine,
    req: cri::AttachRequest,
    proto: &'static str,
    w: Writer,
    mut incoming: Receiver<Incoming>,
) {
    let want = Want { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
    let Some(mut streams) = accept(want, proto, &w, &mut incoming).await else { return };
    let Some(error) = streams.error.take() else { return };
    let (mut output, input, _) = match engine.attach(&req.container_id).await {
        Ok(a) => a,
        Err(e) => {
            let _ =
                w.data(error.id, status(json_status(proto), None, &e.to_string()).as_bytes()).await;
            return finish(&w, error.id, &streams).await;
        }
    };
    let input = Arc::new(Mutex::new(input));
    let mut inputs = JoinSet::new();
    if let Some(s) = streams.stdin.as_mut() {
        inputs.spawn(stdin(
            input.clone(),
            std::mem::replace(&mut s.data, tokio::sync::mpsc::channel(1).1),
        ));
    }
    if let Some(s) = streams.resize.as_mut() {
        inputs.spawn(resizes(
            input.clone(),
            std::mem::replace(&mut s.data, tokio::sync::mpsc::channel(1).1),
        ));
    }
    let (out_id, err_id) =
        (streams.stdout.as_ref().map(|s| s.id), streams.stderr.as_ref().map(|s| s.id));
    let exited = loop {
        tokio::select! {
            ev = output.next() => match ev {
                Ok(Some(AttachEvent::Output(n, data))) => {
                    // A stream the client did not ask for is dropped.
                    if let Some(id) = if n == 2 { err_id } else { out_id } {
                        if w.data(id, &data).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Some(AttachEvent::Exit(_))) => break true,
                Ok(None) | Err(_) => break false,
            },
            more = incoming.recv() => match more {
                Some(extra) => { let _ = w.reset(extra.id, REFUSED_STREAM).await; }
                // The client left; the container stays.
                None => return,
            },
        }
    };
    inputs.abort_all();
    let msg = if exited {
        status(json_status(proto), Some(0), "")
    } else {
        status(json_status(proto), None, "the container's shim went away")
    };
    if !msg.is_empty() {
        let _ = w.data(error.id, msg.as_bytes()).await;
    }
    finish(&w, error.id, &streams).await;
}

async fn stdin(input: Arc<Mutex<AttachInput>>, mut data: Receiver<Vec<u8>>) {
    while let Some(d) = data.recv().await {
        if input.lock().await.write(&d).await.is_err() {
            return;
        }
    }
    let _ = input.lock().await.close_stdin().await;
}

async fn resizes(input: Arc<Mutex<AttachInput>>, mut data: Receiver<Vec<u8>>) {
    let mut buf = Vec::new();
    while let Some(d) = data.recv().await {
        buf.extend_from_slice(&d);
        for (cols, rows) in sizes(&mut buf) {
            if input.lock().await.resize(cols, rows).await.is_err() {
                return;
            }
        }
    }
}

//! CRI Exec, Attach and PortForward over WebSocket, as `crictl --transport
//! websocket` (client-go's WebSocket executor) uses them: the channel
//! protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`) for exec and attach,
//! SPDY tunneled through the WebSocket for port-forward.

use berth_e2e::cri::{
    container, create, exec_request, loopback_web, pod_config, run_pod, start, wait_state,
};
use berth_e2e::websocket::{connect, tunnel, Channels, ERROR, RESIZE, STDERR, STDIN, STDOUT};
use berth_e2e::Daemon;
use berth_proto::cri;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn exec_and_attach_speak_the_channel_protocol() {
    let d = Daemon::start();
    let (mut rt, _img) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "ws")).await;
    let c = create(&mut rt, &pod, container("box", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &c).await;

    // v5: stdin in and its end by the close signal, stdout and stderr out,
    // the exit code in a Status on the error channel, then the close.
    let url = rt
        .exec(exec_request(&c, &["sh", "-c", "cat; echo err >&2; exit 3"], true, false))
        .await
        .unwrap()
        .into_inner()
        .url;
    let (ws, proto) = connect(&url, &["v5.channel.k8s.io", "v4.channel.k8s.io"]).await.unwrap();
    assert_eq!(proto, "v5.channel.k8s.io");
    let mut ch = Channels::new(ws);
    ch.send(STDIN, b"hello ").await;
    ch.send(STDIN, b"world").await;
    ch.close(STDIN).await;
    ch.until_closed(T).await;
    assert_eq!(ch.text(STDOUT), "hello world");
    assert_eq!(ch.text(STDERR), "err\n");
    let status: serde_json::Value = serde_json::from_str(&ch.text(ERROR)).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "3");

    // v4 (no close signal): success is a Success status.
    let url =
        rt.exec(exec_request(&c, &["echo", "ok"], false, false)).await.unwrap().into_inner().url;
    let (ws, proto) = connect(&url, &["v4.channel.k8s.io"]).await.unwrap();
    assert_eq!(proto, "v4.channel.k8s.io");
    let mut ch = Channels::new(ws);
    ch.until_closed(T).await;
    assert_eq!(ch.text(STDOUT), "ok\n");
    assert_eq!(ch.text(ERROR), r#"{"metadata":{},"status":"Success"}"#);

    // A terminal, sized through the resize channel.
    let url = rt
        .exec(exec_request(&c, &["sh", "-c", "read x; stty size; tty"], true, true))
        .await
        .unwrap()
        .into_inner()
        .url;
    let (ws, _) = connect(&url, &["v5.channel.k8s.io"]).await.unwrap();
    let mut ch = Channels::new(ws);
    ch.send(RESIZE, b"{\"Width\":100,\"Height\":30}\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ch.send(STDIN, b"go\n").await;
    ch.until_closed(T).await;
    let out = ch.text(STDOUT);
    assert!(out.contains("30 100\r\n") && out.contains("/dev/pts/0"), "{out:?}");

    // Protocols berth doesn't speak (base64, v1), a spent URL: refused.
    let url = rt.exec(exec_request(&c, &["true"], false, false)).await.unwrap().into_inner().url;
    let (code, body) =
        connect(&url, &["base64.channel.k8s.io", "channel.k8s.io"]).await.unwrap_err();
    assert_eq!(code, 400, "{body}");
    assert_eq!(connect(&url, &["v5.channel.k8s.io"]).await.unwrap_err().0, 404);

    // Attach: the container's stdin and output over the same channels.
    let cfg = cri::ContainerConfig {
        stdin: true,
        stdin_once: true,
        ..container("talk", &["sh", "-c", "read line; echo got:$line; echo bye >&2"])
    };
    let talk = create(&mut rt, &pod, cfg).await.unwrap();
    start(&mut rt, &talk).await;
    let url = rt
        .attach(cri::AttachRequest {
            container_id: talk.clone(),
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        })
        .await
        .unwrap()
        .into_inner()
        .url;
    let (ws, _) = connect(&url, &["v5.channel.k8s.io"]).await.unwrap();
    let mut ch = Channels::new(ws);
    ch.send(STDIN, b"hello\n").await;
    ch.close(STDIN).await;
    ch.until_closed(T).await;
    assert_eq!(ch.text(STDOUT), "got:hello\n");
    assert_eq!(ch.text(STDERR), "bye\n");
    assert_eq!(ch.text(ERROR), r#"{"metadata":{},"status":"Success"}"#);
    wait_state(&mut rt, &talk, cri::ContainerState::ContainerExited).await;
}

#[tokio::test]
async fn port_forward_tunnels_spdy_through_the_websocket() {
    let d = Daemon::start();
    let (mut rt, _img) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "ws-forward")).await;
    let c = create(&mut rt, &pod, loopback_web()).await.unwrap();
    start(&mut rt, &c).await;

    let url = rt
        .port_forward(cri::PortForwardRequest { pod_sandbox_id: pod.clone(), port: vec![8080] })
        .await
        .unwrap()
        .into_inner()
        .url;
    // The channel protocol is not port-forward's.
    let (code, _) = connect(&url, &["v5.channel.k8s.io"]).await.unwrap_err();
    assert_eq!(code, 400);
    let url = rt
        .port_forward(cri::PortForwardRequest { pod_sandbox_id: pod.clone(), port: vec![8080] })
        .await
        .unwrap()
        .into_inner()
        .url;
    let (ws, proto) = connect(&url, &["SPDY/3.1+portforward.k8s.io"]).await.unwrap();
    assert_eq!(proto, "SPDY/3.1+portforward.k8s.io");
    let mut cl = berth_e2e::spdy::Client::over(tunnel(ws));
    for req in ["0", "1"] {
        let (body, error) = cl.forward_get("8080", req, T).await;
        assert!(body.starts_with("HTTP/1.") && body.ends_with("hello-from-pod\n"), "{body:?}");
        assert_eq!(error, "");
    }
}

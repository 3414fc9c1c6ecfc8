//! CRI Exec and PortForward through the streaming server, as kubelet and
//! crictl use them: the RPC hands out a one-time URL, the client upgrades
//! to SPDY/3.1 and opens its streams.

use berth_e2e::cri::{container, create, exec_request, pod_config, run_pod, start};
use berth_e2e::spdy::connect;
use berth_e2e::Daemon;
use berth_proto::cri;
use std::time::Duration;
use tonic::Code;

const T: Duration = Duration::from_secs(20);

/// The code of a refused call.
fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    r.unwrap_err().code()
}

/// Drives a command `read x; stty size; tty; echo $TERM` on a terminal:
/// sizes it to 100x30, lets it go, and checks what it printed; the error
/// stream's message.
async fn terminal_session(url: &str) -> String {
    let (mut cl, _) = connect(url, &["v4.channel.k8s.io"], "").await.unwrap();
    let error = cl.open(&[("streamtype", "error")]).await;
    let stdin = cl.open(&[("streamtype", "stdin")]).await;
    let stdout = cl.open(&[("streamtype", "stdout")]).await;
    let resize = cl.open(&[("streamtype", "resize")]).await;
    cl.send(resize, b"{\"Width\":100,\"Height\":30}\n", false).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    cl.send(stdin, b"go\n", false).await;
    cl.until_finished(&[error, stdout], T).await;
    let out = cl.text(stdout);
    assert!(
        out.contains("30 100\r\n") && out.contains("/dev/pts/0\r\n") && out.contains("xterm"),
        "{out:?}"
    );
    cl.text(error)
}

#[tokio::test]
async fn exec_streams_stdio_exit_codes_and_terminals() {
    let d = Daemon::start();
    let (mut rt, _img) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "streams")).await;
    let c = create(&mut rt, &pod, container("box", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &c).await;

    // Bad requests: the right codes, before any URL exists.
    assert_eq!(code(rt.exec(exec_request(&c, &[], false, false)).await), Code::InvalidArgument);
    assert_eq!(
        code(
            rt.exec(cri::ExecRequest {
                stdout: false,
                stderr: false,
                ..exec_request(&c, &["true"], false, false)
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            rt.exec(cri::ExecRequest { stderr: true, ..exec_request(&c, &["true"], false, true) })
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(code(rt.exec(exec_request("nope", &["true"], false, false)).await), Code::NotFound);

    // stdin in, stdout and stderr out, the exit code in a v4 Status.
    let url = rt
        .exec(exec_request(&c, &["sh", "-c", "cat; echo err >&2; exit 3"], true, false))
        .await
        .unwrap()
        .into_inner()
        .url;
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/exec/"), "{url}");
    let (mut cl, proto) =
        connect(&url, &["v5.channel.k8s.io", "v4.channel.k8s.io"], "").await.unwrap();
    assert_eq!(proto, "v5.channel.k8s.io");
    let error = cl.open(&[("streamtype", "error")]).await;
    let stdin = cl.open(&[("streamtype", "stdin")]).await;
    let stdout = cl.open(&[("streamtype", "stdout")]).await;
    let stderr = cl.open(&[("streamtype", "stderr")]).await;
    cl.send(stdin, b"hello ", false).await;
    cl.send(stdin, b"world", true).await;
    cl.until_finished(&[error, stdout, stderr], T).await;
    assert_eq!(cl.text(stdout), "hello world");
    assert_eq!(cl.text(stderr), "err\n");
    let status: serde_json::Value = serde_json::from_str(&cl.text(error)).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "3");

    // The URL was for one use only.
    let again = connect(&url, &["v4.channel.k8s.io"], "").await.unwrap_err();
    assert_eq!(again.status, 404, "{}", again.body);

    // v3 and v2 say nothing on success; a command that can't run fails.
    let url =
        rt.exec(exec_request(&c, &["echo", "ok"], false, false)).await.unwrap().into_inner().url;
    let (mut cl, proto) = connect(&url, &["v3.channel.k8s.io"], "").await.unwrap();
    assert_eq!(proto, "v3.channel.k8s.io");
    let (error, stdout, stderr) = (
        cl.open(&[("streamtype", "error")]).await,
        cl.open(&[("streamtype", "stdout")]).await,
        cl.open(&[("streamtype", "stderr")]).await,
    );
    cl.until_finished(&[error, stdout, stderr], T).await;
    assert_eq!((cl.text(stdout).as_str(), cl.text(error).as_str()), ("ok\n", ""));
    let url = rt
        .exec(exec_request(&c, &["/no/such/binary"], false, false))
        .await
        .unwrap()
        .into_inner()
        .url;
    let (mut cl, _) = connect(&url, &["v4.channel.k8s.io"], "").await.unwrap();
    let (error, stdout, stderr) = (
        cl.open(&[("streamtype", "error")]).await,
        cl.open(&[("streamtype", "stdout")]).await,
        cl.open(&[("streamtype", "stderr")]).await,
    );
    cl.until_finished(&[error, stdout, stderr], T).await;
    assert!(cl.text(error).contains(r#""message":"127""#), "{}", cl.text(error));

    // A terminal from the container's devpts, sized by the resize stream.
    let url = rt
        .exec(exec_request(&c, &["sh", "-c", "read x; stty size; tty; echo $TERM"], true, true))
        .await
        .unwrap()
        .into_inner()
        .url;
    assert_eq!(terminal_session(&url).await, r#"{"metadata":{},"status":"Success"}"#);

    // A client that goes away takes its command with it.
    let url =
        rt.exec(exec_request(&c, &["sleep", "987"], false, false)).await.unwrap().into_inner().url;
    let (mut cl, _) = connect(&url, &["v4.channel.k8s.io"], "").await.unwrap();
    for t in ["error", "stdout", "stderr"] {
        cl.open(&[("streamtype", t)]).await;
    }
    let running = || {
        std::process::Command::new("pgrep").args(["-f", "^sleep 987$"]).status().unwrap().success()
    };
    assert!(d.eventually(T, running), "the exec started");
    drop(cl);
    assert!(d.eventually(T, || !running()), "the exec was killed with its connection");

    // Refusals: no common protocol, WebSocket, unknown token.
    let url = rt.exec(exec_request(&c, &["true"], false, false)).await.unwrap().into_inner().url;
    let r = connect(&url, &["channel.k8s.io"], "").await.unwrap_err();
    assert_eq!(r.status, 403, "{}", r.body);
    let url = rt.exec(exec_request(&c, &["true"], false, false)).await.unwrap().into_inner().url;
    let r = connect(&url, &["v4.channel.k8s.io"], "Upgrade: websocket\r\n").await.unwrap_err();
    assert_eq!(r.status, 400, "{}", r.body);
    let bogus =
        format!("{}/exec/0123456789abcdef0123456789abcdef", url.split("/exec/").next().unwrap());
    assert_eq!(connect(&bogus, &["v4.channel.k8s.io"], "").await.unwrap_err().status, 404);
    assert!(
        d.eventually(T, || !std::process::Command::new("pgrep")
            .args(["-f", "berth-shim exec"])
            .status()
            .unwrap()
            .success()),
        "no exec helper is left"
    );
}

#[tokio::test]
async fn port_forward_reaches_the_pods_loopback() {
    let d = Daemon::start();
    let (mut rt, _img) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "forward")).await;
    // Listens on the pod's loopback only: reachable through port-forward alone.
    let c = create(&mut rt, &pod, berth_e2e::cri::loopback_web()).await.unwrap();
    start(&mut rt, &c).await;

    assert_eq!(
        code(
            rt.port_forward(cri::PortForwardRequest {
                pod_sandbox_id: "nope".into(),
                port: vec![80]
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            rt.port_forward(cri::PortForwardRequest { pod_sandbox_id: pod.clone(), port: vec![0] })
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            rt.port_forward(cri::PortForwardRequest {
                pod_sandbox_id: pod.clone(),
                port: vec![70000]
            })
            .await
        ),
        Code::InvalidArgument
    );

    let url = rt
        .port_forward(cri::PortForwardRequest { pod_sandbox_id: pod.clone(), port: vec![8080, 9] })
        .await
        .unwrap()
        .into_inner()
        .url;
    let (mut cl, proto) = connect(&url, &["portforward.k8s.io"], "").await.unwrap();
    assert_eq!(proto, "portforward.k8s.io");
    // Two connections over one session, as kubectl does for two requests.
    for req in ["0", "1"] {
        let (body, error) = cl.forward_get("8080", req, T).await;
        assert!(body.starts_with("HTTP/1.") && body.ends_with("hello-from-pod\n"), "{body:?}");
        assert_eq!(error, "");
    }
    // Nothing listens on 9: the error stream says so. 8081 was not asked for.
    for (req, port, want) in [("2", "9", "connect"), ("3", "8081", "not requested")] {
        let error = cl.open(&[("streamtype", "error"), ("port", port), ("requestid", req)]).await;
        let data = cl.open(&[("streamtype", "data"), ("port", port), ("requestid", req)]).await;
        cl.until_finished(&[data, error], T).await;
        assert!(cl.text(error).contains(want), "{}", cl.text(error));
    }
    // A stopped pod has nothing to forward to.
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    assert_eq!(
        code(
            rt.port_forward(cri::PortForwardRequest {
                pod_sandbox_id: pod.clone(),
                port: vec![8080]
            })
            .await
        ),
        Code::FailedPrecondition
    );
}

fn attach_req(id: &str, stdin: bool, tty: bool) -> cri::AttachRequest {
    cri::AttachRequest { container_id: id.into(), stdin, tty, stdout: true, stderr: !tty }
}

fn interactive(name: &str, cmd: &[&str], tty: bool, stdin_once: bool) -> cri::ContainerConfig {
    cri::ContainerConfig { stdin: true, stdin_once, tty, ..container(name, cmd) }
}

#[tokio::test]
async fn attach_to_stdin_and_terminal_containers() {
    let d = Daemon::start();
    let (mut rt, _img) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "attach")).await;

    // Pipes: input reaches the container's stdin, its FIN closes it
    // (stdin_once), output comes back per stream, then the exit.
    let pipes = create(
        &mut rt,
        &pod,
        interactive(
            "pipes",
            &["sh", "-c", "read line; echo got:$line; cat; echo bye >&2"],
            false,
            true,
        ),
    )
    .await
    .unwrap();
    start(&mut rt, &pipes).await;
    let url = rt.attach(attach_req(&pipes, true, false)).await.unwrap().into_inner().url;
    assert!(url.contains("/attach/"), "{url}");
    let (mut cl, _) = connect(&url, &["v4.channel.k8s.io"], "").await.unwrap();
    let error = cl.open(&[("streamtype", "error")]).await;
    let stdin = cl.open(&[("streamtype", "stdin")]).await;
    let stdout = cl.open(&[("streamtype", "stdout")]).await;
    let stderr = cl.open(&[("streamtype", "stderr")]).await;
    cl.send(stdin, b"hello\nrest", true).await;
    cl.until_finished(&[error, stdout, stderr], T).await;
    assert_eq!(cl.text(stdout), "got:hello\nrest");
    assert_eq!(cl.text(stderr), "bye\n");
    assert_eq!(cl.text(error), r#"{"metadata":{},"status":"Success"}"#);
    let st =
        berth_e2e::cri::wait_state(&mut rt, &pipes, cri::ContainerState::ContainerExited).await;
    let log = std::fs::read_to_string(&st.log_path).unwrap();
    assert!(log.contains("stdout F got:hello") && log.contains("stderr F bye"), "{log}");

    // A terminal: one output, sized by the resize stream, logged as stdout.
    let term = create(
        &mut rt,
        &pod,
        interactive("term", &["sh", "-c", "read x; stty size; tty; echo $TERM"], true, false),
    )
    .await
    .unwrap();
    start(&mut rt, &term).await;
    let url = rt.attach(attach_req(&term, true, true)).await.unwrap().into_inner().url;
    terminal_session(&url).await;
    let st = berth_e2e::cri::wait_state(&mut rt, &term, cri::ContainerState::ContainerExited).await;
    assert!(
        std::fs::read_to_string(&st.log_path).unwrap().contains("stdout"),
        "a terminal's output is logged"
    );

    // Leaving does not stop the container; a second attachment still gets
    // its stdin (no stdin_once), and Exec works next to it.
    let echo = create(
        &mut rt,
        &pod,
        interactive("echo", &["sh", "-c", "while read l; do echo echo:$l; done"], false, false),
    )
    .await
    .unwrap();
    start(&mut rt, &echo).await;
    let url = rt.attach(attach_req(&echo, true, false)).await.unwrap().into_inner().url;
    let (mut cl, _) = connect(&url, &["v4.channel.k8s.io"], "").await.unwrap();
    for t in ["error", "stdin", "stdout", "stderr"] {
        cl.open(&[("streamtype", t)]).await;
    }
    cl.send(3, b"one\n", true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(cl);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        berth_e2e::cri::status(&mut rt, &echo).await.state,
        cri::ContainerState::ContainerRunning as i32
    );
    let url = rt.attach(attach_req(&echo, true, false)).await.unwrap().into_inner().url;
    let (mut cl, _) = connect(&url, &["v4.channel.k8s.io"], "").await.unwrap();
    let (error, stdin, stdout) = (
        cl.open(&[("streamtype", "error")]).await,
        cl.open(&[("streamtype", "stdin")]).await,
        cl.open(&[("streamtype", "stdout")]).await,
    );
    cl.open(&[("streamtype", "stderr")]).await;
    cl.send(stdin, b"two\n", false).await;
    assert_eq!(berth_e2e::cri::out(&mut rt, &echo, &["echo", "exec-ok"]).await, "exec-ok");
    rt.stop_container(cri::StopContainerRequest { container_id: echo.clone(), timeout: 1 })
        .await
        .unwrap();
    cl.until_finished(&[error, stdout], T).await;
    assert_eq!(cl.text(stdout), "echo:two\n");

    // Refusals.
    let plain = create(&mut rt, &pod, container("plain", &["sleep", "1000"])).await.unwrap();
    start(&mut rt, &plain).await;
    assert_eq!(
        code(rt.attach(attach_req(&plain, true, false)).await),
        Code::InvalidArgument,
        "no stdin to attach to"
    );
    assert_eq!(
        code(rt.attach(attach_req(&plain, false, true)).await),
        Code::InvalidArgument,
        "no terminal"
    );
    assert_eq!(
        code(rt.attach(attach_req(&pipes, false, false)).await),
        Code::FailedPrecondition,
        "exited"
    );
    assert_eq!(code(rt.attach(attach_req("nope", false, false)).await), Code::NotFound);
}

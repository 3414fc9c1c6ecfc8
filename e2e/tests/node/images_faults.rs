//! Pulls when things go wrong: a connection cut mid-layer (resumed with a
//! Range request), a registry that goes away (a clean failure), a stalled
//! transfer (the stall timeout), berthd killed mid-pull (the next pull
//! completes), mirrors with fallback, and registries that want credentials.

use berth_e2e::cri::pull_image;
use berth_e2e::registry::{
    busybox_layer, file, noise, push_image, push_image_as, tar, Fault, FaultyProxy, Layer, Registry,
};
use berth_e2e::Daemon;
use berth_proto::cri;
use berth_registry::Credentials;
use std::path::Path;
use std::time::Duration;
use tonic::Code;

fn count(p: &Path) -> usize {
    std::fs::read_dir(p).map(|r| r.count()).unwrap_or(0)
}

/// An image with one 16 MB incompressible layer.
async fn big_image(reg: &Registry, repo: &str) -> Layer {
    let big = Layer::gzip(tar(|b| file(b, "big", &noise(16 << 20, 7))));
    push_image(
        &reg.addr,
        repo,
        "v1",
        &[busybox_layer(), big.clone()],
        "amd64",
        serde_json::json!({}),
    )
    .await;
    big
}

#[tokio::test]
async fn a_cut_connection_is_resumed() {
    let reg = Registry::start();
    big_image(&reg, "big").await;
    let proxy = FaultyProxy::start(&reg.addr, Fault::CutOnceAfter(3 << 20));
    let d = Daemon::start_bare();
    let (_, mut images) = d.cri().await;
    pull_image(&mut images, &format!("{}/big:v1", proxy.addr), None).await.unwrap();
    assert!(d.log().contains("resuming"), "the transfer was resumed, not restarted");
    // Resumed, not downloaded twice: a little over the image's size crossed the proxy.
    let sent = proxy.sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < (16 << 20) + (4 << 20), "sent {sent}");
    let r = d
        .berth(&["run", "--rm", &format!("{}/big:v1", proxy.addr), "sh", "-c", "wc -c < /big"])
        .ok();
    assert_eq!(r.stdout.trim(), (16 << 20).to_string());
}

#[tokio::test]
async fn a_registry_that_goes_away_fails_the_pull_cleanly() {
    let reg = Registry::start();
    big_image(&reg, "big").await;
    let proxy = FaultyProxy::start(&reg.addr, Fault::CutForeverAfter(3 << 20));
    let d = Daemon::start_bare_with("[registry]\nretries = 2\n");
    let (_, mut images) = d.cri().await;
    let err = pull_image(&mut images, &format!("{}/big:v1", proxy.addr), None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("resumes failed"), "{}", err.message());
    assert_eq!(count(&d.root().join("tmp")), 0);
    assert_eq!(count(&d.root().join("images")), 0);
}

#[tokio::test]
async fn a_stalled_transfer_hits_the_stall_timeout() {
    let reg = Registry::start();
    big_image(&reg, "big").await;
    let proxy = FaultyProxy::start(&reg.addr, Fault::StallAfter(3 << 20));
    let d = Daemon::start_bare_with("[registry]\nstall_timeout = 2\n");
    let (_, mut images) = d.cri().await;
    let err = pull_image(&mut images, &format!("{}/big:v1", proxy.addr), None).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("no data for 2s"), "{}", err.message());
    assert_eq!(count(&d.root().join("tmp")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berthd_killed_mid_pull_then_the_next_pull_completes() {
    let reg = Registry::start();
    big_image(&reg, "big").await;
    let proxy = FaultyProxy::start(&reg.addr, Fault::StallAfter(3 << 20));
    let mut d = Daemon::start_bare();
    let (_, images) = d.cri().await;
    let name = format!("{}/big:v1", proxy.addr);
    let mut i2 = images.clone();
    let n2 = name.clone();
    let pending = tokio::spawn(async move { pull_image(&mut i2, &n2, None).await });
    assert!(
        d.eventually(Duration::from_secs(20), || count(&d.root().join("tmp")) > 0),
        "the pull started writing"
    );
    d.restart();
    assert!(pending.await.unwrap().is_err());
    assert_eq!(count(&d.root().join("tmp")), 0, "half-written content is gone after the restart");
    let (_, mut images) = d.cri().await;
    pull_image(&mut images, &format!("{}/big:v1", reg.addr), None).await.unwrap();
    d.berth(&["run", "--rm", &format!("{}/big:v1", reg.addr), "test", "-f", "/big"]).ok();
}

#[tokio::test]
async fn mirrors_are_tried_in_order_then_the_registry() {
    let upstream = Registry::start();
    let mirror = Registry::start();
    let dead =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string(); // closed at once
    push_image(
        &mirror.addr,
        "lib/app",
        "v1",
        &[busybox_layer(), Layer::gzip(tar(|b| file(b, "from", b"mirror")))],
        "amd64",
        serde_json::json!({}),
    )
    .await;
    push_image(
        &upstream.addr,
        "lib/only-upstream",
        "v1",
        &[busybox_layer()],
        "amd64",
        serde_json::json!({}),
    )
    .await;
    let cfg = format!(
        "[registry.hosts.\"{}\"]\nmirrors = [\"http://{dead}\", \"http://{}\"]\n",
        upstream.addr, mirror.addr
    );
    let d = Daemon::start_bare_with(&cfg);
    let (_, mut images) = d.cri().await;
    // Served by the second mirror (the first is down); named as the upstream.
    pull_image(&mut images, &format!("{}/lib/app:v1", upstream.addr), None).await.unwrap();
    let r =
        d.berth(&["run", "--rm", &format!("{}/lib/app:v1", upstream.addr), "cat", "/from"]).ok();
    assert_eq!(r.stdout.trim(), "mirror");
    // Not on any mirror: the registry itself.
    pull_image(&mut images, &format!("{}/lib/only-upstream:v1", upstream.addr), None)
        .await
        .unwrap();
    // Without fallback, only the mirrors are asked.
    let strict = format!(
        "[registry.hosts.\"{}\"]\nmirrors = [\"http://{}\"]\nfallback = false\n",
        upstream.addr, mirror.addr
    );
    let d2 = Daemon::start_bare_with(&strict);
    let (_, mut images2) = d2.cri().await;
    let err = pull_image(&mut images2, &format!("{}/lib/only-upstream:v1", upstream.addr), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
}

#[tokio::test]
async fn registries_with_basic_auth() {
    let reg = Registry::start_with_auth(Some(("alice", "s3cret-pw")));
    let creds = Credentials::Basic { username: "alice".into(), password: "s3cret-pw".into() };
    push_image_as(
        &reg.addr,
        "private/app",
        "v1",
        &[busybox_layer()],
        "amd64",
        serde_json::json!({}),
        &creds,
    )
    .await;
    let d = Daemon::start_bare();
    let (_, mut images) = d.cri().await;
    let name = format!("{}/private/app:v1", reg.addr);
    let anon = pull_image(&mut images, &name, None).await.unwrap_err();
    assert_eq!(anon.code(), Code::Unauthenticated, "{anon:?}");
    let wrong =
        cri::AuthConfig { username: "alice".into(), password: "nope".into(), ..Default::default() };
    let err = pull_image(&mut images, &name, Some(wrong)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("refused"), "{}", err.message());
    // Docker's `auth` field (base64 user:password) works as well as the pair.
    let right = cri::AuthConfig { auth: "YWxpY2U6czNjcmV0LXB3".into(), ..Default::default() };
    pull_image(&mut images, &name, Some(right)).await.unwrap();
    assert!(
        !d.log().contains("s3cret-pw") && !d.log().contains("YWxpY2U6czNjcmV0LXB3"),
        "credentials never reach the log"
    );

    // The CLI reads them from its config.json.
    let home = d.dir.join("cli-config");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.json"),
        format!("{{\"auths\":{{\"{}\":{{\"auth\":\"YWxpY2U6czNjcmV0LXB3\"}}}}}}", reg.addr),
    )
    .unwrap();
    d.berth(&["rmi", &name]).ok();
    let anon_cli = d.berth(&["pull", &name]);
    assert_ne!(anon_cli.code, 0);
    let out = d.cmd().env("BERTH_CONFIG", &home).args(["pull", &name]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // `berth login` checks the password with the registry before keeping it.
    let fresh = d.dir.join("login-config");
    let login = |args: &[&str], stdin: &[u8]| {
        use std::io::Write;
        let mut c = d
            .cmd()
            .env("BERTH_CONFIG", &fresh)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin).unwrap();
        c.wait_with_output().unwrap()
    };
    let bad = login(&["login", "-u", "alice", "--password-stdin", &reg.addr], b"wrong\n");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(!fresh.join("config.json").exists(), "refused credentials are not kept");
    let no_tty = login(&["login", &reg.addr], b"");
    assert!(
        String::from_utf8_lossy(&no_tty.stderr).contains("non TTY"),
        "{}",
        String::from_utf8_lossy(&no_tty.stderr)
    );
    let good = login(
        &["login", "-u", "alice", "--password-stdin", &format!("http://{}/", reg.addr)],
        b"s3cret-pw\n",
    );
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("Login Succeeded"));
    use std::os::unix::fs::PermissionsExt;
    let cfg = fresh.join("config.json");
    assert_eq!(std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777, 0o600);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert_eq!(saved["auths"][&reg.addr]["auth"], "YWxpY2U6czNjcmV0LXB3");
    d.berth(&["rmi", &name]).ok();
    let pulled = d.cmd().env("BERTH_CONFIG", &fresh).args(["pull", "-q", &name]).output().unwrap();
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));
    let out = d.cmd().env("BERTH_CONFIG", &fresh).args(["logout", &reg.addr]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("Removing login credentials for {}", reg.addr)));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert!(saved["auths"].get(&reg.addr).is_none(), "{saved}");
    let again = d.cmd().env("BERTH_CONFIG", &fresh).args(["logout", &reg.addr]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("Not logged in"));
    d.berth(&["rmi", &name]).ok();
    let denied = d.cmd().env("BERTH_CONFIG", &fresh).args(["pull", &name]).output().unwrap();
    assert!(!denied.status.success());
}

/// Docker's token auth, end to end: the registry challenges with
/// `Bearer realm=...`, berth fetches a JWT from the realm (anonymously or
/// with basic credentials) and retries with it.
#[tokio::test]
async fn registries_with_bearer_tokens() {
    let tokens = berth_e2e::token::TokenServer::start("bob", "t0ken-pw");
    let reg = Registry::start_with_token(&tokens);
    let creds = Credentials::Basic { username: "bob".into(), password: "t0ken-pw".into() };
    push_image_as(
        &reg.addr,
        "private/app",
        "v1",
        &[busybox_layer()],
        "amd64",
        serde_json::json!({}),
        &creds,
    )
    .await;
    let d = Daemon::start_bare();
    let (_, mut images) = d.cri().await;
    let name = format!("{}/private/app:v1", reg.addr);
    let before = tokens.issued();
    // Anonymous tokens grant nothing here: the registry still says no.
    let anon = pull_image(&mut images, &name, None).await.unwrap_err();
    assert_eq!(anon.code(), Code::Unauthenticated, "{anon:?}");
    assert!(tokens.issued() > before, "the anonymous token flow reached the realm");
    let wrong =
        cri::AuthConfig { username: "bob".into(), password: "nope".into(), ..Default::default() };
    let err = pull_image(&mut images, &name, Some(wrong)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("token service refused"), "{}", err.message());
    let right = cri::AuthConfig {
        username: "bob".into(),
        password: "t0ken-pw".into(),
        ..Default::default()
    };
    pull_image(&mut images, &name, Some(right)).await.unwrap();
    assert!(!d.log().contains("t0ken-pw"), "credentials never reach the log");
    // `berth login` goes through the same flow for the registry's root.
    let home = d.dir.join("token-login");
    let mut c = d
        .cmd()
        .env("BERTH_CONFIG", &home)
        .args(["login", "-u", "bob", "--password-stdin", &reg.addr])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), b"t0ken-pw\n").unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

//! Seccomp in CRI containers: RuntimeDefault (berth's own profile),
//! Localhost profiles from the node, Unconfined, and the filter reaching
//! ExecSync too. Checked in real containers through /proc and real calls.

use berth_e2e::cri::{container, create, exec, out, pod_config, run_pod, start};
use berth_e2e::{CriRuntime, Daemon};
use berth_proto::cri;
use cri::security_profile::ProfileType;
use tonic::Code;

fn with_profile(
    name: &str,
    cmd: &[&str],
    t: ProfileType,
    localhost_ref: &str,
) -> cri::ContainerConfig {
    let mut c = container(name, cmd);
    let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
    sc.seccomp =
        Some(cri::SecurityProfile { profile_type: t as i32, localhost_ref: localhost_ref.into() });
    c
}

async fn running(rt: &mut CriRuntime, pod: &str, c: cri::ContainerConfig) -> String {
    let id = create(rt, pod, c).await.unwrap();
    start(rt, &id).await;
    id
}

async fn seccomp_mode(rt: &mut CriRuntime, id: &str) -> String {
    out(rt, id, &["sh", "-c", "grep '^Seccomp:' /proc/self/status | cut -f2"]).await
}

#[tokio::test]
async fn runtime_default_localhost_and_unconfined() {
    let d = Daemon::start();
    let (mut rt, _) = d.cri().await;
    let pod = run_pod(&mut rt, pod_config(&d, "sec")).await;

    // RuntimeDefault: ordinary work runs; a user namespace (no capability
    // needed without seccomp) and mount are refused; the init and execs are filtered.
    let def = running(
        &mut rt,
        &pod,
        with_profile("def", &["sleep", "1000"], ProfileType::RuntimeDefault, ""),
    )
    .await;
    assert_eq!(out(&mut rt, &def, &["grep", "^Seccomp:", "/proc/1/status"]).await, "Seccomp:\t2");
    assert_eq!(seccomp_mode(&mut rt, &def).await, "2");
    assert_eq!(
        out(
            &mut rt,
            &def,
            &["sh", "-c", "mkdir /tmp/a && echo hi > /tmp/a/f && cat /tmp/a/f && ls / | wc -l"]
        )
        .await
        .lines()
        .next(),
        Some("hi")
    );
    let r = exec(&mut rt, &def, &["unshare", "-U", "true"]).await;
    assert_ne!(r.exit_code, 0);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("not permitted"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );

    // The same call works unconfined.
    let unc = running(
        &mut rt,
        &pod,
        with_profile("unc", &["sleep", "1000"], ProfileType::Unconfined, ""),
    )
    .await;
    assert_eq!(seccomp_mode(&mut rt, &unc).await, "0");
    assert_eq!(exec(&mut rt, &unc, &["unshare", "-U", "true"]).await.exit_code, 0);

    // Without no_new_privs and as another user, the filter is still there.
    let mut c = with_profile("user", &["sleep", "1000"], ProfileType::RuntimeDefault, "");
    let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
    sc.no_new_privs = false;
    sc.run_as_user = Some(cri::Int64Value { value: 1000 });
    let user = running(&mut rt, &pod, c).await;
    assert_eq!(
        out(
            &mut rt,
            &user,
            &[
                "sh",
                "-c",
                "id -u; grep -E '^(Seccomp|NoNewPrivs):' /proc/1/status | cut -f2 | tr '\\n' ' '"
            ]
        )
        .await,
        "1000\n0 2"
    );

    // Privileged: no filter, whatever the profile says.
    let mut c = with_profile("priv", &["sleep", "1000"], ProfileType::RuntimeDefault, "");
    c.linux.as_mut().unwrap().security_context.as_mut().unwrap().privileged = true;
    let privileged = running(&mut rt, &pod, c).await;
    assert_eq!(seccomp_mode(&mut rt, &privileged).await, "0");

    // Localhost: a node file in the Docker format, read at create.
    let profile = d.dir.join("no-mkdir.json");
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#).unwrap();
    let local = running(
        &mut rt,
        &pod,
        with_profile(
            "local",
            &["sleep", "1000"],
            ProfileType::Localhost,
            &profile.display().to_string(),
        ),
    )
    .await;
    std::fs::remove_file(&profile).unwrap();
    let r = exec(&mut rt, &local, &["mkdir", "/tmp/x"]).await;
    assert_ne!(r.exit_code, 0);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(out(&mut rt, &local, &["sh", "-c", "echo ok > /tmp/f && cat /tmp/f"]).await, "ok");

    // Bad Localhost profiles: a clear InvalidArgument, nothing created.
    let bad = d.dir.join("bad.json");
    std::fs::write(&bad, r#"{"defaultAction":"SCMP_ACT_SOMETIMES"}"#).unwrap();
    for (name, path) in [
        ("missing", d.dir.join("missing.json")),
        ("bad", bad),
        ("relative", "relative.json".into()),
    ] {
        let e = create(
            &mut rt,
            &pod,
            with_profile(name, &["true"], ProfileType::Localhost, &path.display().to_string()),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{name}: {e:?}");
        assert!(e.message().contains("seccomp"), "{name}: {e:?}");
    }
    let listed = rt
        .list_containers(cri::ListContainersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .containers;
    assert_eq!(listed.len(), 5);

    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod }).await.unwrap();
}

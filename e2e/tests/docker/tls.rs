//! The Docker API over TCP, only with mutual TLS (dockerd's `--tlsverify`):
//! Debian's `docker` CLI with the client certificate the configured CA
//! signed gets in; without one, or with one from another CA, the
//! handshake is refused; TCP without the TLS files is refused at start-up.
//! All on 127.0.0.1.

use berth_e2e::Daemon;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType};
use std::path::Path;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    Ca { cert: p.self_signed(&key).unwrap(), key }
}

/// A leaf signed by `ca`, written as `<dir>/<name>-cert.pem` and `-key.pem`.
fn leaf(ca: &Ca, dir: &Path, name: &str, server: bool) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    if server {
        p.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    } else {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    std::fs::write(dir.join(format!("{name}-cert.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
}

/// A scratch dir, removed however the test ends.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn tcp_only_with_mutual_tls() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("berth-test-pki-{}", berth_e2e::hex(4))));
    let pki = scratch.0.clone();
    std::fs::create_dir_all(&pki).unwrap();
    let (good, rogue) = (ca("berth test CA"), ca("another CA"));
    std::fs::write(pki.join("ca.pem"), good.cert.pem()).unwrap();
    leaf(&good, &pki, "server", true);
    leaf(&good, &pki, "client", false);
    leaf(&rogue, &pki, "rogue", false);
    let port = free_port();
    let p = |f: &str| pki.join(f).display().to_string();
    let d = Daemon::start_bare_with(&format!(
        "tcp = \"127.0.0.1:{port}\"\ntls_ca = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        p("ca.pem"),
        p("server-cert.pem"),
        p("server-key.pem")
    ));
    let docker = |client: Option<&str>, args: &[&str]| {
        let mut cmd = d.docker_cmd();
        cmd.env_remove("DOCKER_HOST").arg("-H").arg(format!("tcp://127.0.0.1:{port}"));
        match client {
            Some(c) => cmd.args([
                "--tlsverify",
                "--tlscacert",
                &p("ca.pem"),
                "--tlscert",
                &p(&format!("{c}-cert.pem")),
                "--tlskey",
                &p(&format!("{c}-key.pem")),
            ]),
            None => cmd.args(["--tlsverify", "--tlscacert", &p("ca.pem")]),
        };
        cmd.args(args).output().unwrap()
    };
    let ok = docker(Some("client"), &["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "1.47");
    let ps = docker(Some("client"), &["ps", "-a"]);
    assert!(ps.status.success(), "{}", String::from_utf8_lossy(&ps.stderr));
    for (who, client) in
        [("no client certificate", None), ("a certificate of another CA", Some("rogue"))]
    {
        let out = docker(client, &["version", "--format", "{{.Server.APIVersion}}"]);
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("1.47"),
            "{who}: let in: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // Plain HTTP on the TLS port: nothing but a failed handshake.
    let plain = d
        .docker_cmd()
        .env_remove("DOCKER_HOST")
        .args([
            "-H",
            &format!("tcp://127.0.0.1:{port}"),
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("1.47"));
    drop(d);

    // TCP without the TLS files: berthd refuses to start.
    std::fs::write(
        pki.join("bad.toml"),
        format!(
            "root = \"{0}/r\"\nstate = \"{0}/s\"\n[docker]\ntcp = \"127.0.0.1:{port}\"\n",
            pki.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(berth_e2e::bin_dir().join("berthd"))
        .args(["--config", &p("bad.toml")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("docker.tcp needs mutual TLS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

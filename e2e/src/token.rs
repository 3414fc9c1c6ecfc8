//! A bearer-token service for tests, the other half of Docker's token
//! auth: `docker-registry` (configured with `auth: token:`) challenges
//! with `Bearer realm=...`, clients fetch a JWT here (anonymously, or with
//! basic credentials), and the registry checks its ES256 signature against
//! the certificate this service made (sent in the token's `x5c` header).
//! Anonymous callers get tokens that grant nothing, as Docker Hub's do for
//! private repositories.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

pub const SERVICE: &str = "berth-test-registry";
pub const ISSUER: &str = "berth-test-token-issuer";

/// A running token service on 127.0.0.1.
pub struct TokenServer {
    dir: PathBuf,
    port: u16,
    stop: Arc<AtomicBool>,
    issued: Arc<AtomicUsize>,
    /// `http://127.0.0.1:<port>/token`.
    pub realm: String,
}

struct Signer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    user: String,
    password: String,
}

impl TokenServer {
    /// Serves tokens; `user`/`password` get what they ask for.
    pub fn start(user: &str, password: &str) -> Self {
        let dir = PathBuf::from(format!("/tmp/berth-test-token-{}", crate::hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["berth-test-token".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("root.pem"), cert.pem()).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let signer = Arc::new(Signer {
            key: ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &key.serialize_der(),
                &rng,
            )
            .unwrap(),
            cert_der: cert.der().to_vec(),
            user: user.into(),
            password: password.into(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), issued.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (signer, n) = (signer.clone(), n.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &signer, &n);
                });
            }
        });
        Self { dir, port, stop, issued, realm: format!("http://127.0.0.1:{port}/token") }
    }

    /// The certificate bundle the registry trusts.
    pub fn root_bundle(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// Tokens handed out so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// One request: `GET /token?service=..&scope=..` with optional basic auth.
fn serve(conn: TcpStream, signer: &Signer, issued: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_owned());
            }
        }
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|s| {
            s.replace("%3A", ":")
                .replace("%3a", ":")
                .replace("%2C", ",")
                .replace("%2c", ",")
                .replace("%2F", "/")
                .replace("%2f", "/")
                .replace('+', " ")
        })
        .collect();
    let mut out = conn;
    let who = match auth.as_deref().and_then(|a| a.strip_prefix("Basic ")) {
        None => None,
        Some(b) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default();
            if raw != format!("{}:{}", signer.user, signer.password).into_bytes() {
                return out.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
            Some(signer.user.clone())
        }
    };
    // Each scope is `repository:<name>:<actions>`; anonymous callers get no actions.
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter_map(|s| {
            let mut p = s.splitn(3, ':');
            let (kind, name, actions) = (p.next()?, p.next()?, p.next()?);
            let granted: Vec<&str> =
                if who.is_some() { actions.split(',').collect() } else { Vec::new() };
            Some(serde_json::json!({ "type": kind, "name": name, "actions": granted }))
        })
        .collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "x5c": [base64::engine::general_purpose::STANDARD.encode(&signer.cert_der)] });
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": who.unwrap_or_default(), "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": crate::hex(8), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = signer
        .key
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
        .map_err(|_| std::io::Error::other("sign"))?;
    let token = format!("{signing_input}.{}", b64url(sig.as_ref()));
    issued.fetch_add(1, Ordering::SeqCst);
    let body = serde_json::json!({ "token": token, "expires_in": 300 }).to_string();
    write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

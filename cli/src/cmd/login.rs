//! login, logout: credentials checked by berthd against the registry, then
//! kept in the CLI's `config.json` (never by berthd).

use crate::auth;
use crate::client::Client;
use crate::Failure;
use berth_docker_api::system::AuthConfig;
use hyper::Method;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[arg(short, long)]
    username: Option<String>,
    /// Insecure: it shows in the process list. Prefer --password-stdin.
    #[arg(short, long)]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Registry host (default: Docker Hub).
    server: Option<String>,
}

/// Reads one line from the terminal, without echo when `secret`.
fn prompt(label: &str, secret: bool) -> Result<String, Failure> {
    print!("{label}");
    let _ = std::io::stdout().flush();
    let stdin = std::io::stdin();
    let _echo_off = secret.then(|| crate::tty::EchoOff::new(&stdin));
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| Failure::new(format!("Error: read: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub async fn login(c: &Client, a: LoginArgs) -> Result<i32, Failure> {
    let host = auth::normalize_server(a.server.as_deref().unwrap_or("docker.io"));
    let interactive = std::io::stdin().is_terminal();
    if a.password.is_some() && a.password_stdin {
        return Err(Failure::new("Error: --password and --password-stdin are mutually exclusive"));
    }
    let username = match a.username {
        Some(u) => u,
        None if interactive && !a.password_stdin => prompt("Username: ", false)?,
        None => {
            return Err(Failure::new(
                "Error: Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    let password = match (a.password, a.password_stdin) {
        (Some(p), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, true) => {
            let mut p = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut p)
                .map_err(|e| Failure::new(format!("Error: read password: {e}")))?;
            p.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) if interactive => prompt("Password: ", true)?,
        (None, false) => {
            return Err(Failure::new(
                "Error: Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    if username.is_empty() || password.is_empty() {
        return Err(Failure::new("Error: a username and a password are required"));
    }
    let body = AuthConfig {
        username: username.clone(),
        password: password.clone(),
        serveraddress: host.clone(),
        ..Default::default()
    };
    c.call(Method::POST, "/auth", Some(crate::client::json_body(&body))).await?;
    auth::store(&host, &username, &password).map_err(|e| {
        Failure::new(format!("Error: saving credentials to {}: {e}", auth::config_path().display()))
    })?;
    println!("Login Succeeded");
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// Registry host (default: Docker Hub).
    server: Option<String>,
}

/// Needs no daemon: it only edits the config file.
pub fn logout(a: LogoutArgs) -> Result<i32, Failure> {
    let host = auth::normalize_server(a.server.as_deref().unwrap_or("docker.io"));
    match auth::forget(&host)
        .map_err(|e| Failure::new(format!("Error: {}: {e}", auth::config_path().display())))?
    {
        true => println!("Removing login credentials for {}", auth::config_key(&host)),
        false => println!("Not logged in to {}", auth::config_key(&host)),
    }
    Ok(0)
}

//! `RUN --mount=type=ssh`: a unix socket of the step's own, in a 0700
//! dir under the builder's work dir, bind-mounted at the target; each
//! connection a process makes to it is copied both ways to a new stream
//! to the client's agent. The listener goes when the step does.

use crate::{BuildError, Result, SshSource};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One forwarded socket, served until dropped.
pub(crate) struct Forwarded {
    dir: PathBuf,
    socket: PathBuf,
    serving: tokio::task::JoinHandle<()>,
}

impl Forwarded {
    /// Listens on a new socket under `base` (mode, owner as the mount says).
    pub fn start(base: &Path, agent: &SshSource, mode: u32, uid: u32, gid: u32) -> Result<Self> {
        let io = |source| BuildError::Io { context: "ssh mount".into(), source };
        std::fs::create_dir_all(base).map_err(io)?;
        let dir = base.join(hex::encode(rand::random::<[u8; 8]>()));
        std::fs::create_dir(&dir).map_err(io)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        let socket = dir.join("agent.sock");
        let listener = tokio::net::UnixListener::bind(&socket).map_err(io)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(io)?;
        std::os::unix::fs::chown(&socket, Some(uid), Some(gid)).map_err(io)?;
        let agent = agent.clone();
        let serving = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut conn, _)) = listener.accept().await {
                let agent = agent.clone();
                conns.spawn(async move {
                    match agent.0.connect().await {
                        Ok(mut upstream) => {
                            let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "ssh mount: the client's agent"),
                    }
                });
            }
        });
        Ok(Forwarded { dir, socket, serving })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Forwarded {
    fn drop(&mut self) {
        // Aborting the listener's task drops its connections' tasks too.
        self.serving.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An agent that answers each connection's bytes upper-cased.
    struct Upper;

    impl crate::SshAgent for Upper {
        fn connect(
            &self,
        ) -> futures::future::BoxFuture<'_, std::io::Result<tokio::io::DuplexStream>> {
            Box::pin(async {
                let (ours, mut theirs) = tokio::io::duplex(64);
                tokio::spawn(async move {
                    let mut b = [0u8; 5];
                    if theirs.read_exact(&mut b).await.is_ok() {
                        let _ = theirs.write_all(&b.to_ascii_uppercase()).await;
                    }
                });
                Ok(ours)
            })
        }
    }

    #[tokio::test]
    async fn each_connection_reaches_the_agent_and_the_socket_goes_with_the_step() {
        let base = tempfile::tempdir().unwrap();
        let f = Forwarded::start(base.path(), &SshSource(std::sync::Arc::new(Upper)), 0o600, 0, 0)
            .unwrap();
        use std::os::unix::fs::FileTypeExt;
        let meta = std::fs::metadata(f.socket()).unwrap();
        assert!(meta.file_type().is_socket() && meta.permissions().mode() & 0o777 == 0o600);
        for _ in 0..2 {
            let mut c = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
            c.write_all(b"hello").await.unwrap();
            let mut b = [0u8; 5];
            c.read_exact(&mut b).await.unwrap();
            assert_eq!(&b, b"HELLO");
        }
        let dir = f.socket().parent().unwrap().to_path_buf();
        drop(f);
        assert!(!dir.exists());
    }
}

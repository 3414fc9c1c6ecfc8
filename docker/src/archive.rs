//! `docker cp`: `/containers/{id}/archive` — HEAD (the path's stat),
//! GET (a tar of it) and PUT (a tar extracted into a directory), with the
//! stat in `X-Docker-Container-Path-Stat` (base64 JSON, the mode in Go's
//! `os.FileMode` bits) as the docker CLI and the SDKs read it.

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use base64::Engine as _;
use berth_engine::container::{CopyIn, PathStat};
use berth_engine::Engine;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_of(req: &Req) -> ApiResult<String> {
    match req.query("path") {
        Some(p) if !p.is_empty() => Ok(p.to_owned()),
        _ => Err(ApiError::bad_request("Path cannot be empty")),
    }
}

/// `HEAD /containers/{id}/archive?path=`.
pub async fn stat(engine: &Engine, id: &str, req: &Req) -> ApiResult<Response<Body>> {
    let rec = crate::containers::find(engine, id)?;
    let stat = engine
        .stat_path(&rec.id, &path_of(req)?)
        .await
        .map_err(|e| crate::error::path_in(e, id))?;
    let mut resp = http::empty(StatusCode::OK);
    resp.headers_mut().insert(STAT_HEADER, stat_header(&stat));
    Ok(resp)
}

/// `GET /containers/{id}/archive?path=`: the stat, then the tar as it is written.
pub async fn get(engine: &Engine, id: &str, req: &Req) -> ApiResult<Response<Body>> {
    let rec = crate::containers::find(engine, id)?;
    let out = engine
        .archive_path(&rec.id, &path_of(req)?)
        .await
        .map_err(|e| crate::error::path_in(e, id))?;
    let mut resp = http::stream_chunks("application/x-tar", out.data);
    resp.headers_mut().insert(STAT_HEADER, stat_header(&out.stat));
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`.
pub async fn put(engine: &Engine, id: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let rec = crate::containers::find(engine, id)?;
    let path = path_of(req)?;
    let how = CopyIn {
        no_overwrite_dir_non_dir: req.flag("noOverwriteDirNonDir"),
        copy_uid_gid: req.flag("copyUIDGID"),
    };
    let mut upload = req.body_stream();
    match engine.extract_to_dir(&rec.id, &path, how, upload.chunks()).await {
        Ok(()) => Ok(http::empty(StatusCode::OK)),
        Err(e) => {
            upload.finished().await;
            Err(crate::error::path_in(e, id))
        }
    }
}

fn stat_header(s: &PathStat) -> HeaderValue {
    let mtime = berth_proto::time::rfc3339_nanos(
        std::time::UNIX_EPOCH
            + std::time::Duration::new(
                s.mtime.0.max(0) as u64,
                s.mtime.1.clamp(0, 999_999_999) as u32,
            ),
    );
    let stat = berth_docker_api::container::PathStat {
        name: s.name.clone(),
        size: s.size as i64,
        mode: go_mode(s.mode),
        mtime,
        link_target: s.link_target.clone(),
    };
    let json = serde_json::to_string(&stat).unwrap_or_default();
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

/// `st_mode` as Go's `os.FileMode`: the permission bits, and the type and
/// special bits at the top of the word.
fn go_mode(mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut m = mode & 0o777;
    m |= match mode & nix::libc::S_IFMT {
        nix::libc::S_IFDIR => DIR,
        nix::libc::S_IFLNK => SYMLINK,
        nix::libc::S_IFBLK => DEVICE,
        nix::libc::S_IFCHR => DEVICE | CHAR_DEVICE,
        nix::libc::S_IFIFO => NAMED_PIPE,
        nix::libc::S_IFSOCK => SOCKET,
        _ => 0,
    };
    for (bit, go) in
        [(nix::libc::S_ISUID, SETUID), (nix::libc::S_ISGID, SETGID), (nix::libc::S_ISVTX, STICKY)]
    {
        if mode & bit != 0 {
            m |= go;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn modes_are_gos() {
        assert_eq!(super::go_mode(nix::libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(super::go_mode(nix::libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            super::go_mode(nix::libc::S_IFREG | nix::libc::S_ISUID | 0o4755 & 0o777),
            (1 << 23) | 0o755
        );
        assert_eq!(super::go_mode(nix::libc::S_IFCHR | 0o666), (1 << 26) | (1 << 21) | 0o666);
    }
}

//! The engine API adapter: each RPC converts its request into engine calls
//! and domain results back into wire types, nothing more.

use crate::status::IntoStatus;
use berth_engine::model::{ContainerRecord, Resources, Seccomp, Security};
use berth_engine::{CreateOptions, Engine};
use berth_proto::engine as pb;
use berth_proto::engine::engine_server;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Serves the engine API over one [`Engine`].
pub struct EngineApi {
    engine: Engine,
}

impl EngineApi {
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

pub(crate) fn image_summary(r: &berth_engine::image::ImageRecord) -> pb::ImageSummary {
    pb::ImageSummary {
        id: r.id.clone(),
        repo_tags: r.repo_tags.iter().map(|t| berth_engine::image::reference::familiar(t)).collect(),
        created_unix: r.created_unix_nanos / 1_000_000_000,
        size: r.size,
        repo_digests: r.repo_digests.iter().map(|t| berth_engine::image::reference::familiar(t)).collect(),
    }
}

fn summary(r: &ContainerRecord) -> pb::ContainerSummary {
    pb::ContainerSummary {
        id: r.id.clone(),
        name: r.name.clone(),
        image: r.image.clone(),
        image_id: r.image_id.clone(),
        command: r.config.args.clone(),
        created_unix: r.created_at / 1_000_000_000,
        state: r.state.status.as_str().into(),
        status: r.status_text(std::time::SystemTime::now()),
        labels: r.config.labels.clone().into_iter().collect(),
        exit_code: r.state.exit_code,
    }
}

#[tonic::async_trait]
impl engine_server::Engine for EngineApi {
    async fn version(&self, _: Request<pb::VersionRequest>) -> Result<Response<pb::VersionResponse>, Status> {
        Ok(Response::new(pb::VersionResponse { version: env!("CARGO_PKG_VERSION").into(), api_version: "v1".into(), cgroup_setup: berth_engine::cgroup_setup() }))
    }

    async fn import_image(&self, req: Request<Streaming<pb::ImportChunk>>) -> Result<Response<pb::ImageSummary>, Status> {
        let mut stream = req.into_inner();
        let first = stream.message().await?.ok_or_else(|| Status::invalid_argument("import: empty request"))?;
        let header = first.header.ok_or_else(|| Status::invalid_argument("import: the first message must carry the header"))?;
        let req = berth_engine::image::ImportRequest { reference: header.reference, changes: header.changes, message: header.message };
        self.engine.images().check_import(&req).status()?;
        let (rx, feeder) = crate::image_api::feed(stream, first.data, |c| c.data);
        let result = self.engine.images().import(req, rx).await;
        // A broken upload is the real cause of a truncated archive.
        if let Ok(Err(e)) = feeder.await {
            return Err(e);
        }
        Ok(Response::new(image_summary(&result.status()?)))
    }

    async fn list_images(&self, _: Request<pb::ListImagesRequest>) -> Result<Response<pb::ListImagesResponse>, Status> {
        let images = self.engine.images().list().iter().map(image_summary).collect();
        Ok(Response::new(pb::ListImagesResponse { images }))
    }

    async fn remove_image(&self, req: Request<pb::RemoveImageRequest>) -> Result<Response<pb::RemoveImageResponse>, Status> {
        let r = req.into_inner();
        let out = self.engine.remove_image(&r.reference, r.force).status()?;
        Ok(Response::new(pb::RemoveImageResponse { untagged: out.untagged.iter().map(|t| berth_engine::image::reference::familiar(t)).collect(), deleted: out.deleted }))
    }

    type PullImageStream = RpcStream<pb::PullEvent>;

    async fn pull_image(&self, req: Request<pb::PullImageRequest>) -> Result<Response<Self::PullImageStream>, Status> {
        let rx = crate::image_api::pull(&self.engine, req.into_inner())?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type PushImageStream = RpcStream<pb::PushEvent>;

    async fn push_image(&self, req: Request<pb::PushImageRequest>) -> Result<Response<Self::PushImageStream>, Status> {
        let rx = crate::image_api::push(&self.engine, req.into_inner());
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn tag_image(&self, req: Request<pb::TagImageRequest>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        self.engine.images().tag(&r.source, &r.target).status()?;
        Ok(Response::new(pb::Empty {}))
    }

    type SaveImagesStream = RpcStream<pb::DataChunk>;

    async fn save_images(&self, req: Request<pb::SaveImagesRequest>) -> Result<Response<Self::SaveImagesStream>, Status> {
        let rx = crate::image_api::save(&self.engine, req.into_inner().names)?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn load_images(&self, req: Request<Streaming<pb::DataChunk>>) -> Result<Response<pb::LoadImagesResponse>, Status> {
        Ok(Response::new(crate::image_api::load(&self.engine, req.into_inner()).await?))
    }

    async fn image_history(&self, req: Request<pb::ImageRef>) -> Result<Response<pb::ImageHistoryResponse>, Status> {
        Ok(Response::new(crate::image_api::history(&self.engine, req.into_inner().name).await?))
    }

    async fn inspect_image(&self, req: Request<pb::ImageRef>) -> Result<Response<pb::InspectImageResponse>, Status> {
        Ok(Response::new(crate::image_api::inspect(&self.engine, &req.into_inner().name)?))
    }

    async fn prune_images(&self, req: Request<pb::PruneImagesRequest>) -> Result<Response<pb::PruneImagesResponse>, Status> {
        Ok(Response::new(crate::image_api::prune(&self.engine, req.into_inner().all).await?))
    }

    async fn login(&self, req: Request<pb::LoginRequest>) -> Result<Response<pb::Empty>, Status> {
        crate::image_api::login(&self.engine, req.into_inner()).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn create_container(&self, req: Request<pb::CreateContainerRequest>) -> Result<Response<pb::CreateContainerResponse>, Status> {
        let r = req.into_inner();
        let res = r.resources.unwrap_or_default();
        let opts = CreateOptions {
            name: Some(r.name).filter(|n| !n.is_empty()),
            image: r.image,
            entrypoint: r.entrypoint_set.then_some(r.entrypoint),
            cmd: r.cmd,
            env: r.env,
            working_dir: Some(r.working_dir).filter(|w| !w.is_empty()),
            user: Some(r.user).filter(|u| !u.is_empty()),
            hostname: Some(r.hostname).filter(|h| !h.is_empty()),
            resources: Resources {
                memory_bytes: res.memory_bytes,
                cpu_quota: res.cpu_quota,
                cpu_period: res.cpu_period,
                cpu_shares: res.cpu_shares,
                pids_limit: res.pids_limit,
                ..Default::default()
            },
            read_only: r.read_only,
            labels: r.labels.into_iter().collect(),
            auto_remove: r.auto_remove,
            stop_signal: Some(r.stop_signal).filter(|s| !s.is_empty()),
            stop_timeout: (r.stop_timeout >= 0).then_some(r.stop_timeout as u64),
            ulimits: r.ulimits,
            security: Security {
                privileged: r.privileged,
                cap_add: r.cap_add,
                cap_drop: r.cap_drop,
                no_new_privs: r.no_new_privileges.unwrap_or(true),
                // As Docker: its default profile unless told otherwise.
                seccomp: match r.seccomp.as_str() {
                    "" => Seccomp::RuntimeDefault,
                    "unconfined" => Seccomp::Unconfined,
                    text => Seccomp::inline(text).status()?,
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let id = self.engine.create(opts).await.status()?;
        Ok(Response::new(pb::CreateContainerResponse { id }))
    }

    async fn start_container(&self, req: Request<pb::ContainerRef>) -> Result<Response<pb::Empty>, Status> {
        self.engine.start(&req.into_inner().id).await.status()?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn stop_container(&self, req: Request<pb::StopContainerRequest>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        let t = (r.timeout_seconds >= 0).then(|| Duration::from_secs(r.timeout_seconds as u64));
        self.engine.stop(&r.id, t).await.status()?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn kill_container(&self, req: Request<pb::KillContainerRequest>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        self.engine.kill(&r.id, &r.signal).await.status()?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn remove_container(&self, req: Request<pb::RemoveContainerRequest>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        self.engine.remove(&r.id, r.force).await.status()?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn list_containers(&self, req: Request<pb::ListContainersRequest>) -> Result<Response<pb::ListContainersResponse>, Status> {
        let r = req.into_inner();
        let list = self.engine.list(r.all, &r.filters).status()?;
        Ok(Response::new(pb::ListContainersResponse { containers: list.iter().map(summary).collect() }))
    }

    async fn inspect_container(&self, req: Request<pb::ContainerRef>) -> Result<Response<pb::InspectResponse>, Status> {
        let rec = self.engine.inspect(&req.into_inner().id).status()?;
        let json = serde_json::to_string_pretty(&crate::api::inspect_json(&self.engine, &rec)).unwrap_or_default();
        Ok(Response::new(pb::InspectResponse { json }))
    }

    type WaitContainerStream = RpcStream<pb::WaitEvent>;

    async fn wait_container(&self, req: Request<pb::WaitRequest>) -> Result<Response<Self::WaitContainerStream>, Status> {
        let r = req.into_inner();
        let waiter = self.engine.waiter(&r.id, &r.condition).status()?;
        let (tx, rx) = mpsc::channel(2);
        let _ = tx.try_send(Ok(pb::WaitEvent { registered: true, ..Default::default() }));
        tokio::spawn(async move {
            let out = tokio::select! {
                o = waiter.wait() => o,
                _ = tx.closed() => return,
            };
            let _ = tx.send(Ok(pb::WaitEvent { exited: true, exit_code: out.exit_code, oom_killed: out.oom_killed, ..Default::default() })).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ContainerLogsStream = RpcStream<pb::LogEntry>;

    async fn container_logs(&self, req: Request<pb::LogsRequest>) -> Result<Response<Self::ContainerLogsStream>, Status> {
        let r = req.into_inner();
        let tail = (r.tail >= 0).then_some(r.tail as usize);
        let rx = self.engine.logs(&r.id, r.follow, tail, r.since_offset).await.status()?;
        let stream = ReceiverStream::new(rx).map(|l| Ok(pb::LogEntry { stream: l.stream.as_str().into(), timestamp: l.timestamp, data: l.data, offset: l.offset }));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// `berth inspect` output, shaped like Docker's where the fields exist.
pub fn inspect_json(engine: &Engine, r: &ContainerRecord) -> serde_json::Value {
    let ts = |n: i64| if n == 0 { "0001-01-01T00:00:00Z".to_string() } else { berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(n)) };
    let s = &r.state;
    serde_json::json!({
        "Id": r.id,
        "Created": ts(r.created_at),
        "Path": r.config.args.first(),
        "Args": r.config.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": s.status.as_str(),
            "Running": s.status == berth_engine::Status::Running,
            "OOMKilled": s.oom_killed,
            "Pid": if s.status == berth_engine::Status::Running { s.pid } else { 0 },
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": ts(s.started_at),
            "FinishedAt": ts(s.finished_at),
        },
        "Image": r.image_id,
        "Name": format!("/{}", r.name),
        "LogPath": engine.log_path(r).map(|p| p.display().to_string()).unwrap_or_default(),
        "Config": {
            "Hostname": r.config.hostname,
            "User": r.config.user,
            "Env": r.config.env,
            "Cmd": r.config.cmd,
            "Entrypoint": r.config.entrypoint,
            "WorkingDir": r.config.working_dir,
            "Image": r.image,
            "Labels": r.config.labels,
            "StopSignal": r.config.stop_signal.name(),
            "StopTimeout": r.config.stop_timeout,
        },
        "HostConfig": {
            "AutoRemove": r.config.auto_remove,
            "ReadonlyRootfs": r.config.read_only,
            "Memory": r.config.resources.memory_bytes,
            "CpuQuota": r.config.resources.cpu_quota,
            "CpuPeriod": r.config.resources.cpu_period,
            "CpuShares": r.config.resources.cpu_shares,
            "PidsLimit": r.config.resources.pids_limit,
            "Ulimits": r.config.ulimits.iter().map(|u| serde_json::json!({ "Name": u.name, "Soft": u.soft, "Hard": u.hard })).collect::<Vec<_>>(),
        },
    })
}

//! RuntimeService: each RPC a thin adapter over the engine, the longer
//! ones in their own file. Stop and remove of pods and containers are
//! idempotent (an unknown id succeeds), as the CRI contract says.

mod container_convert;
mod container_create;
mod container_events;
mod container_exec;
mod container_status;
mod container_stream;
mod container_update;
mod limits;
mod metrics;
mod runtime_config;
mod sandbox_convert;
mod sandbox_run;
mod sandbox_status;
mod stats;
mod status;
mod version;

use crate::stream::{chunked, ItemStream};
use crate::{not_yet, Cri};
use berth_proto::cri;
use berth_proto::cri::runtime_service_server::RuntimeService;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl RuntimeService for Cri {
    async fn version(&self, req: Request<cri::VersionRequest>) -> Reply<cri::VersionResponse> {
        Ok(Response::new(version::version(req.into_inner())))
    }

    async fn status(&self, req: Request<cri::StatusRequest>) -> Reply<cri::StatusResponse> {
        Ok(Response::new(status::status(self, req.into_inner()).await))
    }

    async fn runtime_config(
        &self,
        _req: Request<cri::RuntimeConfigRequest>,
    ) -> Reply<cri::RuntimeConfigResponse> {
        Ok(Response::new(runtime_config::runtime_config()))
    }

    async fn update_runtime_config(
        &self,
        req: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> Reply<cri::UpdateRuntimeConfigResponse> {
        runtime_config::update_runtime_config(self, req.into_inner()).map(Response::new)
    }

    async fn run_pod_sandbox(
        &self,
        req: Request<cri::RunPodSandboxRequest>,
    ) -> Reply<cri::RunPodSandboxResponse> {
        sandbox_run::run_pod_sandbox(self, req.into_inner()).await.map(Response::new)
    }

    /// Idempotent: an unknown id succeeds.
    async fn stop_pod_sandbox(
        &self,
        req: Request<cri::StopPodSandboxRequest>,
    ) -> Reply<cri::StopPodSandboxResponse> {
        self.engine.stop_sandbox(&req.into_inner().pod_sandbox_id).await?;
        Ok(Response::new(cri::StopPodSandboxResponse {}))
    }

    /// Idempotent: an unknown id succeeds.
    async fn remove_pod_sandbox(
        &self,
        req: Request<cri::RemovePodSandboxRequest>,
    ) -> Reply<cri::RemovePodSandboxResponse> {
        self.engine.remove_sandbox(&req.into_inner().pod_sandbox_id).await?;
        Ok(Response::new(cri::RemovePodSandboxResponse {}))
    }

    async fn pod_sandbox_status(
        &self,
        req: Request<cri::PodSandboxStatusRequest>,
    ) -> Reply<cri::PodSandboxStatusResponse> {
        sandbox_status::pod_sandbox_status(self, req.into_inner()).map(Response::new)
    }

    async fn list_pod_sandbox(
        &self,
        req: Request<cri::ListPodSandboxRequest>,
    ) -> Reply<cri::ListPodSandboxResponse> {
        sandbox_status::list_pod_sandbox(self, req.into_inner()).map(Response::new)
    }

    type StreamPodSandboxesStream = ItemStream<cri::StreamPodSandboxesResponse>;

    async fn stream_pod_sandboxes(
        &self,
        req: Request<cri::StreamPodSandboxesRequest>,
    ) -> Reply<Self::StreamPodSandboxesStream> {
        let list = sandbox_status::list_pod_sandbox(
            self,
            cri::ListPodSandboxRequest { filter: req.into_inner().filter },
        )?;
        Ok(Response::new(chunked(list.items, |pod_sandboxes| cri::StreamPodSandboxesResponse {
            pod_sandboxes,
        })))
    }

    /// kubelet's in-place resize tells the runtime a pod's new totals after
    /// it has resized the pod cgroup itself (cgroupfs driver); berth keeps
    /// no per-pod limits of its own, so there is nothing to change. Checked
    /// and acknowledged.
    async fn update_pod_sandbox_resources(
        &self,
        req: Request<cri::UpdatePodSandboxResourcesRequest>,
    ) -> Reply<cri::UpdatePodSandboxResourcesResponse> {
        self.engine.sandbox_status(&req.into_inner().pod_sandbox_id)?;
        Ok(Response::new(cri::UpdatePodSandboxResourcesResponse {}))
    }

    async fn create_container(
        &self,
        req: Request<cri::CreateContainerRequest>,
    ) -> Reply<cri::CreateContainerResponse> {
        container_create::create_container(self, req.into_inner()).await.map(Response::new)
    }

    async fn start_container(
        &self,
        req: Request<cri::StartContainerRequest>,
    ) -> Reply<cri::StartContainerResponse> {
        let rec = container_status::cri_container(self, &req.into_inner().container_id)?;
        self.engine.start(&rec.id).await?;
        Ok(Response::new(cri::StartContainerResponse {}))
    }

    /// Idempotent: an unknown id succeeds. Timeout 0 kills at once.
    async fn stop_container(
        &self,
        req: Request<cri::StopContainerRequest>,
    ) -> Reply<cri::StopContainerResponse> {
        let r = req.into_inner();
        let timeout = std::time::Duration::from_secs(r.timeout.max(0) as u64);
        let Ok(rec) = self.engine.pod_container(&r.container_id) else {
            return Ok(Response::new(cri::StopContainerResponse {}));
        };
        match self.engine.stop(&rec.id, Some(timeout)).await {
            Ok(()) | Err(berth_engine::Error::NotFound(_)) => {
                Ok(Response::new(cri::StopContainerResponse {}))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Idempotent: an unknown id succeeds; a running container is killed first.
    async fn remove_container(
        &self,
        req: Request<cri::RemoveContainerRequest>,
    ) -> Reply<cri::RemoveContainerResponse> {
        let Ok(rec) = self.engine.pod_container(&req.into_inner().container_id) else {
            return Ok(Response::new(cri::RemoveContainerResponse {}));
        };
        match self.engine.remove(&rec.id, true).await {
            Ok(()) | Err(berth_engine::Error::NotFound(_)) => {
                Ok(Response::new(cri::RemoveContainerResponse {}))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn list_containers(
        &self,
        req: Request<cri::ListContainersRequest>,
    ) -> Reply<cri::ListContainersResponse> {
        container_status::list_containers(self, req.into_inner()).map(Response::new)
    }

    type StreamContainersStream = ItemStream<cri::StreamContainersResponse>;

    async fn stream_containers(
        &self,
        req: Request<cri::StreamContainersRequest>,
    ) -> Reply<Self::StreamContainersStream> {
        let list = container_status::list_containers(
            self,
            cri::ListContainersRequest { filter: req.into_inner().filter },
        )?;
        Ok(Response::new(chunked(list.containers, |containers| cri::StreamContainersResponse {
            containers,
        })))
    }

    async fn container_status(
        &self,
        req: Request<cri::ContainerStatusRequest>,
    ) -> Reply<cri::ContainerStatusResponse> {
        container_status::container_status(self, req.into_inner()).map(Response::new)
    }

    async fn update_container_resources(
        &self,
        req: Request<cri::UpdateContainerResourcesRequest>,
    ) -> Reply<cri::UpdateContainerResourcesResponse> {
        container_update::update_container_resources(self, req.into_inner())
            .await
            .map(Response::new)
    }

    async fn reopen_container_log(
        &self,
        req: Request<cri::ReopenContainerLogRequest>,
    ) -> Reply<cri::ReopenContainerLogResponse> {
        let rec = container_status::cri_container(self, &req.into_inner().container_id)?;
        self.engine.reopen_log(&rec.id).await?;
        Ok(Response::new(cri::ReopenContainerLogResponse {}))
    }

    async fn exec_sync(&self, req: Request<cri::ExecSyncRequest>) -> Reply<cri::ExecSyncResponse> {
        container_exec::exec_sync(self, req.into_inner()).await.map(Response::new)
    }

    async fn exec(&self, req: Request<cri::ExecRequest>) -> Reply<cri::ExecResponse> {
        container_stream::exec(self, req.into_inner()).map(Response::new)
    }

    async fn attach(&self, req: Request<cri::AttachRequest>) -> Reply<cri::AttachResponse> {
        container_stream::attach(self, req.into_inner()).map(Response::new)
    }

    async fn port_forward(
        &self,
        req: Request<cri::PortForwardRequest>,
    ) -> Reply<cri::PortForwardResponse> {
        container_stream::port_forward(self, req.into_inner()).map(Response::new)
    }

    async fn container_stats(
        &self,
        req: Request<cri::ContainerStatsRequest>,
    ) -> Reply<cri::ContainerStatsResponse> {
        stats::container_stats(self, req.into_inner()).await.map(Response::new)
    }

    async fn list_container_stats(
        &self,
        req: Request<cri::ListContainerStatsRequest>,
    ) -> Reply<cri::ListContainerStatsResponse> {
        stats::list_container_stats(self, req.into_inner()).await.map(Response::new)
    }

    async fn pod_sandbox_stats(
        &self,
        req: Request<cri::PodSandboxStatsRequest>,
    ) -> Reply<cri::PodSandboxStatsResponse> {
        stats::pod_sandbox_stats(self, req.into_inner()).await.map(Response::new)
    }

    async fn list_pod_sandbox_stats(
        &self,
        req: Request<cri::ListPodSandboxStatsRequest>,
    ) -> Reply<cri::ListPodSandboxStatsResponse> {
        stats::list_pod_sandbox_stats(self, req.into_inner()).await.map(Response::new)
    }

    type StreamContainerStatsStream = ItemStream<cri::StreamContainerStatsResponse>;

    async fn stream_container_stats(
        &self,
        req: Request<cri::StreamContainerStatsRequest>,
    ) -> Reply<Self::StreamContainerStatsStream> {
        let list = stats::list_container_stats(
            self,
            cri::ListContainerStatsRequest { filter: req.into_inner().filter },
        )
        .await?;
        Ok(Response::new(chunked(list.stats, |container_stats| {
            cri::StreamContainerStatsResponse { container_stats }
        })))
    }

    type StreamPodSandboxStatsStream = ItemStream<cri::StreamPodSandboxStatsResponse>;

    async fn stream_pod_sandbox_stats(
        &self,
        req: Request<cri::StreamPodSandboxStatsRequest>,
    ) -> Reply<Self::StreamPodSandboxStatsStream> {
        let list = stats::list_pod_sandbox_stats(
            self,
            cri::ListPodSandboxStatsRequest { filter: req.into_inner().filter },
        )
        .await?;
        Ok(Response::new(chunked(list.stats, |pod_sandbox_stats| {
            cri::StreamPodSandboxStatsResponse { pod_sandbox_stats }
        })))
    }

    type StreamPodSandboxMetricsStream = ItemStream<cri::StreamPodSandboxMetricsResponse>;

    async fn stream_pod_sandbox_metrics(
        &self,
        _req: Request<cri::StreamPodSandboxMetricsRequest>,
    ) -> Reply<Self::StreamPodSandboxMetricsStream> {
        let list = metrics::pod_sandbox_metrics(self).await?;
        Ok(Response::new(chunked(list, |pod_sandbox_metrics| {
            cri::StreamPodSandboxMetricsResponse { pod_sandbox_metrics }
        })))
    }

    async fn checkpoint_pod(
        &self,
        _req: Request<cri::CheckpointPodRequest>,
    ) -> Reply<cri::CheckpointPodResponse> {
        Err(not_yet("CheckpointPod"))
    }

    async fn restore_pod(
        &self,
        _req: Request<cri::RestorePodRequest>,
    ) -> Reply<cri::RestorePodResponse> {
        Err(not_yet("RestorePod"))
    }

    async fn checkpoint_container(
        &self,
        _req: Request<cri::CheckpointContainerRequest>,
    ) -> Reply<cri::CheckpointContainerResponse> {
        Err(not_yet("CheckpointContainer"))
    }

    type GetContainerEventsStream = container_events::EventStream;

    async fn get_container_events(
        &self,
        _req: Request<cri::GetEventsRequest>,
    ) -> Reply<Self::GetContainerEventsStream> {
        Ok(Response::new(container_events::get_container_events(self)))
    }

    async fn list_metric_descriptors(
        &self,
        _req: Request<cri::ListMetricDescriptorsRequest>,
    ) -> Reply<cri::ListMetricDescriptorsResponse> {
        Ok(Response::new(metrics::list_metric_descriptors()))
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _req: Request<cri::ListPodSandboxMetricsRequest>,
    ) -> Reply<cri::ListPodSandboxMetricsResponse> {
        Ok(Response::new(cri::ListPodSandboxMetricsResponse {
            pod_metrics: metrics::pod_sandbox_metrics(self).await?,
        }))
    }
}

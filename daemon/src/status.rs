//! Handler results as gRPC results. The mapping of engine errors to codes
//! itself lives in one place: `From<berth_engine::Error> for tonic::Status`.

use tonic::Status;

/// `?`-friendly conversion for handler results.
pub trait IntoStatus<T> {
    fn status(self) -> Result<T, Status>;
}

impl<T> IntoStatus<T> for Result<T, berth_engine::Error> {
    fn status(self) -> Result<T, Status> {
        self.map_err(Status::from)
    }
}

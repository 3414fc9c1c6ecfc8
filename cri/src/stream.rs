//! The `Stream*` list RPCs (KEP 5825, kubelet's CRIListStreaming): the
//! same lists as their unary twins, sent in chunks so that no message nears
//! gRPC's size limit on a node with thousands of objects; then EOF.

use std::pin::Pin;
use tokio_stream::Stream;
use tonic::Status;

/// Items per message.
const CHUNK: usize = 256;

pub(crate) type ItemStream<R> = Pin<Box<dyn Stream<Item = Result<R, Status>> + Send>>;

/// `items` as a stream of messages made by `wrap`; one (empty) message for
/// an empty list, so a client always sees the shape of the answer.
pub(crate) fn chunked<T: Send + 'static, R: Send + 'static>(
    items: Vec<T>,
    wrap: impl Fn(Vec<T>) -> R + Send + 'static,
) -> ItemStream<R> {
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(CHUNK).collect());
    }
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    Box::pin(tokio_stream::iter(chunks.into_iter().map(move |c| Ok(wrap(c)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn chunks_cover_every_item_once() {
        for n in [0, 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let got: Vec<Vec<usize>> =
                chunked((0..n).collect(), |c| c).map(|r| r.unwrap()).collect().await;
            assert_eq!(got.len(), n.div_ceil(CHUNK).max(1));
            assert_eq!(got.into_iter().flatten().collect::<Vec<_>>(), (0..n).collect::<Vec<_>>());
        }
    }
}

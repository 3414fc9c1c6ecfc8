//! Kubernetes' own size limits on what kubelet sends, checked once at the
//! CRI front: everything the API server can admit is accepted (pod names
//! are DNS subdomains of 253, namespaces DNS labels of 63, annotations
//! 256 KiB in all), and anything larger is InvalidArgument before the
//! engine records it. Container names are DNS labels of 63 in Kubernetes,
//! but critest (and other CRI clients) use longer ones, which containerd
//! takes: berth takes them up to a subdomain's 253.

use std::collections::HashMap;
use tonic::Status;

/// A pod's name: a DNS subdomain.
pub(crate) const POD_NAME: usize = 253;
/// A namespace's name: a DNS label.
pub(crate) const LABEL_NAME: usize = 63;
/// A container's name: a DNS label in Kubernetes, longer from other clients.
pub(crate) const CONTAINER_NAME: usize = 253;
/// A pod's uid: a UUID (36) or a static pod's hash (32), with room.
pub(crate) const UID: usize = 64;
/// Label keys: an optional DNS-subdomain prefix, `/`, and a name of 63.
pub(crate) const LABEL_KEY: usize = 253 + 1 + 63;
/// Label values: 63 for the API's own labels, but kubelet puts the pod's
/// name (253) into `io.kubernetes.pod.name`.
pub(crate) const LABEL_VALUE: usize = 253;
/// Keys and values of all annotations together (the API server's limit).
pub(crate) const ANNOTATIONS: usize = 256 << 10;

fn at_most(what: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(Status::invalid_argument(format!(
            "{what} is {} bytes long; at most {max} are allowed",
            value.len()
        )));
    }
    Ok(())
}

/// A pod's metadata: name, namespace and uid.
pub(crate) fn pod_metadata(name: &str, namespace: &str, uid: &str) -> Result<(), Status> {
    at_most("pod sandbox metadata.name", name, POD_NAME)?;
    at_most("pod sandbox metadata.namespace", namespace, LABEL_NAME)?;
    at_most("pod sandbox metadata.uid", uid, UID)
}

/// A container's name in its pod.
pub(crate) fn container_name(name: &str) -> Result<(), Status> {
    at_most("container metadata.name", name, CONTAINER_NAME)
}

/// Labels and annotations of a pod or a container.
pub(crate) fn labels_and_annotations(
    labels: &HashMap<String, String>,
    annotations: &HashMap<String, String>,
) -> Result<(), Status> {
    for (k, v) in labels {
        if k.is_empty() {
            return Err(Status::invalid_argument("a label key must not be empty"));
        }
        at_most("label key", k, LABEL_KEY)?;
        at_most(&format!("the value of label {k:?}"), v, LABEL_VALUE)?;
    }
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > ANNOTATIONS {
        return Err(Status::invalid_argument(format!(
            "annotations are {total} bytes in all; at most {ANNOTATIONS} are allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_maxima_pass_and_one_more_is_refused() {
        assert!(
            pod_metadata(&"p".repeat(POD_NAME), &"n".repeat(LABEL_NAME), &"u".repeat(36)).is_ok()
        );
        assert!(pod_metadata(&"p".repeat(POD_NAME + 1), "n", "u").is_err());
        assert!(pod_metadata("p", &"n".repeat(LABEL_NAME + 1), "u").is_err());
        assert!(container_name(&"c".repeat(CONTAINER_NAME)).is_ok());
        assert!(container_name(&"c".repeat(CONTAINER_NAME + 1)).is_err());
        let labels: HashMap<_, _> = [
            ("app".to_string(), "v".repeat(63)),
            ("io.kubernetes.pod.name".to_string(), "p".repeat(POD_NAME)),
        ]
        .into();
        let big: HashMap<_, _> = [("a".to_string(), "x".repeat(ANNOTATIONS - 1))].into();
        assert!(labels_and_annotations(&labels, &big).is_ok());
        let too_big: HashMap<_, _> = [("a".to_string(), "x".repeat(ANNOTATIONS))].into();
        assert_eq!(
            labels_and_annotations(&labels, &too_big).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let long_value: HashMap<_, _> = [("app".to_string(), "v".repeat(LABEL_VALUE + 1))].into();
        assert!(labels_and_annotations(&long_value, &HashMap::new()).is_err());
    }
}

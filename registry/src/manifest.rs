//! Manifests and indexes: OCI image manifest and index, Docker schema2
//! manifest and manifest list. Parsed strictly enough that nothing in them
//! is used unchecked (digests, sizes, media types), loosely enough that
//! fields berth doesn't use are ignored.

use crate::digest;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// What `Accept` lists when fetching a manifest.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or index accepted (as containerd: 4 MiB).
pub const MAX_MANIFEST: usize = 4 << 20;
/// Largest image config accepted.
pub const MAX_CONFIG: usize = 8 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// An os/architecture/variant triple.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on, as Go names it (`linux/amd64`, `linux/arm64/v8`).
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Self {
            architecture: architecture.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
        }
    }

    /// Parses `os/arch[/variant]` (Docker's `--platform`).
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Self {
                os: os.to_lowercase(),
                architecture: normalize_arch(arch),
                variant: None,
            }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(Self {
                os: os.to_lowercase(),
                architecture: normalize_arch(arch),
                variant: Some(v.to_lowercase()),
            }),
            _ => Err(Error::InvalidReference(format!(
                "invalid platform {s:?}: want os/arch[/variant], e.g. linux/amd64"
            ))),
        }
    }

    /// Whether an index entry for `other` can run here: same os and
    /// architecture, and the same variant when both name one (arm64's
    /// variant defaults to v8).
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != normalize_arch(&other.architecture) {
            return false;
        }
        let default = if self.architecture == "arm64" { Some("v8") } else { None };
        let mine = self.variant.as_deref().or(default);
        let theirs = other.variant.as_deref().or(default);
        match (mine, theirs) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(a: &str) -> String {
    match a.to_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

/// An image manifest (OCI or Docker schema2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A fetched manifest of either kind.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

/// Checks that a layer media type is one berth unpacks (tar, gzip or zstd;
/// the unpacker recognises which by the blob's magic). Unknown types
/// (encrypted, foreign, artifacts) are refused.
pub fn check_layer_media_type(media_type: &str) -> Result<()> {
    match media_type {
        OCI_LAYER_TAR
        | "application/vnd.docker.image.rootfs.diff.tar"
        | OCI_LAYER_GZIP
        | DOCKER_LAYER_GZIP
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | OCI_LAYER_ZSTD => Ok(()),
        other => Err(Error::Invalid(format!("unsupported layer media type {other:?}"))),
    }
}

impl Manifest {
    /// Parses a manifest. `content_type` is the registry's header, used
    /// only when the document doesn't name its own media type.
    pub fn parse(data: &[u8], content_type: Option<&str>) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            schema_version: Option<u32>,
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
            config: Option<serde_json::Value>,
        }
        let bad = |e: serde_json::Error| Error::Invalid(format!("malformed manifest: {e}"));
        let probe: Probe = serde_json::from_slice(data).map_err(bad)?;
        if probe.schema_version == Some(1) {
            return Err(Error::Invalid(
                "Docker schema 1 manifests are not supported (deprecated since 2017)".into(),
            ));
        }
        let media = probe
            .media_type
            .as_deref()
            .or(content_type.map(|c| c.split(';').next().unwrap_or("").trim()));
        let is_index = match media {
            Some(OCI_INDEX | DOCKER_LIST) => true,
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
            _ if probe.manifests.is_some() => true,
            _ if probe.config.is_some() => false,
            other => {
                return Err(Error::Invalid(format!(
                    "unsupported manifest media type {:?}",
                    other.unwrap_or("")
                )))
            }
        };
        let m = if is_index {
            let idx: Index = serde_json::from_slice(data).map_err(bad)?;
            for d in &idx.manifests {
                digest::check(&d.digest)?;
            }
            Manifest::Index(idx)
        } else {
            let m: ImageManifest = serde_json::from_slice(data).map_err(bad)?;
            digest::check(&m.config.digest)?;
            if m.config.size as usize > MAX_CONFIG {
                return Err(Error::Invalid(format!(
                    "image config of {} bytes is larger than {MAX_CONFIG}",
                    m.config.size
                )));
            }
            for l in &m.layers {
                digest::check(&l.digest)?;
                check_layer_media_type(&l.media_type)?;
            }
            Manifest::Image(m)
        };
        Ok(m)
    }
}

impl Index {
    /// The entry for `want`, skipping attestations and other non-images.
    pub fn pick(&self, want: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            matches!(d.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST | "")
                && d.platform.as_ref().is_some_and(|p| want.matches(p))
        })
    }

    /// The platforms the index offers, for error messages.
    pub fn platforms(&self) -> String {
        let v: Vec<String> = self
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
            .collect();
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_like_containerd() {
        let host = Platform::parse("linux/amd64").unwrap();
        assert!(host.matches(&Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None
        }));
        assert!(!host.matches(&Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: None
        }));
        assert!(!host.matches(&Platform {
            os: "windows".into(),
            architecture: "amd64".into(),
            variant: None
        }));
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(arm.matches(&Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into())
        }));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!v7.matches(&Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v6".into())
        }));
        for bad in ["linux", "linux/", "a/b/c/d", "linux/../x"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifests_are_checked() {
        let d = format!("sha256:{}", "a".repeat(64));
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{d}","size":2}},"layers":[{{"mediaType":"{OCI_LAYER_ZSTD}","digest":"{d}","size":5}}]}}"#
        );
        assert!(matches!(Manifest::parse(m.as_bytes(), None).unwrap(), Manifest::Image(_)));
        let bad_digest = m.replace(&d[7..], "../../etc");
        assert!(Manifest::parse(bad_digest.as_bytes(), None).is_err());
        let bad_layer =
            m.replace(OCI_LAYER_ZSTD, "application/vnd.oci.image.layer.v1.tar+encrypted");
        assert!(Manifest::parse(bad_layer.as_bytes(), None).is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#
        );
        let Manifest::Index(i) = Manifest::parse(idx.as_bytes(), Some(OCI_INDEX)).unwrap() else {
            panic!()
        };
        assert!(i.pick(&Platform::parse("linux/amd64").unwrap()).is_none());
        assert!(i.pick(&Platform::parse("linux/arm64/v8").unwrap()).is_some());
    }
}

//! Content digests (`sha256:<64 lowercase hex>`), checked before use and
//! verified over content as it streams.

use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256};

/// Checks that `d` is a sha256 digest berth can verify.
pub fn check(d: &str) -> Result<&str> {
    match d.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(Error::Invalid(format!(
            "unsupported or malformed digest {d:?} (only sha256 is supported)"
        ))),
    }
}

/// The digest of a byte string.
pub fn of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Fails unless `data` hashes to `want`.
pub fn verify(data: &[u8], want: &str) -> Result<()> {
    let got = of(data);
    if got == want {
        Ok(())
    } else {
        Err(Error::Invalid(format!("digest mismatch: content is {got}, expected {want}")))
    }
}

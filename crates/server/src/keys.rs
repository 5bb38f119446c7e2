//! API key secrets: their format, their checksum, and their hash.
//!
//! A key looks like `pc_` + 32 random characters of `[A-Za-z0-9]` + `_` + a 6-character
//! checksum of the random part. The fixed prefix and the checksum let secret scanners find
//! a leaked key with few false positives; the pattern is
//! `pc_[A-Za-z0-9]{32}_[A-Za-z0-9]{6}`. Only the SHA-256 of a key is stored.

use rand::Rng;
use sha2::{Digest, Sha256};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The regular expression that matches every generated key, for secret scanners.
pub const KEY_PATTERN: &str = "pc_[A-Za-z0-9]{32}_[A-Za-z0-9]{6}";

/// A new random key with its checksum.
pub fn generate() -> String {
    let mut rng = rand::thread_rng();
    let random: String = (0..32)
        .map(|_| ALPHANUMERIC[rng.gen_range(0..ALPHANUMERIC.len())] as char)
        .collect();
    format!("pc_{random}_{}", checksum(&random))
}

/// Six alphanumeric characters derived from the SHA-256 of `random`.
fn checksum(random: &str) -> String {
    let digest = Sha256::digest(format!("policycortex-key:{random}"));
    digest
        .iter()
        .take(6)
        .map(|byte| ALPHANUMERIC[*byte as usize % ALPHANUMERIC.len()] as char)
        .collect()
}

/// Whether `key` could be a key this service accepts: a generated key with a correct
/// checksum, or a bootstrap key of 32 to 256 characters of `[A-Za-z0-9_-]`.
/// Checking the shape first spares the database lookups for garbage.
pub fn is_well_formed(key: &str) -> bool {
    if let Some(rest) = key.strip_prefix("pc_") {
        if let Some((random, sum)) = rest.split_once('_') {
            if random.len() == 32 && random.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return sum == checksum(random);
            }
        }
    }
    is_valid_bootstrap_key(key)
}

/// Whether `key` may serve as the bootstrap key: 32 to 256 characters of `[A-Za-z0-9_-]`.
pub fn is_valid_bootstrap_key(key: &str) -> bool {
    (32..=256).contains(&key.len())
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// The stored form of a key: SHA-256, hex. A plain hash suffices because keys carry
/// about 190 bits of randomness; nobody can search that space.
pub fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The first characters of a key, safe to show in lists.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(7).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_matches_the_published_pattern_and_checksum() {
        let key = generate();
        let pattern = regex::Regex::new(&format!("^{KEY_PATTERN}$")).unwrap();

        assert!(pattern.is_match(&key), "{key}");
        assert!(is_well_formed(&key));
    }

    #[test]
    fn a_key_with_a_wrong_checksum_is_not_well_formed() {
        let key = generate();
        let mut broken = key.clone();
        broken.replace_range(4..5, if &key[4..5] == "A" { "B" } else { "A" });

        assert!(!is_well_formed(&broken));
        assert!(!is_well_formed("pc_short"));
        assert!(!is_well_formed(
            "has spaces in it but is long enough to pass"
        ));
    }
}

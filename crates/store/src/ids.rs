//! Random, prefixed, URL-safe ids such as `pol_7k2m…`.

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A new id: `prefix`, an underscore and 20 random characters of `[0-9a-z]` (about 103
/// bits of randomness).
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let random: String = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{random}")
}

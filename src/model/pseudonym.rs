//! E-mail pseudonyms: raw addresses never get past ingestion.
//!
//! An address is replaced by `hmac:k<version>:<64 hex digits>`, the HMAC-SHA256 of the trimmed,
//! lower-cased address under a secret key. The same address under the same key always gives the
//! same pseudonym, so analytics can still join on it; without the key it cannot be reversed by
//! hashing a list of candidate addresses, which a plain hash would allow. The key version in the
//! value says which key made it, so keys can be rotated.

use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "hmac:k";

/// Turns e-mail addresses into keyed pseudonyms.
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
    version: u32,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Pseudonymizer").field("version", &self.version).finish_non_exhaustive()
    }
}

impl Pseudonymizer {
    pub fn new(key: &[u8], version: u32) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts keys of any length");
        Pseudonymizer { mac, version }
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The pseudonym of an address.
    pub fn pseudonym(&self, email: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(email.trim().to_lowercase().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = format!("{PREFIX}{}:", self.version);
        out.push_str(&hex::encode(digest));
        out
    }

    /// True when `value` already is a pseudonym (of any key version).
    pub fn is_pseudonym(value: &str) -> bool {
        let Some(rest) = value.strip_prefix(PREFIX) else { return false };
        let Some((version, digest)) = rest.split_once(':') else { return false };
        !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
            && digest.len() == 64
            && all_hex_digits(digest.as_bytes())
    }

    /// Replaces every e-mail-like token in free text (a rejected line's raw bytes) by its
    /// pseudonym, so that the dead-letter topic does not leak addresses either.
    pub fn scrub(&self, raw: &[u8]) -> Vec<u8> {
        if !raw.contains(&b'@') {
            return raw.to_vec();
        }
        let is_addr_byte = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'@' {
                let mut start = i;
                while start > 0 && is_addr_byte(raw[start - 1]) {
                    start -= 1;
                }
                let mut end = i + 1;
                while end < raw.len() && is_addr_byte(raw[end]) {
                    end += 1;
                }
                let local_len = i - start;
                let domain = &raw[i + 1..end];
                if local_len > 0 && domain.contains(&b'.') {
                    // `start` bytes of the local part are already in `out`; take them back.
                    out.truncate(out.len() - local_len);
                    let addr = String::from_utf8_lossy(&raw[start..end]);
                    out.extend_from_slice(self.pseudonym(&addr).as_bytes());
                    i = end;
                    continue;
                }
            }
            out.push(raw[i]);
            i += 1;
        }
        out
    }
}

/// `bytes.iter().all(u8::is_ascii_hexdigit)` without a branch per byte: on random hex digits
/// the short-circuiting form mispredicts about every other byte.
fn all_hex_digits(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        let letter = b | 0x20;
        ok & ((b.wrapping_sub(b'0') < 10) | (letter.wrapping_sub(b'a') < 6))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonym_is_keyed_versioned_and_normalised() {
        let p = Pseudonymizer::new(b"secret", 3);
        let a = p.pseudonym("Alice@Example.com ");
        assert_eq!(a, p.pseudonym("alice@example.com"));
        assert!(a.starts_with("hmac:k3:"));
        assert!(Pseudonymizer::is_pseudonym(&a));
        assert_ne!(a, Pseudonymizer::new(b"other", 3).pseudonym("alice@example.com"));
        assert!(!a.contains("alice"));
        assert!(!Pseudonymizer::is_pseudonym("alice@example.com"));
    }

    #[test]
    fn hex_digits_are_told_from_the_rest() {
        for b in 0..=255u8 {
            assert_eq!(all_hex_digits(&[b'a', b, b'0']), b.is_ascii_hexdigit(), "{b}");
        }
    }

    #[test]
    fn scrub_replaces_addresses_in_raw_lines() {
        let p = Pseudonymizer::new(b"secret", 1);
        let raw = br#"{"customer_email":"bob.smith+x@shop.co.uk","amount":"oops"} mail a@b"#;
        let out = String::from_utf8(p.scrub(raw)).unwrap();
        assert!(!out.contains("bob.smith"), "{out}");
        assert!(out.contains(&p.pseudonym("bob.smith+x@shop.co.uk")));
        assert!(out.contains("\"amount\":\"oops\""));
        assert!(out.ends_with("mail a@b"), "no dot in domain, left alone: {out}");
    }
}

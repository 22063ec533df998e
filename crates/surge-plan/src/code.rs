//! Values shared with the reference target: verification codes and discovery hashes.

use sha2::{Digest, Sha256};

use crate::Phone;

/// `format!("{:06}", u32::from_be_bytes(sha256("{secret}:{e164}")[0..4]) % 1_000_000)`.
pub fn verification_code(secret: &str, phone: Phone) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(b":");
    let mut e164 = Vec::with_capacity(20);
    phone.write_e164(&mut e164);
    h.update(&e164);
    let d = h.finalize();
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
    format!("{n:06}")
}

/// Discovery hash of a number: the first 8 bytes of sha256(E.164 text), as 16 lowercase hex chars.
pub fn discovery_hash_hex(phone: Phone) -> String {
    let mut e164 = Vec::with_capacity(20);
    phone.write_e164(&mut e164);
    let d = Sha256::digest(&e164);
    hex::encode(&d[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_matches_the_formula() {
        let p = Phone(15_550_001_234);
        let d = Sha256::digest(b"surge-staging-secret:+15550001234");
        let want = format!(
            "{:06}",
            u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000
        );
        assert_eq!(verification_code("surge-staging-secret", p), want);
        assert_eq!(verification_code("s", p).len(), 6);
        assert_eq!(
            discovery_hash_hex(p),
            hex::encode(&Sha256::digest(b"+15550001234")[..8])
        );
    }
}

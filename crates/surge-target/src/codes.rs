//! The values a load tester can derive without asking the backend: verification codes, discovery
//! hashes and bearer tokens. Everything is SHA-256 of a documented string.

use sha2::{Digest, Sha256};

/// The 6-digit code the SMS gateway "sends" to `number`.
///
/// `format!("{:06}", u32::from_be_bytes(sha256(format!("{secret}:{number}"))[0..4]) % 1_000_000)`,
/// so a load tester that knows the plan's secret can pass verification.
///
/// ```
/// let code = surge_target::verification_code("surge-staging-secret", "+15550001234");
/// assert_eq!(code.len(), 6);
/// assert!(code.bytes().all(|b| b.is_ascii_digit()));
/// ```
pub fn verification_code(secret: &str, number: &str) -> String {
    format!("{:06}", code_value(secret, number))
}

/// The numeric value of [`verification_code`].
pub(crate) fn code_value(secret: &str, number: &str) -> u32 {
    let digest = Sha256::new()
        .chain_update(secret.as_bytes())
        .chain_update(b":")
        .chain_update(number.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000
}

/// The contact-discovery hash of an E.164 number: the first 8 bytes of SHA-256 of the number's
/// text (e.g. `"+15550001234"`), read big-endian.
///
/// On the wire (`POST /v1/discovery`) it is written as 16 lowercase hex digits, i.e.
/// `format!("{:016x}", discovery_hash(number))`, which is also [`discovery_hash_hex`].
///
/// ```
/// let h = surge_target::discovery_hash("+15550001234");
/// assert_eq!(format!("{h:016x}"), surge_target::discovery_hash_hex("+15550001234"));
/// ```
pub fn discovery_hash(number: &str) -> u64 {
    let digest = Sha256::digest(number.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// [`discovery_hash`] in its wire form: 16 lowercase hex digits.
pub fn discovery_hash_hex(number: &str) -> String {
    format!("{:016x}", discovery_hash(number))
}

/// The bearer token of an account: `"{account_id}.{first 16 hex chars of sha256("{secret}:tok:{account_id}")}"`.
///
/// No token is stored; the backend checks one by recomputing it.
pub fn account_token(secret: &str, account_id: u64) -> String {
    format!("{account_id}.{:016x}", token_mac(secret, account_id))
}

fn token_mac(secret: &str, account_id: u64) -> u64 {
    let id = account_id.to_string();
    let digest = Sha256::new()
        .chain_update(secret.as_bytes())
        .chain_update(b":tok:")
        .chain_update(id.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// An E.164 number (`+` and 8 to 15 digits, see [`is_e164`]) packed in 64 bits: the digit count in the top byte,
/// the digits' value below. `None` when `number` is not of that form.
pub(crate) fn pack_number(number: &str) -> Option<u64> {
    if !is_e164(number) {
        return None;
    }
    let digits = number.strip_prefix('+')?;
    let value: u64 = digits.parse().ok()?;
    Some(((digits.len() as u64) << 56) | value)
}

/// The text of a number packed by [`pack_number`] (`""` for 0, an unknown number).
pub(crate) fn unpack_number(packed: u64) -> String {
    let len = (packed >> 56) as usize;
    if len == 0 {
        return String::new();
    }
    format!("+{:0len$}", packed & ((1 << 56) - 1))
}

/// Checks a bearer token and returns its account id; `max_id` is the highest id issued so far.
pub(crate) fn check_token(secret: &str, token: &str, max_id: u64) -> Option<u64> {
    let (id, mac) = token.split_once('.')?;
    if mac.len() != 16 || id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let id: u64 = id.parse().ok()?;
    let mac = u64::from_str_radix(mac, 16).ok()?;
    (id >= 1 && id <= max_id && mac == token_mac(secret, id)).then_some(id)
}

/// Whether `number` is an E.164 number as the API accepts it: `+` then 8 to 15 digits.
pub(crate) fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a wire-form discovery hash (exactly 16 hex digits).
pub(crate) fn parse_hash_hex(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_pack_and_unpack() {
        for number in ["+15550001234", "+00001234", "+123456789012345"] {
            let packed = pack_number(number);
            assert_eq!(packed.map(unpack_number).as_deref(), Some(number));
        }
        assert_eq!(pack_number("15550001234"), None);
        assert_eq!(pack_number("+1234567890123456"), None);
        assert_eq!(unpack_number(0), "");
    }

    fn sha_hex(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn code_follows_the_published_formula() {
        let digest = Sha256::digest(b"s3:+15550001234");
        let expected = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
        assert_eq!(
            verification_code("s3", "+15550001234"),
            format!("{expected:06}")
        );
        assert_ne!(
            verification_code("s3", "+15550001234"),
            verification_code("s4", "+15550001234")
        );
    }

    #[test]
    fn hash_is_the_first_eight_bytes_of_sha256() {
        let full = sha_hex("+15550001234");
        assert_eq!(discovery_hash_hex("+15550001234"), full[..16]);
        assert_eq!(
            parse_hash_hex(&full[..16]),
            Some(discovery_hash("+15550001234"))
        );
        assert_eq!(parse_hash_hex("xyz"), None);
    }

    #[test]
    fn tokens_verify_by_recomputation() {
        let token = account_token("k", 42);
        let full = sha_hex("k:tok:42");
        assert_eq!(token, format!("42.{}", &full[..16]));
        assert_eq!(check_token("k", &token, 42), Some(42));
        assert_eq!(check_token("k", &token, 41), None, "id not issued yet");
        assert_eq!(check_token("other", &token, 42), None);
        assert_eq!(check_token("k", "42.0000000000000000", 42), None);
        assert_eq!(check_token("k", "garbage", 42), None);
    }

    #[test]
    fn e164_rule() {
        assert!(is_e164("+15550001234"));
        assert!(is_e164("+12345678"));
        assert!(!is_e164("+1234567"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("15550001234"));
        assert!(!is_e164("+1555000123a"));
    }
}

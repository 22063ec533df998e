//! Registered accounts and verification sessions, in memory and sharded.
//!
//! Both live in 64 shards, each a `parking_lot::Mutex<HashMap>`, chosen by the low bits of a key
//! that is already uniformly distributed (a discovery hash or a random session id), so no lookup
//! takes a global lock. An account costs 16 bytes of table entry (8-byte discovery-hash key, a 4-byte
//! account id and a 4-byte "visible to discovery from" timestamp) plus hashbrown's control byte and
//! free space: about 20-36 bytes per account, so 10 million accounts take 200-360 MB
//! (`cargo run --release -p surge-target --example accounts_memory` measures it). Tokens are never
//! stored: they are recomputed from the account id (see [`crate::account_token`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

const SHARDS: usize = 64;
/// Every this many session inserts, a shard drops its expired sessions.
const PURGE_EVERY: u32 = 1024;

/// The splitmix64 finaliser: a bijection on u64 with full avalanche.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A hasher for keys that are already random: one mixing step, no SipHash.
#[derive(Default, Clone, Copy)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix64(self.0 ^ u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = mix64(self.0 ^ value);
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = mix64(self.0 ^ value as u64 ^ mix64((value >> 64) as u64));
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<MixHasher>>;

/// Approximate heap bytes of a hashbrown table holding `capacity` entries of `entry` bytes.
fn table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity.saturating_mul(8) / 7).next_power_of_two();
    buckets * (entry + 1) + 16
}

#[derive(Clone, Copy)]
struct AccountEntry {
    id: u32,
    visible_ms: u32,
}

/// Why a registration failed.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The number already has an account.
    Duplicate,
    /// More than `u32::MAX` accounts: ids are stored in 32 bits.
    Exhausted,
}

/// Registered accounts keyed by the discovery hash of their number: the table the server uses,
/// public so that its memory can be measured (`examples/accounts_memory.rs`).
pub struct Accounts {
    shards: Box<[Mutex<Map<u64, AccountEntry>>]>,
    count: AtomicU64,
    next_id: AtomicU64,
}

impl Default for Accounts {
    fn default() -> Accounts {
        Accounts::new()
    }
}

impl Accounts {
    /// An empty table.
    pub fn new() -> Accounts {
        Accounts {
            shards: (0..SHARDS).map(|_| Mutex::new(Map::default())).collect(),
            count: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<Map<u64, AccountEntry>> {
        &self.shards[(hash as usize) % SHARDS]
    }

    /// Registers the number with this discovery hash; it becomes visible to discovery at
    /// `visible_ms` (milliseconds since the server started; saturates after ~49 days).
    pub fn register(&self, hash: u64, visible_ms: u64) -> Result<u64, RegisterError> {
        let mut shard = self.shard(hash).lock();
        if shard.contains_key(&hash) {
            return Err(RegisterError::Duplicate);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Ok(id32) = u32::try_from(id) else {
            return Err(RegisterError::Exhausted);
        };
        let visible_ms = u32::try_from(visible_ms).unwrap_or(u32::MAX);
        shard.insert(
            hash,
            AccountEntry {
                id: id32,
                visible_ms,
            },
        );
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Whether the number is registered and visible to discovery at `now_ms`.
    pub fn visible(&self, hash: u64, now_ms: u64) -> bool {
        let shard = self.shard(hash).lock();
        shard
            .get(&hash)
            .is_some_and(|e| u64::from(e.visible_ms) <= now_ms)
    }

    /// The account id of a registered number, visible or not.
    pub(crate) fn id_of(&self, hash: u64) -> Option<u64> {
        self.shard(hash).lock().get(&hash).map(|e| u64::from(e.id))
    }

    /// Number of accounts.
    pub fn len(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no account is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The highest account id handed out so far.
    pub fn max_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// Approximate heap bytes of the account tables.
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u64, AccountEntry)>();
        self.shards
            .iter()
            .map(|s| table_bytes(s.lock().capacity(), entry))
            .sum()
    }
}

/// Each account's number (packed by [`crate::codes::pack_number`]), indexed by account id: the
/// `from` of the messages it sends. Ids are dense, so this is 8 bytes per account in 64 shards.
pub(crate) struct Numbers {
    shards: Box<[Mutex<Vec<u64>>]>,
}

impl Numbers {
    pub fn new() -> Numbers {
        Numbers {
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Records the number of account `id`.
    pub fn set(&self, id: u64, number: u64) {
        let (shard, slot) = ((id as usize) % SHARDS, (id as usize) / SHARDS);
        let mut numbers = self.shards[shard].lock();
        if numbers.len() <= slot {
            numbers.resize(slot + 1, 0);
        }
        numbers[slot] = number;
    }

    /// The packed number of account `id` (0 when unknown).
    pub fn get(&self, id: u64) -> u64 {
        let (shard, slot) = ((id as usize) % SHARDS, (id as usize) / SHARDS);
        self.shards[shard].lock().get(slot).copied().unwrap_or(0)
    }
}

#[derive(Clone, Copy)]
struct Session {
    number_hash: u64,
    number: u64,
    code: u32,
    created_ms: u32,
    verified: bool,
}

#[derive(Default)]
struct SessionShard {
    map: Map<u128, Session>,
    inserts: u32,
}

/// What submitting a code did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum VerifyOutcome {
    /// Right code: the session is verified.
    Verified,
    /// Wrong code: the session stays unverified.
    WrongCode,
    /// No such session (or it expired).
    Unknown,
}

/// Why a session could not be consumed for registration.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TakeError {
    /// The session exists but its code was not verified.
    NotVerified,
    /// No such session (or it expired).
    Unknown,
}

/// Verification sessions keyed by a random 128-bit id.
pub(crate) struct Sessions {
    shards: Box<[Mutex<SessionShard>]>,
    ttl_ms: u64,
    seeds: (u64, u64),
    counter: AtomicU64,
    count: AtomicU64,
}

impl Sessions {
    pub fn new(ttl_ms: u64) -> Sessions {
        let random = std::hash::RandomState::new();
        Sessions {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(SessionShard::default()))
                .collect(),
            ttl_ms,
            seeds: (random.hash_one(1u8), random.hash_one(2u8)),
            counter: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn shard(&self, id: u128) -> &Mutex<SessionShard> {
        &self.shards[(id as usize) % SHARDS]
    }

    fn expired(&self, session: &Session, now_ms: u64) -> bool {
        now_ms.saturating_sub(u64::from(session.created_ms)) > self.ttl_ms
    }

    /// Creates a session for a number whose code is `code`; returns its id. Ids never repeat: the
    /// low 64 bits are a bijection of a counter.
    /// `number` is the number packed by [`crate::codes::pack_number`].
    pub fn create(&self, number_hash: u64, number: u64, code: u32, now_ms: u64) -> u128 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let high = mix64(self.seeds.0 ^ n);
        let low = mix64(self.seeds.1.wrapping_add(n));
        let id = (u128::from(high) << 64) | u128::from(low);
        let created_ms = u32::try_from(now_ms).unwrap_or(u32::MAX);
        let session = Session {
            number_hash,
            number,
            code,
            created_ms,
            verified: false,
        };
        let mut shard = self.shard(id).lock();
        shard.map.insert(id, session);
        self.count.fetch_add(1, Ordering::Relaxed);
        shard.inserts = shard.inserts.wrapping_add(1);
        if shard.inserts.is_multiple_of(PURGE_EVERY) {
            let before = shard.map.len();
            shard
                .map
                .retain(|_, s| now_ms.saturating_sub(u64::from(s.created_ms)) <= self.ttl_ms);
            let purged = (before - shard.map.len()) as u64;
            self.count.fetch_sub(purged, Ordering::Relaxed);
        }
        id
    }

    /// Checks a submitted code.
    pub fn verify(&self, id: u128, code: Option<u32>, now_ms: u64) -> VerifyOutcome {
        let mut shard = self.shard(id).lock();
        let Some(session) = shard.map.get_mut(&id) else {
            return VerifyOutcome::Unknown;
        };
        if self.expired(session, now_ms) {
            shard.map.remove(&id);
            self.count.fetch_sub(1, Ordering::Relaxed);
            return VerifyOutcome::Unknown;
        }
        if code == Some(session.code) {
            session.verified = true;
            VerifyOutcome::Verified
        } else {
            VerifyOutcome::WrongCode
        }
    }

    /// The packed number of a live session.
    pub fn number(&self, id: u128) -> Option<u64> {
        self.shard(id).lock().map.get(&id).map(|s| s.number)
    }

    /// Removes a verified session and returns its number's hash and packed number.
    pub fn take_verified(&self, id: u128, now_ms: u64) -> Result<(u64, u64), TakeError> {
        let mut shard = self.shard(id).lock();
        let Some(session) = shard.map.get(&id).copied() else {
            return Err(TakeError::Unknown);
        };
        let expired = self.expired(&session, now_ms);
        if !expired && !session.verified {
            return Err(TakeError::NotVerified);
        }
        shard.map.remove(&id);
        self.count.fetch_sub(1, Ordering::Relaxed);
        if expired {
            Err(TakeError::Unknown)
        } else {
            Ok((session.number_hash, session.number))
        }
    }

    /// Number of live sessions (expired ones count until purged).
    pub fn len(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_register_once_and_respect_visibility() {
        let accounts = Accounts::new();
        let id = accounts.register(7, 100);
        assert_eq!(id, Ok(1));
        assert_eq!(accounts.register(7, 0), Err(RegisterError::Duplicate));
        assert_eq!(accounts.register(8, 0), Ok(2));
        assert!(!accounts.visible(7, 99));
        assert!(accounts.visible(7, 100));
        assert!(!accounts.visible(9, 1_000));
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts.max_id(), 2);
        assert_eq!(accounts.id_of(8), Some(2));
    }

    #[test]
    fn sessions_verify_then_consume() {
        let sessions = Sessions::new(1_000);
        let id = sessions.create(5, 6, 123_456, 0);
        assert_eq!(sessions.take_verified(id, 1), Err(TakeError::NotVerified));
        assert_eq!(
            sessions.verify(id, Some(111_111), 1),
            VerifyOutcome::WrongCode
        );
        assert_eq!(sessions.verify(id, None, 1), VerifyOutcome::WrongCode);
        assert_eq!(
            sessions.verify(id, Some(123_456), 2),
            VerifyOutcome::Verified
        );
        assert_eq!(sessions.take_verified(id, 3), Ok((5, 6)));
        assert_eq!(sessions.take_verified(id, 3), Err(TakeError::Unknown));
        assert_eq!(sessions.verify(id ^ 1, Some(0), 3), VerifyOutcome::Unknown);
        assert_eq!(sessions.len(), 0);
    }

    #[test]
    fn sessions_expire_and_are_purged() {
        let sessions = Sessions::new(10);
        let old = sessions.create(1, 1, 1, 0);
        assert_eq!(sessions.verify(old, Some(1), 11), VerifyOutcome::Unknown);
        for i in 0..(PURGE_EVERY as u64 * SHARDS as u64 * 2) {
            sessions.create(i, 1, 1, 0);
        }
        assert!(sessions.len() > 1_000);
        for i in 0..(PURGE_EVERY as u64 * SHARDS as u64 * 2) {
            sessions.create(i, 1, 1, 100);
        }
        // Every shard purged at least once at t=100, dropping the t=0 sessions.
        assert!(
            sessions.len() <= PURGE_EVERY as u64 * SHARDS as u64 * 2,
            "{}",
            sessions.len()
        );
    }

    #[test]
    fn session_ids_are_distinct() {
        let sessions = Sessions::new(1_000);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(sessions.create(1, 1, 1, 0)));
        }
    }

    /// Inserts one million accounts and reports the table bytes per account. The measured RSS of
    /// ten million is in the `accounts_memory` example.
    #[test]
    fn one_million_accounts_stay_small() {
        let accounts = Accounts::new();
        let mut registered = 0u64;
        for i in 0..1_000_000u64 {
            if accounts.register(mix64(i), 0).is_ok() {
                registered += 1;
            }
        }
        assert_eq!(registered, 1_000_000);
        let per_account = accounts.heap_bytes() as f64 / registered as f64;
        println!("accounts: {registered}, table bytes per account: {per_account:.1}");
        assert!(per_account < 40.0, "{per_account} bytes per account");
        assert!(accounts.visible(mix64(999_999), 0));
    }
}

//! Routing: account id -> its live connections and its offline mailbox, in 64 shards.
//!
//! Registering a connection and delivering to an account take the same shard lock, so a message
//! is either handed to a connection or put in the mailbox, never lost between the two: a new
//! connection first receives its mailbox (in order), then everything delivered after.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

const SHARDS: usize = 64;

/// Room in a connection's outbox beyond a full mailbox: messages beyond it are dropped (the
/// recipient is not reading).
const OUTBOX_SLACK: usize = 256;

#[derive(Default)]
struct Entry {
    conns: Vec<(u64, mpsc::Sender<Utf8Bytes>)>,
    mailbox: VecDeque<Utf8Bytes>,
}

/// Where a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handed {
    /// To this many live connections of the recipient.
    Delivered(u64),
    /// Into the recipient's mailbox.
    Queued,
    /// Nowhere: the mailbox or every outbox was full.
    Dropped,
}

/// The routing table.
pub(crate) struct Hub {
    shards: Box<[Mutex<HashMap<u64, Entry>>]>,
    mailbox_limit: usize,
    next_conn: AtomicU64,
}

/// A registered connection: its id, its outbox, and how many mailbox messages it was handed.
pub(crate) struct Connected {
    pub id: u64,
    pub outbox: mpsc::Receiver<Utf8Bytes>,
    pub from_mailbox: u64,
}

impl Hub {
    pub fn new(mailbox_limit: usize) -> Hub {
        Hub {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            mailbox_limit,
            next_conn: AtomicU64::new(1),
        }
    }

    fn shard(&self, account: u64) -> &Mutex<HashMap<u64, Entry>> {
        &self.shards[(account as usize) % SHARDS]
    }

    /// Registers a connection of `account` and hands it the account's mailbox.
    pub fn connect(&self, account: u64) -> Connected {
        let (tx, outbox) = mpsc::channel(self.mailbox_limit + OUTBOX_SLACK);
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut shard = self.shard(account).lock();
        let entry = shard.entry(account).or_default();
        let mut from_mailbox = 0;
        for message in entry.mailbox.drain(..) {
            if tx.try_send(message).is_ok() {
                from_mailbox += 1;
            }
        }
        entry.mailbox.shrink_to_fit();
        entry.conns.push((id, tx));
        Connected {
            id,
            outbox,
            from_mailbox,
        }
    }

    /// Removes a connection; forgets the account when it has no connection and no mail.
    pub fn disconnect(&self, account: u64, id: u64) {
        let mut shard = self.shard(account).lock();
        if let Some(entry) = shard.get_mut(&account) {
            entry.conns.retain(|(c, _)| *c != id);
            if entry.conns.is_empty() && entry.mailbox.is_empty() {
                shard.remove(&account);
            }
        }
    }

    /// Hands a rendered `message` frame to every live connection of `account`, or to its mailbox.
    pub fn deliver(&self, account: u64, message: Utf8Bytes) -> Handed {
        let mut shard = self.shard(account).lock();
        let entry = shard.entry(account).or_default();
        if entry.conns.is_empty() {
            if entry.mailbox.len() >= self.mailbox_limit {
                return Handed::Dropped;
            }
            entry.mailbox.push_back(message);
            return Handed::Queued;
        }
        let delivered = entry
            .conns
            .iter()
            .filter(|(_, tx)| tx.try_send(message.clone()).is_ok())
            .count() as u64;
        if delivered == 0 {
            Handed::Dropped
        } else {
            Handed::Delivered(delivered)
        }
    }

    /// Messages waiting in mailboxes now.
    pub fn mailboxed(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .values()
                    .map(|e| e.mailbox.len() as u64)
                    .sum::<u64>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_mail_waits_bounded_then_arrives_in_order() {
        let hub = Hub::new(2);
        assert_eq!(hub.deliver(7, "a".into()), Handed::Queued);
        assert_eq!(hub.deliver(7, "b".into()), Handed::Queued);
        assert_eq!(hub.deliver(7, "c".into()), Handed::Dropped);
        assert_eq!(hub.mailboxed(), 2);
        let mut conn = hub.connect(7);
        assert_eq!(conn.from_mailbox, 2);
        assert_eq!(hub.deliver(7, "d".into()), Handed::Delivered(1));
        let got: Vec<String> = (0..3)
            .filter_map(|_| conn.outbox.try_recv().ok())
            .map(|m| m.as_str().to_owned())
            .collect();
        assert_eq!(got, ["a", "b", "d"]);
        hub.disconnect(7, conn.id);
        assert_eq!(hub.deliver(7, "e".into()), Handed::Queued);
    }

    #[test]
    fn every_connection_of_an_account_gets_the_message() {
        let hub = Hub::new(10);
        let mut one = hub.connect(1);
        let mut two = hub.connect(1);
        assert_eq!(hub.deliver(1, "x".into()), Handed::Delivered(2));
        assert!(one.outbox.try_recv().is_ok());
        assert!(two.outbox.try_recv().is_ok());
        hub.disconnect(1, one.id);
        hub.disconnect(1, two.id);
        assert_eq!(hub.mailboxed(), 0);
    }
}

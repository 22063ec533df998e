//! # surge-target: the reference "staging signup service"
//!
//! A small but faithful model of a messaging backend's signup path, used as the default target of
//! `surge run`, of `surge target`, of the docker compose stack and of most tests. It is a real
//! HTTP server (hyper 1.x; HTTP/1.1 and HTTP/2 cleartext on one port) whose latency comes only from
//! a **capacity plan**: each region's data centre has a number of slots; a request waits for a slot
//! (really, on a fair semaphore), holds it for a service time drawn from the endpoint's log-normal
//! distribution, then does its work. When too many wait, the data centre sheds (429 +
//! `Retry-After: 1`), rejects (503) or keeps queueing. Each region's SMS gateway is a `governor`
//! rate limiter, and the discovery index lags behind registrations more as the queue grows. Run a
//! surge whose peak lands on the Americas against a plan with too few slots there and the
//! "Americas-style slowdown" appears while other regions stay fast.
//!
//! ## API (JSON; region chosen by the `x-surge-region` header)
//!
//! | request | success | errors |
//! |---|---|---|
//! | `POST /v1/verification/code` `{"number":"+15550001234"}` | `202 {"session_id":"<32 hex>"}` | 400 malformed number, 429 + `Retry-After` SMS gateway limited |
//! | `PUT /v1/verification/code` `{"session_id":"..","code":"123456"}` | `200 {"verified":true}` | 403 wrong code, 404 unknown session |
//! | `POST /v1/accounts` `{"session_id":".."}` | `201 {"account_id":7,"token":".."}` | 403 not verified, 404 unknown session, 409 number registered |
//! | `PUT /v1/keys` bearer, `{"identity_key":"<base64>","prekeys":[..]}` | `204` | 401 bad token, 400 bad key |
//! | `POST /v1/discovery` bearer, `{"hashes":["<16 hex>",..]}` | `200 {"found":[..]}` | 401 bad token, 413 over `discovery_batch_limit` |
//! | `GET /v1/ws` bearer, upgrade (RFC 6455) | `101`, then JSON text frames (see below) | 400 not an upgrade, 401 bad token, 503 + `Retry-After` DC down, over its accept rate, connections or slots |
//! | `GET /healthz` | `200 ok` | |
//! | `GET /metrics` | Prometheus text | |
//!
//! Every API request can also get 429 (`Retry-After: 1`) or 503 when its data centre's queue is
//! full. Unknown paths give 404, wrong methods 405, unparsable JSON 400, bodies over 1 MiB 413.
//! A load tester derives what it needs without asking: [`verification_code`],
//! [`discovery_hash`] / [`discovery_hash_hex`] and [`account_token`].
//!
//! ## Connected sessions (`GET /v1/ws`)
//!
//! Frames are JSON objects, one per text frame: `{"type":"send","id":..,"to":"<E.164>","body":..}`
//! is answered `{"type":"ack","id":..}` (or `{"type":"error","id":..,"code":"unknown_recipient"}`)
//! and reaches the recipient as `{"type":"message","id":..,"from":"<E.164>","body":..}` (body
//! verbatim) through the sender's data centre's delivery slots, or through a bounded mailbox when
//! the recipient is offline; `{"type":"ping"}` is answered `{"type":"pong"}`. The server closes
//! with 1001 on a `drop-connections` or `restart` fault, 1013 when its fan-out queue is full,
//! 1008 on a malformed frame and 1009 on a frame over [`MAX_FRAME_BYTES`]. The plan's connection
//! capacity and fault schedule are described in `profiles/plans/baseline.toml`.
//!
//! ## Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use surge_target::{CapacityPlan, serve};
//!
//! let plan = CapacityPlan::load(std::path::Path::new("profiles/plans/americas-underprovisioned.toml"))?;
//! let target = serve("127.0.0.1:0".parse()?, plan).await?;
//! println!("reference target at {}", target.url());
//! let code = surge_target::verification_code(target.plan().secret(), "+15550001234");
//! assert_eq!(code.len(), 6);
//! println!("{} accounts so far", target.stats().accounts);
//! target.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod api;
mod backend;
mod capacity;
mod codes;
mod discovery;
mod error;
mod handlers;
mod metrics;
mod plan;
mod server;
mod sms;
mod state;
mod timer;
mod ws;

pub use api::MAX_BODY_BYTES;
pub use backend::REGION_HEADER;
pub use codes::{account_token, discovery_hash, discovery_hash_hex, verification_code};
pub use discovery::DiscoveryQuota;
pub use error::{PlanError, TargetError};
pub use handlers::{CODE_DELAY_HEADER, SMS_PROVIDER_HEADER};
pub use metrics::{DcStats, TargetStats};
pub use plan::{
    CapacityPlan, DEFAULT_DISCOVERY_BATCH_LIMIT, DEFAULT_MAILBOX_LIMIT, DEFAULT_SECRET,
    DurationError, Endpoint, Fault, FaultAction, ServiceTime, TimerKind, WhenFull, format_duration,
    parse_duration,
};
pub use server::{Listening, serve};
pub use sms::per_number::NumberLimit;
pub use state::{Accounts, RegisterError};
pub use ws::{ConnStats, MAX_FRAME_BYTES};

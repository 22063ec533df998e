//! The SMS pipeline of a region (`providers` and `voice` in the plan, `[sms_queue]`): a delivery
//! queue in front of several providers, each sending at its own rate (a US long code about
//! 1 message/s, a short code 100+/s, a provider account's default about 50/s), with failover down
//! the list and a voice call as the last resort.
//!
//! Each provider is a virtual clock of its next free send slot, so the queue costs no task and no
//! memory per message: a code request is placed at once. It goes to the first provider whose
//! backlog (its next free slot minus now) is at most `failover_after`; when every provider is
//! further behind, to the one that sends soonest. A message that would wait longer than `expiry`
//! expires: it is dropped without using a send, and its code never arrives. A sent message reaches
//! the phone after the provider's latency (log-normal, median and p99 from the plan).
//!
//! The API answers the code request `202` at once, as a real backend does; the simulated phone learns
//! when the code lands from the `x-surge-code-delay-ms` header (milliseconds, or `expired`), and
//! [`Deliveries`] makes the backend refuse the right code before it has arrived.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::ConnRng;
use crate::plan::{RegionPlan, ServiceTime, SmsQueuePlan};

/// What happened to one code message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sent {
    /// Sent by provider `provider` (index in the region's list); the code is on the phone `delay_ms`
    /// after the request.
    Delivered { provider: usize, delay_ms: u64 },
    /// Every provider was further behind than the queue's expiry: the message expired unsent.
    Expired,
}

struct Provider {
    name: String,
    interval_ms: f64,
    latency: ServiceTime,
    sent: AtomicU64,
}

struct RegionQueue {
    providers: Vec<Provider>,
    /// Each provider's next free send slot, ms since the server started.
    next_free: Mutex<Vec<f64>>,
    expired: AtomicU64,
}

/// Every region's pipeline (`None` for a region without providers).
pub(crate) struct Pipeline {
    regions: Vec<Option<RegionQueue>>,
    expiry_ms: f64,
    failover_ms: f64,
    rng: ConnRng,
}

impl Pipeline {
    pub fn new(regions: &[RegionPlan], queue: SmsQueuePlan, seed: u64) -> Pipeline {
        let regions = regions
            .iter()
            .map(|r| {
                (!r.providers.is_empty()).then(|| RegionQueue {
                    providers: r
                        .providers
                        .iter()
                        .map(|p| Provider {
                            name: p.name.clone(),
                            interval_ms: p.interval.as_secs_f64() * 1000.0,
                            latency: p.latency,
                            sent: AtomicU64::new(0),
                        })
                        .collect(),
                    next_free: Mutex::new(vec![0.0; r.providers.len()]),
                    expired: AtomicU64::new(0),
                })
            })
            .collect();
        Pipeline {
            regions,
            expiry_ms: queue.expiry.as_secs_f64() * 1000.0,
            failover_ms: queue.failover_after.as_secs_f64() * 1000.0,
            rng: ConnRng::new(seed ^ 0x736d_735f_7069_7065, u64::MAX),
        }
    }

    /// Queues one code message of `region` at `now_ms`; `None` when the region has no pipeline.
    pub fn send(&self, region: usize, now_ms: u64) -> Option<Sent> {
        let q = self.regions.get(region)?.as_ref()?;
        let now = now_ms as f64;
        let (chosen, wait) = {
            let mut next = q.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let waits: Vec<f64> = next.iter().map(|t| (t - now).max(0.0)).collect();
            let first_in_time = waits.iter().position(|w| *w <= self.failover_ms);
            let soonest = || {
                waits
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i)
            };
            let chosen = first_in_time.unwrap_or_else(soonest);
            let wait = waits.get(chosen).copied().unwrap_or(0.0);
            if wait > self.expiry_ms {
                q.expired.fetch_add(1, Ordering::Relaxed);
                return Some(Sent::Expired);
            }
            next[chosen] = now + wait + q.providers[chosen].interval_ms;
            (chosen, wait)
        };
        let p = &q.providers[chosen];
        p.sent.fetch_add(1, Ordering::Relaxed);
        let latency = p.latency.at(self.rng.next_normal()).as_secs_f64() * 1000.0;
        let delay_ms = (wait + latency).ceil().min(u64::MAX as f64) as u64;
        Some(Sent::Delivered {
            provider: chosen,
            delay_ms,
        })
    }

    /// The name of provider `provider` of `region`.
    pub fn provider_name(&self, region: usize, provider: usize) -> &str {
        self.regions
            .get(region)
            .and_then(|q| q.as_ref())
            .and_then(|q| q.providers.get(provider))
            .map_or("", |p| p.name.as_str())
    }

    /// Messages sent per provider of `region`, in plan order: `(name, sent)`.
    pub fn sent(&self, region: usize) -> Vec<(&str, u64)> {
        self.regions
            .get(region)
            .and_then(|q| q.as_ref())
            .map(|q| {
                q.providers
                    .iter()
                    .map(|p| (p.name.as_str(), p.sent.load(Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Messages of `region` that expired in the queue (`None`: the region has no pipeline).
    pub fn expired(&self, region: usize) -> Option<u64> {
        let q = self.regions.get(region)?.as_ref()?;
        Some(q.expired.load(Ordering::Relaxed))
    }
}

/// At most this many numbers are tracked; past it, the half delivered longest ago is forgotten.
const MAX_NUMBERS: usize = 1 << 20;

/// When each number's code first lands on its phone (ms since the server started): a code checked
/// before then is refused, since the person cannot have it yet. A number asks again when its code
/// is late; whichever message lands first makes the code usable (codes are per number).
pub(crate) struct Deliveries {
    at: Mutex<HashMap<u64, u64>>,
}

impl Deliveries {
    pub fn new() -> Deliveries {
        Deliveries {
            at: Mutex::new(HashMap::new()),
        }
    }

    /// A message for `number` lands at `at_ms`.
    pub fn landed_at(&self, number: u64, at_ms: u64) {
        let mut m = self.at.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_NUMBERS && !m.contains_key(&number) {
            let mut ats: Vec<u64> = m.values().copied().collect();
            ats.sort_unstable();
            let cut = ats[ats.len() / 2];
            m.retain(|_, v| *v > cut);
        }
        let e = m.entry(number).or_insert(at_ms);
        *e = (*e).min(at_ms);
    }

    /// Whether `number` waits for a code that has not landed by `now_ms` (false for numbers whose
    /// codes went through no pipeline).
    pub fn pending(&self, number: u64, now_ms: u64) -> bool {
        let m = self.at.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&number).is_some_and(|at| *at > now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ProviderPlan;
    use std::time::Duration;

    fn provider(name: &str, rate: f64) -> ProviderPlan {
        ProviderPlan {
            name: name.to_owned(),
            interval: Duration::from_secs_f64(1.0 / rate),
            latency: ServiceTime::new(Duration::from_millis(100), Duration::from_millis(100))
                .unwrap_or_else(|| panic!("latency")),
        }
    }

    fn region(providers: Vec<ProviderPlan>) -> RegionPlan {
        RegionPlan {
            name: "r".to_owned(),
            dc: 0,
            sms_rate_per_s: 1e9,
            sms_burst: u32::MAX,
            providers,
            rtt: Vec::new(),
            rtt_jitter: Duration::ZERO,
        }
    }

    #[test]
    fn fails_over_down_the_list_then_to_voice_then_expires() {
        // long code 1/s, short code 2/s, voice 1/s; failover after 1 s of backlog; expiry 3 s.
        let plan = region(vec![
            provider("long", 1.0),
            provider("short", 2.0),
            provider("voice", 1.0),
        ]);
        let queue = SmsQueuePlan {
            expiry: Duration::from_secs(3),
            failover_after: Duration::from_secs(1),
        };
        let p = Pipeline::new(&[plan, region(Vec::new())], queue, 1);
        let mut by = [0usize; 3];
        let mut delays = Vec::new();
        let mut expired = 0;
        for _ in 0..40 {
            match p.send(0, 0) {
                Some(Sent::Delivered { provider, delay_ms }) => {
                    by[provider] += 1;
                    delays.push(delay_ms);
                }
                Some(Sent::Expired) => expired += 1,
                None => panic!("region 0 has a pipeline"),
            }
        }
        // Within 1 s of backlog: long takes 2 (0 s, 1 s), short 3 (0, .5, 1 s), voice 2 (0, 1 s);
        // then the soonest sender until 3 s of backlog: long 2 more, short 4 more, voice 2 more.
        assert_eq!(by, [4, 7, 4], "{delays:?}");
        assert_eq!(expired, 40 - 15);
        assert_eq!(p.expired(0), Some(25));
        assert_eq!(p.sent(0), [("long", 4), ("short", 7), ("voice", 4)]);
        assert_eq!(delays.first(), Some(&100), "first message: latency only");
        assert!(delays.iter().all(|d| *d <= 3_100), "{delays:?}");
        assert_eq!(p.send(1, 0), None, "region 1 has no pipeline");
        // Time passes: the backlog drains and the long code sends again at once.
        assert_eq!(
            p.send(0, 10_000),
            Some(Sent::Delivered {
                provider: 0,
                delay_ms: 100
            })
        );
    }

    #[test]
    fn a_code_lands_with_its_first_message() {
        let d = Deliveries::new();
        d.landed_at(5, 2_000);
        d.landed_at(5, 1_500);
        d.landed_at(5, 9_000);
        assert!(d.pending(5, 1_499));
        assert!(!d.pending(5, 1_500));
        assert!(
            !d.pending(6, 100_000),
            "a number without a pipeline message"
        );
        d.landed_at(7, u64::MAX);
        assert!(d.pending(7, 100_000), "an expired message never lands");
    }
}

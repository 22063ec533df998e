//! One simulated person: their journey, step by step, timed from intended starts, with the client's
//! retry behaviour and discovery answers checked against what the tester saw registered.

use crate::h1::{self, H1Pool, Reply};
use crate::http::HttpClients;
use crate::inflight::InFlight;
use crate::pacing::Http1Client;
use crate::registry::Registry;
use crate::worker::WorkerSpec;
use crate::{Limiter, Targets};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use surge_metrics::{Outcome, Recorder, ServerTiming, StepRecord};
use surge_plan::journey::{CodeDelay, Ctx, EncodedBatch, RequestBuf, Step, StepFailure};
use surge_plan::{Contact, Person, Plan};
use tokio::time::Instant;

/// What every person task of one worker shares (thread-local: no locks).
pub struct PersonCtx {
    plan: Arc<Plan>,
    rec: Rc<RefCell<Recorder>>,
    registry: Arc<Registry>,
    targets: Arc<Targets>,
    clients: HttpClients,
    h1: H1Pool,
    fast_h1: bool,
    /// Per-person buffers, reused by the next person once one ends (no allocation per journey).
    scratch: RefCell<Vec<Scratch>>,
    /// Scratch sets out with people now, and the most out at once since the last trim.
    scratch_out: Cell<usize>,
    scratch_peak: Cell<usize>,
    limiter: Option<Arc<Limiter>>,
    new_registrations: RefCell<Vec<u64>>,
    /// Who is in flight, and in which step (for the unfinished count when the worker ends).
    in_flight: RefCell<InFlight>,
    pub(crate) report_registrations: bool,
    /// Index of the step whose success means "this person is registered": the last step before the first
    /// discovery step (or the last step when there is none).
    register_step: usize,
    rng: Cell<u64>,
    start: Instant,
    /// The run's TLS configuration offering only HTTP/1.1, for WebSocket upgrades.
    ws_tls: Arc<rustls::ClientConfig>,
    /// The engine, when WebSocket connections bind to `--source-addresses` (in turn).
    ws_sources: Option<Arc<crate::Engine>>,
    /// How long people in flight may finish after the run's end.
    drain: Duration,
}

impl PersonCtx {
    /// Builds the shared context of one worker.
    pub fn new(spec: &WorkerSpec, rec: Rc<RefCell<Recorder>>, start: Instant) -> PersonCtx {
        let steps = &spec.plan.journey.steps;
        let first_discovery = steps.iter().position(|s| s.discovery.is_some());
        let register_step = match first_discovery {
            Some(0) | None => steps.len().saturating_sub(1),
            Some(i) => i - 1,
        };
        PersonCtx {
            plan: spec.plan.clone(),
            rec,
            registry: spec.registry.clone(),
            targets: spec.targets.clone(),
            clients: HttpClients::for_engine(256, &spec.engine),
            h1: H1Pool::for_engine(MAX_CONNS_PER_ORIGIN, &spec.engine),
            fast_h1: spec.engine.config().http1 == Http1Client::Fast,
            scratch: RefCell::new(Vec::new()),
            scratch_out: Cell::new(0),
            scratch_peak: Cell::new(0),
            limiter: spec.limiter.clone(),
            new_registrations: RefCell::new(Vec::new()),
            in_flight: RefCell::new(InFlight::default()),
            report_registrations: spec.report_registrations,
            register_step,
            rng: Cell::new(
                spec.plan.seed
                    ^ (spec.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ 0xD1B5_4A32_D192_ED03,
            ),
            start,
            drain: spec.drain,
            ws_tls: crate::http::websocket_tls(&spec.engine.tls()),
            ws_sources: (!spec.engine.config().source_addresses.is_empty())
                .then(|| spec.engine.clone()),
        }
    }

    /// People registered since the last call (empty unless reporting is on).
    pub fn take_registrations(&self) -> Vec<u64> {
        std::mem::take(&mut *self.new_registrations.borrow_mut())
    }

    /// A uniform number in [0, 1) (splitmix64; per worker, not shared).
    fn rand01(&self) -> f64 {
        let mut z = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Records every person still in flight as unfinished: the step each was in gets a sample with
    /// [`Outcome::Unfinished`] whose latency is the wait so far (a lower bound), and each journey counts
    /// as unfinished. Called once, when the worker ends with people in flight.
    pub(crate) fn record_unfinished(&self, now: Instant) {
        let left = self.in_flight.borrow_mut().take();
        let mut rec = self.rec.borrow_mut();
        for (region, step) in left {
            if let Some(s) = step {
                let first = s.first_send.unwrap_or(now);
                rec.step(StepRecord {
                    region,
                    step: s.metric,
                    outcome: Outcome::Unfinished,
                    response_us: micros(now.saturating_duration_since(s.intended)),
                    service_us: micros(now.saturating_duration_since(first)),
                    send_lag_us: micros(first.saturating_duration_since(s.intended)),
                });
            }
            rec.journey_unfinished(region);
        }
    }

    /// A scratch set for a person's HTTP steps: an idle one, or a new one.
    fn take_scratch(&self) -> Scratch {
        let out = self.scratch_out.get() + 1;
        self.scratch_out.set(out);
        self.scratch_peak.set(self.scratch_peak.get().max(out));
        self.scratch.borrow_mut().pop().unwrap_or_default()
    }

    /// Back from a person whose HTTP steps are over.
    fn give_scratch(&self, s: Scratch) {
        self.scratch_out
            .set(self.scratch_out.get().saturating_sub(1));
        let mut pool = self.scratch.borrow_mut();
        if pool.len() < MAX_IDLE_SCRATCH {
            pool.push(s);
        }
    }

    /// Frees the idle scratch sets the last period did not need: the pool keeps as many as were
    /// out at once at its busiest moment since the last call, less those out now. Called at every
    /// interval boundary, so a worker whose people have moved on from signing up to holding
    /// connections gives the signup phase's buffers back within two intervals, and then the
    /// allocator's free pages to the kernel ([`crate::memory::release_freed`]). Returns the sets
    /// freed.
    pub fn trim_idle(&self) -> usize {
        let out = self.scratch_out.get();
        let keep = self.scratch_peak.replace(out).saturating_sub(out);
        let freed = {
            let mut pool = self.scratch.borrow_mut();
            let freed = pool.len().saturating_sub(keep);
            pool.truncate(keep);
            if freed > 0 && pool.len() < pool.capacity() / 4 {
                pool.shrink_to_fit();
            }
            freed
        };
        if freed >= TRIM_AFTER_FREED || (freed > 0 && out == 0) {
            crate::memory::release_freed();
        }
        freed
    }

    /// The run's start on this worker's clock.
    pub fn start(&self) -> Instant {
        self.start
    }
}

/// Buffers a person needs, kept by the worker and reused from one person to the next.
#[derive(Default)]
struct Scratch {
    values: Vec<Option<String>>,
    req: RequestBuf,
    reply: Reply,
    found: Vec<bool>,
    expected: Vec<bool>,
    contacts: Vec<Contact>,
    encoded: EncodedBatch,
    /// The last step's final outcome.
    last: Option<Outcome>,
    /// Whether the current discovery batch's answer was counted.
    discovery_counted: bool,
    /// The target's `Server-Timing` over the rounds of the current attempt, if it sent any.
    timing: Option<ServerTiming>,
}

/// Connections the fast client opens per origin, region and worker; more people in flight wait for one
/// (and the wait counts in their latency). Real phones each have their own connection, so the cap sits
/// well above any target's queue: lower, and the generator would hold back load the target should see
/// (with 256, the under-provisioned plan's queue never filled and never shed).
const MAX_CONNS_PER_ORIGIN: usize = 1024;

/// At most this many idle scratch sets are kept per worker.
const MAX_IDLE_SCRATCH: usize = 4096;

/// Scratch sets freed at once (a few kilobytes each) that make it worth returning free pages to
/// the kernel; fewer are returned when the last person's signup is over.
const TRIM_AFTER_FREED: usize = 64;

/// Per-person mutable state, reused across steps.
struct Journey<'a> {
    ctx: &'a PersonCtx,
    /// This person's slot in the worker's in-flight slab.
    slot: usize,
    person: Person,
    code: String,
    s: Scratch,
    /// Incremental discovery: the token of the last lookup (None: the next lookup uploads everything
    /// as new), and how many contacts of the book it covers (a prefix).
    dtoken: Option<String>,
    seen: usize,
}

/// Runs person `u`'s whole journey, starting at `intended`.
///
/// The HTTP steps run in a boxed future of their own: their state (the clients' futures, retries,
/// timeouts: kilobytes) is freed when they end, so a person held in the connected phase for hours
/// keeps a task the size of the session's state only (see `the_held_task_is_small` below).
pub async fn run(ctx: &PersonCtx, u: u64, intended: Instant) {
    let person = ctx.plan.person(u);
    let region = person.region;
    ctx.rec.borrow_mut().journey_started(region);
    let slot = ctx.in_flight.borrow_mut().enter(region);
    let (ok, values) = Box::pin(signup(ctx, slot, person, intended)).await;
    let ok = match values {
        Some(values) => crate::session::run(ctx.session_parts(), person, values).await,
        None => ok,
    };
    ctx.in_flight.borrow_mut().leave(slot);
    ctx.rec.borrow_mut().journey_ended(region, ok);
}

/// The journey's HTTP steps. Returns whether they succeeded and, when the plan has a connected phase
/// that this person goes on to, the values it renders (the HTTP buffers are back in the pool by then).
async fn signup(
    ctx: &PersonCtx,
    slot: usize,
    person: Person,
    intended: Instant,
) -> (bool, Option<Vec<Option<String>>>) {
    let mut s = ctx.take_scratch();
    s.values.clear();
    s.values.resize(ctx.plan.journey.value_slots, None);
    let mut j = Journey {
        ctx,
        slot,
        // A SHA-256 per person: only for journeys that send it.
        code: match ctx.plan.journey.uses_code {
            true => ctx.plan.verification_code(person.phone),
            false => String::new(),
        },
        person,
        s,
        dtoken: None,
        seen: 0,
    };
    let ok = j.all_steps(intended).await;
    let connect = ctx.plan.journey.connect.as_ref();
    let connects = connect.is_some();
    // The connected phase holds only the values it renders (the rest stay `None`).
    let values = connect.filter(|_| ok).map(|c| {
        let kept = |(i, v): (usize, &Option<String>)| v.clone().filter(|_| c.uses_value(i));
        j.s.values.iter().enumerate().map(kept).collect()
    });
    ctx.give_scratch(j.s);
    if connects {
        // A phone closes its HTTP connection once it holds its WebSocket; the tester does the same
        // with one idle connection of the person's origin, so that a held WebSocket never sits next
        // to an idle HTTP connection kept open for nobody (a descriptor and a read buffer each).
        let base = ctx.targets.base_for(person.region, person.index, None);
        ctx.h1.release_idle(person.region, base);
    }
    (ok, values)
}

impl PersonCtx {
    /// Sends `req` for `person` to its base URL (the request's own, else the person's region's) and
    /// reads the answer into `reply`: the fast client for plain-`http://` HTTP/1.1, hyper-util
    /// otherwise.
    pub(crate) async fn send(
        &self,
        person: &Person,
        req: &RequestBuf,
        http2: bool,
        reply: &mut Reply,
    ) -> Result<(), Outcome> {
        let base = self
            .targets
            .base_for(person.region, person.index, req.base_url.as_deref());
        if self.fast_h1 && !http2 && h1::supports(base) {
            return self.h1.send_in_lane(person.region, base, req, reply).await;
        }
        let answer = self.clients.send(base, req, http2).await?;
        reply.fill_from(&answer);
        Ok(())
    }

    /// What the connected phase ([`crate::session`]) needs.
    pub(crate) fn session_parts(&self) -> crate::session::Parts<'_> {
        crate::session::Parts {
            plan: &self.plan,
            rec: &self.rec,
            registry: &self.registry,
            targets: &self.targets,
            start: self.start,
            drain: self.drain,
            tls: &self.ws_tls,
            sources: self.ws_sources.as_deref(),
            http: self,
        }
    }
}

impl Journey<'_> {
    async fn all_steps(&mut self, intended: Instant) -> bool {
        let plan = self.ctx.plan.clone();
        let mut contacts = std::mem::take(&mut self.s.contacts);
        contacts.clear();
        let mut at = intended;
        let mut ok = true;
        for (i, step) in plan.journey.steps.iter().enumerate() {
            if step.discovery.is_some() {
                if contacts.is_empty() {
                    plan.contacts(self.person.index, &mut contacts);
                }
                if !self.discovery(step, &contacts, &mut at).await {
                    ok = false;
                    break;
                }
            } else {
                if !self.step(step, &[], at).await || !self.await_code(step, at).await {
                    ok = false;
                    break;
                }
                if i == self.ctx.register_step {
                    self.registered();
                }
            }
            at = self.think().await;
        }
        let ok = ok && self.resync(&mut contacts).await;
        self.s.contacts = contacts;
        ok
    }

    fn registered(&self) {
        if self.ctx.registry.insert(self.person.index) && self.ctx.report_registrations {
            self.ctx
                .new_registrations
                .borrow_mut()
                .push(self.person.index);
        }
    }

    async fn think(&self) -> Instant {
        if let Some(t) = &self.ctx.plan.journey.think {
            let d = t.sample(self.ctx.rand01());
            tokio::time::sleep(d).await;
        }
        Instant::now()
    }

    /// Periodic re-sync of the address book: the discovery steps again, `times` times, after the book
    /// gained `added` contacts each time (an incremental lookup then pays only for those).
    async fn resync(&mut self, contacts: &mut Vec<Contact>) -> bool {
        let Some(r) = self.ctx.plan.journey.resync else {
            return true;
        };
        let plan = self.ctx.plan.clone();
        for k in 1..=r.times {
            tokio::time::sleep(r.every).await;
            if r.added > 0 {
                plan.contacts_added(self.person.index, k, r.added, contacts);
            }
            let mut at = Instant::now();
            for step in plan.journey.steps.iter().filter(|s| s.discovery.is_some()) {
                if !self.discovery(step, contacts, &mut at).await {
                    return false;
                }
            }
        }
        true
    }

    /// After a code request with `code_wait`: the person waits for the code to land (as the answer
    /// says), at most their patience; when it is late they ask again (the whole step, recorded as one
    /// more sample of it), and after the last allowed request they give up (the journey fails). The
    /// delay from the first request's intended start to the code usable is one sample of the wait's
    /// metric step (`code_delay`); giving up records it as a timeout. Nothing is measured when the
    /// target does not say when codes land.
    async fn await_code(&mut self, step: &Step, intended: Instant) -> bool {
        let Some(w) = &step.code_wait else {
            return true;
        };
        let region = self.person.region;
        let mut usable: Option<Instant> = None;
        let mut resends = 0u32;
        let mut known = false;
        loop {
            let asked = Instant::now();
            let delay = {
                let reply = &self.s.reply;
                let header = |name: &str| reply.header(name).map(<[u8]>::to_vec);
                w.delay(&header, &reply.body)
            };
            let lands = match delay {
                CodeDelay::Unknown if !known => return true,
                CodeDelay::Unknown => Some(asked),
                CodeDelay::After(d) => Some(asked + d),
                CodeDelay::Never => None,
            };
            usable = match (usable, lands) {
                (Some(u), Some(l)) => Some(u.min(l)),
                (u, l) => u.or(l),
            };
            if !known {
                known = true;
                self.ctx.rec.borrow_mut().code_awaited(region);
            }
            self.ctx
                .in_flight
                .borrow_mut()
                .step_started(self.slot, w.metric, intended);
            let give_up = asked + w.patience.sample(self.ctx.rand01());
            if let Some(u) = usable
                && u <= give_up
            {
                tokio::time::sleep_until(u).await;
                self.code_wait_done(w.metric, Outcome::Ok, intended, asked);
                return true;
            }
            tokio::time::sleep_until(give_up).await;
            if resends >= w.resends {
                self.code_wait_done(w.metric, Outcome::Timeout, intended, asked);
                self.ctx.rec.borrow_mut().code_gave_up(region);
                return false;
            }
            resends += 1;
            self.ctx.in_flight.borrow_mut().step_done(self.slot);
            self.ctx.rec.borrow_mut().code_resent(region);
            if !self.step(step, &[], Instant::now()).await {
                return false;
            }
        }
    }

    /// Records the code wait's one sample: from the first request's intended start to now.
    fn code_wait_done(&self, metric: u16, outcome: Outcome, intended: Instant, asked: Instant) {
        let now = Instant::now();
        self.ctx.in_flight.borrow_mut().step_done(self.slot);
        self.ctx.rec.borrow_mut().step(StepRecord {
            region: self.person.region,
            step: metric,
            outcome,
            response_us: micros(now.saturating_duration_since(intended)),
            service_us: micros(now.saturating_duration_since(asked)),
            send_lag_us: 0,
        });
    }

    /// An incremental discovery (Signal's CDSI): the numbers looked up before go back with the last
    /// lookup's token and cost nothing, only new ones are charged. Without a token (a first upload,
    /// or a backend that gives none) everything is uploaded as new. Each request carries the numbers
    /// seen before and at most `batch` minus those new ones; a re-sync with nothing new is one lookup
    /// of the numbers seen before.
    async fn incremental(&mut self, step: &Step, contacts: &[Contact], at: &mut Instant) -> bool {
        let Some(d) = &step.discovery else {
            return true;
        };
        if self.dtoken.is_none() {
            self.seen = 0;
        }
        let mut first = true;
        loop {
            let seen = self.seen.min(contacts.len());
            let has_token = self.dtoken.is_some();
            let from = if has_token { 0 } else { seen };
            let fresh = d.batch_size.saturating_sub(seen - from).max(1);
            let end = (seen + fresh).min(contacts.len());
            if end == seen && !(first && has_token) {
                return true;
            }
            let lookup = &contacts[from..end];
            d.encode_lookup(
                lookup,
                seen - from,
                self.dtoken.as_deref(),
                &mut self.s.encoded,
            );
            self.s.discovery_counted = false;
            if !self.step(step, lookup, *at).await {
                if d.check {
                    self.lookup_failed(lookup, &contacts[end..]);
                }
                return false;
            }
            self.dtoken = d.token_of(&self.s.reply.body);
            self.seen = end;
            *at = Instant::now();
            first = false;
        }
    }

    /// A discovery step: one request per batch; each batch's intended start is the previous one's end.
    async fn discovery(&mut self, step: &Step, contacts: &[Contact], at: &mut Instant) -> bool {
        let Some(d) = &step.discovery else {
            return true;
        };
        if d.incremental {
            return self.incremental(step, contacts, at).await;
        }
        let size = d.batch_size.max(1);
        for (k, batch) in contacts.chunks(size).enumerate() {
            // Encoded once per batch: the request and the answer's check both use it.
            d.encode(batch, &mut self.s.encoded);
            self.s.discovery_counted = false;
            if !self.step(step, batch, *at).await {
                if d.check {
                    self.lookup_failed(batch, &contacts[((k + 1) * size).min(contacts.len())..]);
                }
                return false;
            }
            *at = Instant::now();
        }
        true
    }

    /// A lookup failed for good: the contacts the tester expected in it, and in the batches never sent
    /// after it, are missing, by cause (quota when the target's last word was 429).
    fn lookup_failed(&mut self, batch: &[Contact], rest: &[Contact]) {
        let registry = &self.ctx.registry;
        let in_batch = if self.s.discovery_counted {
            0
        } else {
            self.s.expected.iter().filter(|&&e| e).count() as u64
        };
        let uploaded = if self.s.discovery_counted {
            0
        } else {
            batch.len() as u64
        };
        let later = rest
            .iter()
            .filter(|c| c.user.is_some_and(|v| registry.contains(v)))
            .count() as u64;
        let quota = self.s.last == Some(Outcome::Http429);
        self.ctx.rec.borrow_mut().discovery_failed(
            self.person.region,
            uploaded,
            in_batch + later,
            quota,
        );
    }

    /// One step, with retries per the client policy. Records exactly one sample. Returns success.
    async fn step(&mut self, step: &Step, batch: &[Contact], intended: Instant) -> bool {
        let policy = &self.ctx.plan.client;
        let region = self.person.region;
        let mut first_send = None;
        let mut attempt = 0u32;
        self.ctx
            .in_flight
            .borrow_mut()
            .step_started(self.slot, step.metric, intended);
        loop {
            let (outcome, retry_after, last_send) =
                self.attempt(step, batch, &mut first_send).await;
            let retry = outcome.is_transient() && attempt + 1 < policy.max_attempts.max(1);
            let delay = if retry {
                policy.retry.delay(attempt, retry_after, self.ctx.rand01())
            } else {
                None
            };
            if let Some(d) = delay {
                self.ctx
                    .rec
                    .borrow_mut()
                    .retry(region, step.metric, outcome);
                tokio::time::sleep(d).await;
                attempt += 1;
                continue;
            }
            let now = Instant::now();
            let first = first_send.unwrap_or(now);
            self.ctx.in_flight.borrow_mut().step_done(self.slot);
            let response_us = micros(now.saturating_duration_since(intended));
            let mut rec = self.ctx.rec.borrow_mut();
            rec.step(StepRecord {
                region,
                step: step.metric,
                outcome,
                response_us,
                service_us: micros(now.saturating_duration_since(last_send.unwrap_or(now))),
                send_lag_us: micros(first.saturating_duration_since(intended)),
            });
            if let Some(t) = self.s.timing.take() {
                rec.timed(region, response_us, t);
            }
            drop(rec);
            self.s.last = Some(outcome);
            return outcome == Outcome::Ok;
        }
    }

    /// One attempt: every round of the step. Returns the outcome, a Retry-After hint and the last send.
    async fn attempt(
        &mut self,
        step: &Step,
        batch: &[Contact],
        first_send: &mut Option<Instant>,
    ) -> (Outcome, Option<Duration>, Option<Instant>) {
        let timeout = step.timeout.unwrap_or(self.ctx.plan.client.timeout);
        let mut last_send = None;
        self.s.timing = None;
        for round in 0..step.rounds() {
            self.build(step, round, batch);
            if let Some(l) = &self.ctx.limiter {
                l.until_ready().await;
            }
            let sent = Instant::now();
            if first_send.is_none() {
                *first_send = Some(sent);
                self.ctx.in_flight.borrow_mut().sent(self.slot, sent);
            }
            last_send = Some(sent);
            match tokio::time::timeout(timeout, self.send(step)).await {
                Err(_) => return (Outcome::Timeout, None, last_send),
                Ok(Err(o)) => return (o, None, last_send),
                Ok(Ok(())) => {}
            }
            let reply = &self.s.reply;
            if let Some(t) = reply.header("server-timing").and_then(ServerTiming::parse) {
                self.s.timing.get_or_insert_default().add(t);
            }
            let header = |name: &str| reply.header(name).map(<[u8]>::to_vec);
            if let Err(f) = step.accept(
                round,
                reply.status,
                &header,
                &reply.body,
                &mut self.s.values,
            ) {
                return (failure_outcome(&f), retry_after(reply), last_send);
            }
            if round + 1 == step.rounds() && step.discovery.is_some() {
                return (self.check_discovery(step, batch), None, last_send);
            }
        }
        (Outcome::Ok, None, last_send)
    }

    /// Sends the built request (see [`PersonCtx::send`]).
    async fn send(&mut self, step: &Step) -> Result<(), Outcome> {
        self.ctx
            .send(&self.person, &self.s.req, step.http2, &mut self.s.reply)
            .await
    }

    fn build(&mut self, step: &Step, round: usize, batch: &[Contact]) {
        let plan = &self.ctx.plan;
        let ctx = Ctx {
            plan_secret: &plan.secret,
            person: &self.person,
            region_name: &plan.regions[self.person.region as usize].name,
            code: &self.code,
            values: &self.s.values,
            batch,
        };
        if batch.is_empty() {
            step.build(round, &ctx, &mut self.s.req);
            return;
        }
        step.build_encoded(round, &ctx, &self.s.encoded, &mut self.s.req);
        // Which contacts the tester knows are registered at the moment of sending.
        let registry = &self.ctx.registry;
        self.s.expected.clear();
        self.s.expected.extend(
            batch
                .iter()
                .map(|c| c.user.is_some_and(|v| registry.contains(v))),
        );
    }

    /// Compares a discovery answer with what the tester knew; counts found, missing and unexpected.
    fn check_discovery(&mut self, step: &Step, batch: &[Contact]) -> Outcome {
        let Some(d) = &step.discovery else {
            return Outcome::Ok;
        };
        if let Err(f) = d.found_encoded(
            &self.s.reply.body,
            batch,
            &self.s.encoded,
            &mut self.s.found,
        ) {
            return failure_outcome(&f);
        }
        let (mut expected, mut found, mut unexpected) = (0u64, 0u64, 0u64);
        for (i, c) in batch.iter().enumerate() {
            let was_expected = self.s.expected.get(i).copied().unwrap_or(false);
            let is_found = self.s.found.get(i).copied().unwrap_or(false);
            expected += was_expected as u64;
            found += (was_expected && is_found) as u64;
            // A number that never joins cannot be registered: naming it is a wrong answer. A person the
            // tester has not (yet) seen registered may have been registered by another client: not counted.
            unexpected += (is_found && c.user.is_none()) as u64;
        }
        if d.check {
            self.s.discovery_counted = true;
            self.ctx.rec.borrow_mut().discovery(
                self.person.region,
                batch.len() as u64,
                expected,
                found,
                unexpected,
            );
        }
        if unexpected > 0 {
            Outcome::WrongAnswer
        } else {
            Outcome::Ok
        }
    }
}

fn failure_outcome(f: &StepFailure) -> Outcome {
    match f {
        StepFailure::UnexpectedStatus(s) => Outcome::from_status(*s),
        StepFailure::Extraction { .. } => Outcome::Extraction,
        StepFailure::WrongAnswer { .. } => Outcome::WrongAnswer,
    }
}

pub(crate) fn retry_after(a: &Reply) -> Option<Duration> {
    let v = std::str::from_utf8(a.header("retry-after")?).ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EngineConfig, Registry, ShardSet};
    use surge_plan::Overrides;

    /// The reference journey (HTTP signup and discovery) with a connected phase that sends messages.
    const PROFILE: &str = r#"
name = "sizes"
seed = 1
[event]
population = 10
duration = "10s"
[[regions]]
name = "americas"
share = 1.0
[curve]
kind = "ramp"
up = "1s"
[address_book]
median = 5
sigma = 0.5
max = 20
same_region = 1.0
never_join = 0.0
later = 0.0
[journey]
builtin = "reference"
[journey.connect]
path = "/v1/ws"
headers = { authorization = "Bearer {token}" }
dwell = { fixed = "1h" }
heartbeat = { every = "10s", frame = '{"type":"ping"}', reply = { pointer = "/type", equals = "pong" }, timeout = "10s" }
messages = { per_minute = 6.0, frame = '{"type":"send","id":"{msg_id}","to":"{to}","sent_at":{sent_at}}' }
ack = { pointer = "/type", equals = "ack", id = "/id" }
"#;

    fn ctx() -> PersonCtx {
        let profile = surge_profile::parse(PROFILE, "sizes.toml").unwrap_or_else(|e| panic!("{e}"));
        let plan = Arc::new(
            Plan::compile(&profile, &Overrides::default()).unwrap_or_else(|e| panic!("{e}")),
        );
        let spec = WorkerSpec {
            index: 0,
            shards: Arc::new(ShardSet::all(plan.shards)),
            registry: Arc::new(Registry::new(plan.population)),
            targets: Arc::new(Targets::new("http://127.0.0.1:1", &plan)),
            start: std::time::SystemTime::now(),
            max_in_flight: 10,
            concurrency: 0,
            limiter: None,
            report_registrations: false,
            drain: Duration::from_secs(1),
            engine: crate::Engine::new(EngineConfig::default()).unwrap_or_else(|e| panic!("{e}")),
            first_interval: 0,
            by_region: false,
            plan: plan.clone(),
        };
        let rec = Recorder::new(plan.regions.len() as u16, plan.steps.len() as u16);
        PersonCtx::new(&spec, Rc::new(RefCell::new(rec)), Instant::now())
    }

    /// What a held connection costs in the task that holds it: the person's whole future (allocated
    /// once per person by the runtime, for the whole dwell) must stay a small multiple of the holding
    /// loop's state, not grow with the HTTP client's or the handshake's futures, which are boxed and
    /// freed before the connection is held. Printed for `bench/ws-hold.sh`'s readers
    /// (`cargo test --release -p surge-engine --lib -- the_held_task_is_small --nocapture`).
    #[tokio::test]
    async fn the_held_task_is_small() {
        let ctx = ctx();
        let now = Instant::now();
        let person = ctx.plan.person(0);
        let whole = std::mem::size_of_val(&run(&ctx, 0, now));
        let signup = std::mem::size_of_val(&signup(&ctx, 0, person, now));
        let session = std::mem::size_of_val(&crate::session::run(
            ctx.session_parts(),
            person,
            Vec::new(),
        ));
        let ws = crate::session::open_ws_size();
        println!(
            "person task future: {whole} bytes (boxed apart: HTTP steps {signup} bytes); \
             session future: {session} bytes, of which the open WebSocket: {ws} bytes"
        );
        assert!(
            whole <= session + 256,
            "the person's future ({whole} bytes) carries more than the session's ({session} bytes)"
        );
        assert!(
            session <= 2048,
            "the session's future grew to {session} bytes: box what is not held"
        );
    }
}

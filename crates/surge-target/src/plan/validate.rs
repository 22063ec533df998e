//! Turning parsed plan text into a [`CapacityPlan`]: locating errors and checking the rules that
//! span several fields (regions served exactly once, p99 at least the median, shares in range).

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawDc, RawDist, RawPlan, RawRegion};
use super::{
    CapacityPlan, DEFAULT_DISCOVERY_BATCH_LIMIT, DEFAULT_SECRET, DcPlan, Endpoint, ProviderPlan,
    RegionPlan, ServiceTime, SmsQueuePlan, TimerKind, WhenFull, format_duration, text,
};
use crate::error::PlanError;

pub(super) fn toml_error(text: &str, origin: &str, error: &toml::de::Error) -> PlanError {
    let offset = error.span().map_or(0, |s| s.start);
    let (line, column) = text::line_column(text, offset);
    let mut field = text::field_path_at(text, offset);
    let message = error.message().trim().to_owned();
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        field = if field.is_empty() {
            missing.to_owned()
        } else {
            format!("{field}.{missing}")
        };
    }
    if field.is_empty() {
        field = "plan".to_owned();
    }
    PlanError::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        field,
        message,
    }
}

/// Checks the cross-field rules of a parsed plan and builds the [`CapacityPlan`].
pub(super) struct Validator<'a> {
    pub text: &'a str,
    pub origin: &'a str,
}

impl Validator<'_> {
    /// The index of the data centre `name` names, or an error at its place (`field`) when `[dcs]` has
    /// none of that name.
    pub(super) fn dc_index(
        &self,
        dcs: &[DcPlan],
        name: &Spanned<String>,
        field: &str,
    ) -> Result<usize, PlanError> {
        dcs.iter()
            .position(|d| d.name == *name.get_ref())
            .ok_or_else(|| {
                let message = format!("unknown data centre `{}` (not in [dcs])", name.get_ref());
                self.error(name.span(), field, message)
            })
    }

    pub(super) fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> PlanError {
        let (line, column) = text::line_column(self.text, span.start);
        PlanError::Invalid {
            origin: self.origin.to_owned(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn plan(&self, raw: RawPlan) -> Result<CapacityPlan, PlanError> {
        let regions = self.regions(&raw)?;
        let (mut dcs, mut regions) = self.dcs(&raw, regions)?;
        self.geo(&raw, &mut regions, &mut dcs)?;
        let default_region = regions
            .iter()
            .position(|r| r.name == *raw.default_region.get_ref())
            .ok_or_else(|| {
                self.error(
                    raw.default_region.span(),
                    "default_region",
                    format!("unknown region `{}`", raw.default_region.get_ref()),
                )
            })?;
        let secret = match &raw.secret {
            Some(s) if s.get_ref().is_empty() => {
                return Err(self.error(s.span(), "secret", "must not be empty"));
            }
            Some(s) => s.get_ref().clone(),
            None => DEFAULT_SECRET.to_owned(),
        };
        let discovery_batch_limit = match &raw.discovery_batch_limit {
            Some(l) if *l.get_ref() == 0 || *l.get_ref() > 1_000_000 => {
                return Err(self.error(l.span(), "discovery_batch_limit", "must be 1..=1000000"));
            }
            Some(l) => *l.get_ref() as usize,
            None => DEFAULT_DISCOVERY_BATCH_LIMIT,
        };
        let discovery_omit_share = match &raw.discovery_omit_share {
            Some(s) if !(0.0..=1.0).contains(s.get_ref()) => {
                return Err(self.error(
                    s.span(),
                    "discovery_omit_share",
                    "must be between 0 and 1",
                ));
            }
            Some(s) => *s.get_ref(),
            None => 0.0,
        };
        let discovery_quota = self.discovery_quota(&raw)?;
        let sms_limits = self.sms_limits(&raw)?;
        let sms_queue = self.sms_queue(&raw, &regions)?;
        let session_ttl = match &raw.session_ttl {
            Some(t) if t.get_ref().0.is_zero() => {
                return Err(self.error(t.span(), "session_ttl", "must be positive"));
            }
            Some(t) => t.get_ref().0,
            None => Duration::from_secs(600),
        };
        Ok(CapacityPlan {
            origin: self.origin.to_owned(),
            secret,
            default_region,
            discovery_batch_limit,
            discovery_omit_share,
            discovery_quota,
            sms_limits,
            sms_queue,
            seed: raw.seed.unwrap_or(0),
            timer: raw.timer.unwrap_or(TimerKind::Precise),
            session_ttl,
            regions,
            mailbox_limit: self.mailbox_limit(&raw)?,
            faults: self.faults(&raw, &dcs)?,
            dcs,
        })
    }

    /// `[discovery_quota]`: permits at least 1, a positive refill over a positive period.
    fn discovery_quota(
        &self,
        raw: &RawPlan,
    ) -> Result<Option<crate::discovery::DiscoveryQuota>, PlanError> {
        let Some(q) = &raw.discovery_quota else {
            return Ok(None);
        };
        let q = q.get_ref();
        let permits = *q.permits.get_ref();
        if !(1..=1_000_000_000).contains(&permits) {
            return Err(self.error(
                q.permits.span(),
                "discovery_quota.permits",
                "must be 1..=1000000000 (a bucket that holds nothing answers no lookup)",
            ));
        }
        let refill = *q.refill.get_ref();
        if !(refill.is_finite() && refill > 0.0) {
            return Err(self.error(
                q.refill.span(),
                "discovery_quota.refill",
                "must be a positive number of permits (a zero rate never refills)",
            ));
        }
        let per = q
            .per
            .as_ref()
            .map_or(Duration::from_secs(3600), |p| p.get_ref().0);
        if per.is_zero() {
            let span = q.per.as_ref().map_or(0..0, |p| p.span());
            return Err(self.error(span, "discovery_quota.per", "must be positive"));
        }
        Ok(Some(crate::discovery::DiscoveryQuota {
            permits: permits.unsigned_abs(),
            refill_per_s: refill / per.as_secs_f64(),
        }))
    }

    /// `[sms_limits]`: each limit a burst of at least 1 and a positive period.
    fn sms_limits(
        &self,
        raw: &RawPlan,
    ) -> Result<[Option<crate::sms::per_number::NumberLimit>; 2], PlanError> {
        let Some(l) = &raw.sms_limits else {
            return Ok([None, None]);
        };
        let l = l.get_ref();
        let one = |name: &str,
                   r: &Option<Spanned<super::raw::RawLimit>>|
         -> Result<Option<crate::sms::per_number::NumberLimit>, PlanError> {
            let Some(r) = r else { return Ok(None) };
            let r = r.get_ref();
            let burst = *r.burst.get_ref();
            if !(1..=1_000_000).contains(&burst) {
                return Err(self.error(
                    r.burst.span(),
                    format!("sms_limits.{name}.burst"),
                    "must be 1..=1000000 (a limit of 0 refuses every request)",
                ));
            }
            let every = r.every.get_ref().0;
            if every.is_zero() {
                return Err(self.error(
                    r.every.span(),
                    format!("sms_limits.{name}.every"),
                    "must be positive (a zero period is no limit: leave the limit out)",
                ));
            }
            Ok(Some(crate::sms::per_number::NumberLimit {
                burst: burst.unsigned_abs() as u32,
                every,
            }))
        };
        Ok([
            one("request_code", &l.request_code)?,
            one("verify_code", &l.verify_code)?,
        ])
    }

    fn regions(&self, raw: &RawPlan) -> Result<Vec<RegionPlan>, PlanError> {
        if raw.regions.get_ref().is_empty() {
            return Err(self.error(
                raw.regions.span(),
                "regions",
                "at least one region is needed",
            ));
        }
        let mut out = Vec::new();
        for (name, region) in raw.regions.get_ref() {
            let field = format!("regions.{}", name.get_ref());
            check_name(name.get_ref()).map_err(|m| self.error(name.span(), &field, m))?;
            let providers = self.providers(&field, region)?;
            let (rate, burst) = match (&region.sms_rate_per_s, &region.sms_burst) {
                (Some(rate), Some(burst)) => {
                    let r = *rate.get_ref();
                    if !(r.is_finite() && r > 0.0 && r <= 1e9) {
                        return Err(self.error(
                            rate.span(),
                            format!("{field}.sms_rate_per_s"),
                            "must be a positive rate",
                        ));
                    }
                    if *burst.get_ref() == 0 {
                        let span = burst.span();
                        let f = format!("{field}.sms_burst");
                        return Err(self.error(span, f, "must be at least 1"));
                    }
                    (r, *burst.get_ref())
                }
                // The pipeline's providers set the pace; the gateway in front lets everything in.
                (None, None) if !providers.is_empty() => (1e9, u32::MAX),
                (rate, _) => {
                    let (f, span) = match rate {
                        Some(_) => ("sms_burst", name.span()),
                        None => ("sms_rate_per_s", name.span()),
                    };
                    return Err(self.error(
                        span,
                        format!("{field}.{f}"),
                        "a region needs `sms_rate_per_s` and `sms_burst`, or `providers`",
                    ));
                }
            };
            out.push(RegionPlan {
                name: name.get_ref().clone(),
                dc: usize::MAX,
                sms_rate_per_s: rate,
                sms_burst: burst,
                providers,
                rtt: Vec::new(),
                rtt_jitter: Duration::ZERO,
            });
        }
        Ok(out)
    }

    /// A region's `providers` (and `voice` fallback, last): positive rates, named once each.
    fn providers(&self, field: &str, region: &RawRegion) -> Result<Vec<ProviderPlan>, PlanError> {
        let mut out: Vec<ProviderPlan> = Vec::new();
        let list = match &region.providers {
            Some(list) if list.get_ref().is_empty() => {
                let f = format!("{field}.providers");
                return Err(self.error(list.span(), f, "must name at least one provider"));
            }
            Some(list) => list.get_ref().iter().collect(),
            None => Vec::new(),
        };
        if list.is_empty()
            && let Some(v) = &region.voice
        {
            let f = format!("{field}.voice");
            let message = "voice is the fallback of `providers`: name the SMS providers first";
            return Err(self.error(v.span(), f, message));
        }
        let voice = region.voice.iter().map(|v| (v, true));
        for (i, (p, is_voice)) in list
            .into_iter()
            .map(|p| (p, false))
            .chain(voice)
            .enumerate()
        {
            let f = if is_voice {
                format!("{field}.voice")
            } else {
                format!("{field}.providers[{i}]")
            };
            let raw = p.get_ref();
            let name = match (&raw.name, is_voice) {
                (Some(n), _) => {
                    check_name(n.get_ref()).map_err(|m| self.error(n.span(), &f, m))?;
                    if out.iter().any(|o| o.name == *n.get_ref()) {
                        let message = format!("provider `{}` is named twice", n.get_ref());
                        return Err(self.error(n.span(), format!("{f}.name"), message));
                    }
                    n.get_ref().clone()
                }
                (None, true) => "voice".to_owned(),
                (None, false) => {
                    return Err(self.error(p.span(), format!("{f}.name"), "missing field `name`"));
                }
            };
            let rate = *raw.rate_per_s.get_ref();
            if !(rate.is_finite() && rate > 0.0 && rate <= 1e9) {
                return Err(self.error(
                    raw.rate_per_s.span(),
                    format!("{f}.rate_per_s"),
                    "must be a positive rate (a provider at 0/s never sends)",
                ));
            }
            out.push(ProviderPlan {
                name,
                interval: Duration::from_secs_f64(1.0 / rate),
                latency: self.dist(&format!("{f}.latency"), &raw.latency)?,
            });
        }
        Ok(out)
    }

    /// `[sms_queue]`: positive durations, and an expiry no shorter than one send of any provider
    /// (else every message queued behind another would expire).
    fn sms_queue(&self, raw: &RawPlan, regions: &[RegionPlan]) -> Result<SmsQueuePlan, PlanError> {
        let mut q = SmsQueuePlan::DEFAULT;
        let Some(r) = &raw.sms_queue else {
            return Ok(q);
        };
        let r = r.get_ref();
        if let Some(e) = &r.expiry {
            if e.get_ref().0.is_zero() {
                return Err(self.error(e.span(), "sms_queue.expiry", "must be positive"));
            }
            q.expiry = e.get_ref().0;
            let slowest = regions
                .iter()
                .flat_map(|g| g.providers.iter().map(move |p| (g, p)))
                .max_by_key(|(_, p)| p.interval);
            if let Some((g, p)) = slowest
                && p.interval > q.expiry
            {
                let message = format!(
                    "{} is shorter than one send of provider `{}` in region `{}` (one message every {}): \
                     every message queued behind another would expire",
                    format_duration(q.expiry),
                    p.name,
                    g.name,
                    format_duration(p.interval)
                );
                return Err(self.error(e.span(), "sms_queue.expiry", message));
            }
        }
        if let Some(f) = &r.failover_after {
            q.failover_after = f.get_ref().0;
        }
        Ok(q)
    }

    fn dcs(
        &self,
        raw: &RawPlan,
        mut regions: Vec<RegionPlan>,
    ) -> Result<(Vec<DcPlan>, Vec<RegionPlan>), PlanError> {
        if raw.dcs.get_ref().is_empty() {
            return Err(self.error(raw.dcs.span(), "dcs", "at least one data centre is needed"));
        }
        let defaults = (self.default_service(raw)?, self.default_ws_service(raw)?);
        let mut dcs = Vec::new();
        for (index, (name, dc)) in raw.dcs.get_ref().iter().enumerate() {
            let field = format!("dcs.{}", name.get_ref());
            check_name(name.get_ref()).map_err(|m| self.error(name.span(), &field, m))?;
            self.assign_regions(&field, dc, index, &mut regions)?;
            dcs.push(self.dc(name.get_ref(), &field, dc, defaults)?);
        }
        if let Some(orphan) = regions.iter().find(|r| r.dc == usize::MAX) {
            return Err(self.error(
                raw.regions.span(),
                format!("regions.{}", orphan.name),
                "no data centre serves this region",
            ));
        }
        Ok((dcs, regions))
    }

    fn assign_regions(
        &self,
        field: &str,
        dc: &RawDc,
        index: usize,
        regions: &mut [RegionPlan],
    ) -> Result<(), PlanError> {
        if dc.regions.get_ref().is_empty() {
            let span = dc.regions.span();
            return Err(self.error(
                span,
                format!("{field}.regions"),
                "must name at least one region",
            ));
        }
        for served in dc.regions.get_ref() {
            let field = format!("{field}.regions");
            let region = regions
                .iter_mut()
                .find(|r| r.name == *served.get_ref())
                .ok_or_else(|| {
                    let message = format!("region `{}` is not in [regions]", served.get_ref());
                    self.error(served.span(), &field, message)
                })?;
            if region.dc != usize::MAX {
                let message = format!(
                    "region `{}` is already served by another data centre",
                    region.name
                );
                return Err(self.error(served.span(), &field, message));
            }
            region.dc = index;
        }
        Ok(())
    }

    fn dc(
        &self,
        name: &str,
        field: &str,
        dc: &RawDc,
        defaults: ([ServiceTime; 5], [ServiceTime; 2]),
    ) -> Result<DcPlan, PlanError> {
        let slots = *dc.slots.get_ref();
        if slots == 0 || slots as usize > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(self.error(
                dc.slots.span(),
                format!("{field}.slots"),
                "must be at least 1",
            ));
        }
        let mut service = defaults.0;
        if let Some(overrides) = &dc.service {
            for (i, o) in overrides.in_order().into_iter().enumerate() {
                if let Some(dist) = o {
                    let path = format!("{field}.service.{}", Endpoint::ALL[i].name());
                    service[i] = self.dist(&path, dist)?;
                }
            }
        }
        Ok(DcPlan {
            name: name.to_owned(),
            failover: None,
            slots,
            queue_limit: dc.queue_limit.unwrap_or(1024) as usize,
            when_full: dc.when_full.unwrap_or(WhenFull::Shed429),
            index_lag_base: dc.index_lag_base.map_or(Duration::ZERO, |d| d.0),
            index_lag_per_queued: dc.index_lag_per_queued.map_or(Duration::ZERO, |d| d.0),
            service,
            ws: self.ws_plan(field, dc, defaults.1)?,
        })
    }

    fn default_service(&self, raw: &RawPlan) -> Result<[ServiceTime; 5], PlanError> {
        let mut out = [ServiceTime {
            median: Duration::ZERO,
            p99: Duration::ZERO,
            sigma: 0.0,
        }; 5];
        for (i, dist) in raw.service.in_order().into_iter().enumerate() {
            out[i] = self.dist(&format!("service.{}", Endpoint::ALL[i].name()), dist)?;
        }
        Ok(out)
    }

    pub(super) fn dist(
        &self,
        field: &str,
        dist: &Spanned<RawDist>,
    ) -> Result<ServiceTime, PlanError> {
        let d = dist.get_ref();
        ServiceTime::new(d.median.0, d.p99.0).ok_or_else(|| {
            let message = format!(
                "p99 ({}) must be at least the median ({}), and both zero or both positive",
                format_duration(d.p99.0),
                format_duration(d.median.0)
            );
            self.error(dist.span(), field, message)
        })
    }
}

/// Region and data-centre names become metrics labels and header values: keep them simple.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name `{name}` must be 1-64 characters of a-z, 0-9, `_` or `-`"
        ))
    }
}

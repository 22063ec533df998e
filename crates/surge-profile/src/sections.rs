//! The smaller profile sections: `[address_book]`, `[client]`, `[load]`, `slos`.

use toml::Spanned;

use crate::error::ProfileError;
use crate::model::{AddressBook, Client, Load, Retry};
use crate::raw::{RawAddressBook, RawClient, RawLoad, S};
use crate::slo;
use crate::validate::Cx;
use std::time::Duration;

pub(crate) fn default_client() -> RawClient {
    RawClient {
        timeout: None,
        retry: None,
        max_attempts: None,
        backoff_base: None,
        backoff_cap: None,
        jitter: None,
        retry_after_fallback: None,
        retry_after_cap: None,
    }
}

pub(crate) fn address_book(a: &RawAddressBook, cx: &Cx) -> Result<AddressBook, ProfileError> {
    let d = AddressBook::default();
    let median = cx.float_or(
        a.median.as_ref(),
        "address_book.median",
        0.0,
        10_000.0,
        d.median,
    )?;
    let sigma = cx.float_or(a.sigma.as_ref(), "address_book.sigma", 0.0, 5.0, d.sigma)?;
    let max = a.max.as_ref().map_or(Ok(u64::from(d.max)), |m| {
        cx.int(m, "address_book.max", 0, 10_000)
    })? as u32;
    let same_region = cx.float_or(
        a.same_region.as_ref(),
        "address_book.same_region",
        0.0,
        1.0,
        d.same_region,
    )?;
    let never_join = cx.float_or(
        a.never_join.as_ref(),
        "address_book.never_join",
        0.0,
        1.0,
        d.never_join,
    )?;
    let later = cx.float_or(a.later.as_ref(), "address_book.later", 0.0, 1.0, d.later)?;
    Ok(AddressBook {
        median,
        sigma,
        max,
        same_region,
        never_join,
        later,
    })
}

pub(crate) fn client(c: &RawClient, cx: &Cx) -> Result<Client, ProfileError> {
    let timeout = match &c.timeout {
        Some(t) => cx.positive_dur(t, "client.timeout")?,
        None => Duration::from_secs(5),
    };
    let name = c.retry.as_ref().map_or("give-up", |r| r.get_ref().as_str());
    let ms = Duration::from_millis;
    let retry = match name {
        "give-up" => Retry::GiveUp,
        "immediate" => Retry::Immediate,
        "backoff" => Retry::Backoff {
            base: cx.dur_or(c.backoff_base.as_ref(), "client.backoff_base", ms(100))?,
            cap: cx.dur_or(c.backoff_cap.as_ref(), "client.backoff_cap", ms(5000))?,
            jitter: c.jitter.as_ref().is_none_or(|j| *j.get_ref()),
        },
        "retry-after" => Retry::RetryAfter {
            fallback: cx.dur_or(
                c.retry_after_fallback.as_ref(),
                "client.retry_after_fallback",
                ms(1000),
            )?,
            cap: cx.dur_or(
                c.retry_after_cap.as_ref(),
                "client.retry_after_cap",
                ms(30_000),
            )?,
        },
        other => {
            let span = c.retry.as_ref().map_or(0..0, |r| r.span());
            return Err(cx.err(
                span,
                "client.retry",
                format!("{other:?}"),
                "expected \"give-up\", \"immediate\", \"backoff\" or \"retry-after\"",
            ));
        }
    };
    let default_attempts = if retry == Retry::GiveUp { 1 } else { 3 };
    let max_attempts = c.max_attempts.as_ref().map_or(Ok(default_attempts), |m| {
        cx.int(m, "client.max_attempts", 1, 100)
    })? as u32;
    Ok(Client {
        timeout,
        retry,
        max_attempts,
    })
}

pub(crate) fn load(l: &Spanned<RawLoad>, cx: &Cx) -> Result<Load, ProfileError> {
    let r = l.get_ref();
    match r.model.as_ref().map_or("open", |m| m.get_ref().as_str()) {
        "open" => match &r.concurrency {
            Some(c) => Err(cx.err(
                c.span(),
                "load.concurrency",
                c.get_ref(),
                "applies only to model = \"closed\"",
            )),
            None => Ok(Load::Open),
        },
        "closed" => match &r.concurrency {
            Some(c) => Ok(Load::Closed {
                concurrency: cx.int(c, "load.concurrency", 1, 1_000_000)? as u32,
            }),
            None => Err(cx.err(
                l.span(),
                "load.concurrency",
                "",
                "missing field (required for model = \"closed\")",
            )),
        },
        other => {
            let span = r.model.as_ref().map_or(l.span(), |m| m.span());
            Err(cx.err(
                span,
                "load.model",
                format!("{other:?}"),
                "expected \"open\" or \"closed\"",
            ))
        }
    }
}

pub(crate) fn slos(
    raw: &[S],
    regions: &[String],
    cx: &Cx,
) -> Result<Vec<slo::SloSpec>, ProfileError> {
    if raw.len() > 256 {
        return Err(cx.err(raw[256].span(), "slos", raw.len(), "at most 256 slos"));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let field = format!("slos[{i}]");
        let text = cx.text_field(s, &field, 256)?;
        let spec = slo::parse(&text)
            .map_err(|r| cx.err(s.span(), &field, format!("{text:?}"), r.to_string()))?;
        if let Some(r) = &spec.region
            && !regions.contains(r)
        {
            return Err(cx.err(
                s.span(),
                &field,
                format!("{text:?}"),
                format!("unknown region `{r}` (regions: {})", regions.join(", ")),
            ));
        }
        out.push(spec);
    }
    Ok(out)
}

//! Raw profile -> [`Profile`]: every rule, every error with file:line:column, field, value, rule.

use std::fmt::Display;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::error::ProfileError;
use crate::journey::{self, JourneySpec, RawJourney, ValidateCtx};
use crate::locate::short;
use crate::model::{AddressBook, Event, Load, Onset, Profile, Region};
use crate::raw::{F, I, RawEvent, RawProfile, RawRegion, S};
use crate::sections::{address_book, client, default_client, load, slos};
use crate::{curve, duration};

/// Most people a profile may name: phone numbers live in a space of 10^10 national numbers that
/// people and never-joining contacts share, so half of it is the cap.
pub const MAX_POPULATION: u64 = 5_000_000_000;
/// Longest free-text field.
pub const MAX_TEXT: usize = 4096;
/// Most regions.
pub const MAX_REGIONS: usize = 64;

/// What validation needs to point at the source.
pub struct Cx<'a> {
    /// File label.
    pub file: &'a str,
    /// Whole text.
    pub text: &'a str,
    /// Folder for relative paths.
    pub base_dir: &'a Path,
}

impl Cx<'_> {
    /// An error at `span`.
    pub fn err(
        &self,
        span: Range<usize>,
        field: &str,
        value: impl Display,
        rule: impl Into<String>,
    ) -> ProfileError {
        ProfileError::at(
            self.file,
            self.text,
            span,
            field,
            short(&value.to_string()),
            rule,
        )
    }

    /// A duration field.
    pub fn dur(&self, s: &S, field: &str) -> Result<Duration, ProfileError> {
        duration::parse(s.get_ref())
            .map_err(|r| self.err(s.span(), field, format!("{:?}", s.get_ref()), r.to_string()))
    }

    /// An optional duration field with a default.
    pub fn dur_or(
        &self,
        s: Option<&S>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, ProfileError> {
        s.map_or(Ok(default), |s| self.dur(s, field))
    }

    /// A duration that must be > 0.
    pub fn positive_dur(&self, s: &S, field: &str) -> Result<Duration, ProfileError> {
        let d = self.dur(s, field)?;
        if d.is_zero() {
            return Err(self.err(
                s.span(),
                field,
                format!("{:?}", s.get_ref()),
                "must be longer than zero",
            ));
        }
        Ok(d)
    }

    /// A finite float in `lo..=hi`.
    pub fn float(&self, f: &F, field: &str, lo: f64, hi: f64) -> Result<f64, ProfileError> {
        let v = *f.get_ref();
        if !v.is_finite() {
            return Err(self.err(
                f.span(),
                field,
                v,
                "must be a finite number (not nan or inf)",
            ));
        }
        if v < lo || v > hi {
            let rule = if v < 0.0 && lo >= 0.0 {
                "must not be negative".to_string()
            } else {
                format!("must be between {lo} and {hi}")
            };
            return Err(self.err(f.span(), field, v, rule));
        }
        Ok(v)
    }

    /// An optional float with a default.
    pub fn float_or(
        &self,
        f: Option<&F>,
        field: &str,
        lo: f64,
        hi: f64,
        default: f64,
    ) -> Result<f64, ProfileError> {
        f.map_or(Ok(default), |f| self.float(f, field, lo, hi))
    }

    /// An integer in `lo..=hi`.
    pub fn int(&self, i: &I, field: &str, lo: i64, hi: i64) -> Result<u64, ProfileError> {
        let v = *i.get_ref();
        if v < lo || v > hi {
            let rule = if v < 0 && lo >= 0 {
                "must not be negative".to_string()
            } else {
                format!("must be between {lo} and {hi}")
            };
            return Err(self.err(i.span(), field, v, rule));
        }
        Ok(v.unsigned_abs())
    }

    /// A string of at most `max` characters, not empty.
    pub fn text_field(&self, s: &S, field: &str, max: usize) -> Result<String, ProfileError> {
        let v = s.get_ref();
        if v.trim().is_empty() {
            return Err(self.err(s.span(), field, "\"\"", "must not be empty"));
        }
        if v.len() > max {
            return Err(self.err(
                s.span(),
                field,
                v,
                format!("too long (at most {max} bytes)"),
            ));
        }
        Ok(v.clone())
    }

    /// A path relative to the profile's folder.
    pub fn path(&self, s: &S, field: &str) -> Result<PathBuf, ProfileError> {
        let p = self.text_field(s, field, 1024)?;
        Ok(self.base_dir.join(p))
    }
}

/// The top-level scalar fields.
struct Header {
    name: String,
    description: String,
    seed: u64,
    secret: String,
    shards: u32,
}

fn header(raw: &RawProfile, cx: &Cx) -> Result<Header, ProfileError> {
    let name = cx.text_field(&raw.name, "name", 64)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        let rule = "only letters, digits, '.', '_' and '-' are allowed";
        return Err(cx.err(raw.name.span(), "name", &name, rule));
    }
    let description = match &raw.description {
        Some(d) if d.get_ref().len() > MAX_TEXT => {
            let rule = format!("too long (at most {MAX_TEXT} bytes)");
            return Err(cx.err(d.span(), "description", d.get_ref(), rule));
        }
        Some(d) => d.get_ref().clone(),
        None => String::new(),
    };
    let seed = raw
        .seed
        .as_ref()
        .map_or(Ok(42), |s| cx.int(s, "seed", 0, i64::MAX))?;
    let secret = match &raw.secret {
        Some(s) => cx.text_field(s, "secret", 256)?,
        None => "surge-staging-secret".to_string(),
    };
    let shards = raw
        .shards
        .as_ref()
        .map_or(Ok(1024), |s| cx.int(s, "shards", 256, 65_536))?;
    Ok(Header {
        name,
        description,
        seed,
        secret,
        shards: shards as u32,
    })
}

fn journey_spec(
    raw: &RawProfile,
    cx: &Cx,
    region_names: &[String],
) -> Result<JourneySpec, ProfileError> {
    let jctx = ValidateCtx {
        file: cx.file,
        text: cx.text,
        region_names,
        base_dir: Some(cx.base_dir),
    };
    match &raw.journey {
        Some(j) => journey::validate(j, &jctx),
        None => journey::validate(&default_journey(cx)?, &jctx),
    }
}

/// Validates a whole raw profile.
pub fn profile(raw: RawProfile, cx: &Cx) -> Result<Profile, ProfileError> {
    let Header {
        name,
        description,
        seed,
        secret,
        shards,
    } = header(&raw, cx)?;
    let mut regions = regions(&raw.regions, cx)?;
    let curve = curve::validate(&raw.curve, &raw.regions, cx)?;
    let event = event(&raw.event, cx, &curve)?;
    curve::finish(&curve, &event, &raw, &mut regions, cx)?;
    let address_book = match &raw.address_book {
        Some(a) => address_book(a.get_ref(), cx)?,
        None => AddressBook::default(),
    };
    let client = match &raw.client {
        Some(c) => client(c.get_ref(), cx)?,
        None => client(&default_client(), cx)?,
    };
    let load = raw.load.as_ref().map_or(Ok(Load::Open), |l| load(l, cx))?;
    let target = raw
        .target
        .as_ref()
        .map(|t| url(t, "target", cx))
        .transpose()?;
    let plan = raw.plan.as_ref().map(|p| cx.path(p, "plan")).transpose()?;
    let region_names: Vec<String> = regions.iter().map(|r| r.name.clone()).collect();
    let slos = slos(raw.slos.as_deref().unwrap_or(&[]), &region_names, cx)?;
    let journey = journey_spec(&raw, cx, &region_names)?;
    let figures = crate::figures::figures(raw.figures.as_deref(), &event, &regions, cx)?;
    Ok(Profile {
        name,
        description,
        seed,
        secret,
        origin: cx.file.to_string(),
        base_dir: cx.base_dir.to_path_buf(),
        shards,
        event,
        regions,
        curve: curve.into_curve(),
        address_book,
        client,
        load,
        target,
        plan,
        slos,
        journey,
        figures,
    })
}

fn default_journey(cx: &Cx) -> Result<RawJourney, ProfileError> {
    #[derive(serde::Deserialize)]
    struct W {
        journey: RawJourney,
    }
    toml::from_str::<W>("journey = \"reference\"")
        .map(|w| w.journey)
        .map_err(|e| {
            cx.err(
                0..0,
                "journey",
                "reference",
                format!("built-in journey unavailable: {}", e.message()),
            )
        })
}

fn event(raw: &Spanned<RawEvent>, cx: &Cx, curve: &curve::Checked) -> Result<Event, ProfileError> {
    let e = raw.get_ref();
    let duration = cx.positive_dur(&e.duration, "event.duration")?;
    let replay = cx.dur_or(e.replay.as_ref(), "event.replay", duration)?;
    if replay < Duration::from_millis(100) {
        let s = e.replay.as_ref().map_or(raw.span(), |s| s.span());
        return Err(cx.err(
            s,
            "event.replay",
            duration::format(replay),
            "must be at least 100ms",
        ));
    }
    let interval = cx.dur_or(
        e.interval.as_ref(),
        "event.interval",
        Duration::from_secs(1),
    )?;
    if interval < Duration::from_millis(10) || interval > Duration::from_secs(3600) {
        let s = e.interval.as_ref().map_or(raw.span(), |s| s.span());
        return Err(cx.err(
            s,
            "event.interval",
            duration::format(interval),
            "must be between 10ms and 1h",
        ));
    }
    let population = population(raw, cx, curve, duration)?;
    let onset = e.onset.as_ref().map(|o| onset(o, cx)).transpose()?;
    let scale = cx.float_or(e.scale.as_ref(), "event.scale", 0.0, 1e6, 1.0)?;
    let people = (population as f64 * scale).round();
    if !(1.0..=MAX_POPULATION as f64).contains(&people) {
        let s = e.scale.as_ref().map_or(raw.span(), |s| s.span());
        return Err(cx.err(
            s,
            "event.scale",
            scale,
            format!("population x scale = {people} must be between 1 and {MAX_POPULATION}"),
        ));
    }
    Ok(Event {
        population,
        scale,
        duration,
        replay,
        interval,
        onset,
    })
}

fn population(
    raw: &Spanned<RawEvent>,
    cx: &Cx,
    curve: &curve::Checked,
    duration: Duration,
) -> Result<u64, ProfileError> {
    let e = raw.get_ref();
    let max = MAX_POPULATION;
    match (&e.population, curve.trace_total(duration)) {
        (Some(p), _) => cx.int(p, "event.population", 1, max as i64),
        (None, Some(total)) => {
            let n = total.round();
            if !(1.0..=max as f64).contains(&n) {
                let rule = format!("the trace sums to {n} people: must be between 1 and {max}");
                return Err(cx.err(raw.span(), "event.population", n, rule));
            }
            Ok(n as u64)
        }
        (None, None) => {
            let rule = "missing field (required unless curve.kind = \"trace\")";
            Err(cx.err(raw.span(), "event.population", "", rule))
        }
    }
}

fn onset(o: &Spanned<toml::value::Datetime>, cx: &Cx) -> Result<Onset, ProfileError> {
    let dt = o.get_ref();
    let text = dt.to_string();
    let (Some(d), Some(t)) = (dt.date, dt.time) else {
        return Err(cx.err(
            o.span(),
            "event.onset",
            &text,
            "needs a date and a time, e.g. 2021-10-04T15:39:00Z",
        ));
    };
    let offset_min = match dt.offset {
        Some(toml::value::Offset::Custom { minutes }) => i64::from(minutes),
        _ => 0,
    };
    let days = days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day));
    let secs = days * 86_400
        + i64::from(t.hour) * 3600
        + i64::from(t.minute) * 60
        + i64::from(t.second.unwrap_or(0))
        - offset_min * 60;
    Ok(Onset {
        unix_secs: secs,
        text,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn default_country_code(name: &str) -> u16 {
    match name {
        "europe" | "uk" => 44,
        "asia" | "india" => 91,
        "mena" | "middle-east" => 971,
        "oceania" | "australia" => 61,
        "africa" => 27,
        "brazil" | "latam" => 55,
        "germany" => 49,
        _ => 1,
    }
}

fn regions(raw: &Spanned<Vec<Spanned<RawRegion>>>, cx: &Cx) -> Result<Vec<Region>, ProfileError> {
    let list = raw.get_ref();
    if list.is_empty() || list.len() > MAX_REGIONS {
        return Err(cx.err(
            raw.span(),
            "regions",
            list.len(),
            format!("need between 1 and {MAX_REGIONS} regions"),
        ));
    }
    let mut out: Vec<Region> = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let region = region(i, r.get_ref(), cx)?;
        if out.iter().any(|o| o.name == region.name) {
            let f = format!("regions[{i}].name");
            return Err(cx.err(
                r.get_ref().name.span(),
                &f,
                &region.name,
                "duplicate region name",
            ));
        }
        out.push(region);
    }
    Ok(out)
}

fn region(i: usize, r: &RawRegion, cx: &Cx) -> Result<Region, ProfileError> {
    let f = |k: &str| format!("regions[{i}].{k}");
    let name = cx.text_field(&r.name, &f("name"), 32)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(cx.err(
            r.name.span(),
            &f("name"),
            &name,
            "only letters, digits, '_' and '-' are allowed",
        ));
    }
    let share = cx.float_or(r.share.as_ref(), &f("share"), 0.0, 1.0, f64::NAN)?;
    let utc_offset_secs = match &r.utc_offset {
        Some(s) => duration::parse_signed(s.get_ref())
            .ok()
            .filter(|v| v.abs() <= 14.0 * 3600.0)
            .ok_or_else(|| {
                cx.err(
                    s.span(),
                    &f("utc_offset"),
                    format!("{:?}", s.get_ref()),
                    "expected an offset like \"-5h\" or \"+5h30m\" within 14h",
                )
            })?,
        None => 0.0,
    };
    let diurnal = match &r.diurnal {
        Some(d) => {
            let g = d.get_ref();
            let floor = cx.float(&g.floor, &f("diurnal.floor"), 0.0, 1.0)?;
            let peak_hour = cx.float(&g.peak_hour, &f("diurnal.peak_hour"), 0.0, 24.0)?;
            Some(crate::model::Diurnal { floor, peak_hour })
        }
        None => None,
    };
    let base_url = r
        .base_url
        .as_ref()
        .map(|u| url(u, &f("base_url"), cx))
        .transpose()?;
    let targets = targets(r, &f("targets"), cx)?;
    if let (Some(b), false) = (&r.base_url, targets.is_empty()) {
        return Err(cx.err(
            b.span(),
            &f("base_url"),
            b.get_ref(),
            "give either `base_url` or `targets`, not both",
        ));
    }
    let country_code = match &r.country_code {
        Some(c) => cx.int(c, &f("country_code"), 1, 999)? as u16,
        None => default_country_code(&name),
    };
    Ok(Region {
        name,
        share,
        utc_offset_secs,
        diurnal,
        base_url,
        targets,
        country_code,
        p: None,
        q: None,
    })
}

/// Most targets one region may spread its people over.
pub const MAX_TARGETS: usize = 4096;

/// `targets = [...]`: 1 to [`MAX_TARGETS`] distinct http(s) URLs.
fn targets(r: &RawRegion, field: &str, cx: &Cx) -> Result<Vec<String>, ProfileError> {
    let Some(list) = &r.targets else {
        return Ok(Vec::new());
    };
    if list.get_ref().is_empty() || list.get_ref().len() > MAX_TARGETS {
        return Err(cx.err(
            list.span(),
            field,
            list.get_ref().len(),
            format!("need between 1 and {MAX_TARGETS} targets"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.get_ref().len());
    for (i, u) in list.get_ref().iter().enumerate() {
        let v = url(u, &format!("{field}[{i}]"), cx)?;
        if out.contains(&v) {
            return Err(cx.err(
                u.span(),
                &format!("{field}[{i}]"),
                &v,
                "listed twice: each target once",
            ));
        }
        out.push(v);
    }
    Ok(out)
}

fn url(s: &S, field: &str, cx: &Cx) -> Result<String, ProfileError> {
    let u = cx.text_field(s, field, 2048)?;
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains(char::is_whitespace) {
        return Err(cx.err(s.span(), field, &u, "must be an http:// or https:// url"));
    }
    Ok(u.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::days_from_civil;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2021, 10, 4), 18_904);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}

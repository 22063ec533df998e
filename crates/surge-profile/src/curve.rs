//! `[curve]` validation: which fields apply to which kind, Bass units, traces.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::error::ProfileError;
use crate::model::{Bass, Curve, Event, Interpolation, Ramp, Region, Trace};
use crate::raw::{RawCurve, RawProfile, RawRegion, S};
use crate::validate::Cx;
use crate::{duration, trace};

/// A checked curve, before regions and event are known.
pub struct Checked {
    curve: Curve,
    /// Span of the `[curve]` table.
    span: Range<usize>,
    /// Bass unit in seconds (for per-region p/q).
    unit_secs: f64,
    /// Trace: per region (profile order) column names resolved later.
    series: Option<trace::Series>,
}

impl Checked {
    /// For traces: people arriving within `[0, duration)` (after scale), used when population is omitted.
    pub fn trace_total(&self, duration: Duration) -> Option<f64> {
        match &self.curve {
            Curve::Trace(t) => Some(
                (0..t.values.len())
                    .map(|r| t.integral(r, 0.0, duration.as_secs_f64()))
                    .sum(),
            ),
            _ => None,
        }
    }

    /// The curve.
    pub fn into_curve(self) -> Curve {
        self.curve
    }
}

const RAMP: &[&str] = &["start", "up", "hold", "down", "baseline"];
const BASS: &[&str] = &[
    "p",
    "q",
    "unit",
    "trigger_end",
    "decay",
    "returning",
    "baseline",
];
const TRACE: &[&str] = &["file", "step", "columns", "scale", "shift", "interpolation"];

fn present(c: &RawCurve) -> Vec<(&'static str, Range<usize>)> {
    let mut v = Vec::new();
    let mut s = |name, span: Option<Range<usize>>| {
        if let Some(span) = span {
            v.push((name, span));
        }
    };
    s("start", c.start.as_ref().map(Spanned::span));
    s("up", c.up.as_ref().map(Spanned::span));
    s("hold", c.hold.as_ref().map(Spanned::span));
    s("down", c.down.as_ref().map(Spanned::span));
    s("p", c.p.as_ref().map(Spanned::span));
    s("q", c.q.as_ref().map(Spanned::span));
    s("unit", c.unit.as_ref().map(Spanned::span));
    s("trigger_end", c.trigger_end.as_ref().map(Spanned::span));
    s("decay", c.decay.as_ref().map(Spanned::span));
    s("returning", c.returning.as_ref().map(Spanned::span));
    s("baseline", c.baseline.as_ref().map(Spanned::span));
    s("file", c.file.as_ref().map(Spanned::span));
    s("step", c.step.as_ref().map(Spanned::span));
    s("columns", c.columns.as_ref().map(Spanned::span));
    s("scale", c.scale.as_ref().map(Spanned::span));
    s("shift", c.shift.as_ref().map(Spanned::span));
    s("interpolation", c.interpolation.as_ref().map(Spanned::span));
    v
}

fn required<'a>(
    s: Option<&'a S>,
    span: &Range<usize>,
    field: &str,
    cx: &Cx,
) -> Result<&'a S, ProfileError> {
    s.ok_or_else(|| cx.err(span.clone(), field, "", "missing field"))
}

/// Checks `[curve]`; per-region and event-dependent checks happen in [`finish`].
pub fn validate(
    raw: &Spanned<RawCurve>,
    regions: &Spanned<Vec<Spanned<RawRegion>>>,
    cx: &Cx,
) -> Result<Checked, ProfileError> {
    let c = raw.get_ref();
    let span = raw.span();
    let kind = c.kind.get_ref().as_str();
    let allowed = match kind {
        "ramp" => RAMP,
        "bass" => BASS,
        "trace" => TRACE,
        other => {
            return Err(cx.err(
                c.kind.span(),
                "curve.kind",
                format!("{other:?}"),
                "expected \"ramp\", \"bass\" or \"trace\"",
            ));
        }
    };
    if let Some((name, s)) = present(c).into_iter().find(|(n, _)| !allowed.contains(n)) {
        return Err(cx.err(
            s,
            &format!("curve.{name}"),
            "",
            format!("does not apply to kind = \"{kind}\""),
        ));
    }
    let baseline = cx.float_or(c.baseline.as_ref(), "curve.baseline", 0.0, 1.0, 0.0)?;
    let (mut unit_secs, mut series) = (3600.0, None);
    let curve = match kind {
        "ramp" => Curve::Ramp(Ramp {
            start: cx.dur_or(c.start.as_ref(), "curve.start", Duration::ZERO)?,
            up: cx.dur(required(c.up.as_ref(), &span, "curve.up", cx)?, "curve.up")?,
            hold: cx.dur_or(c.hold.as_ref(), "curve.hold", Duration::ZERO)?,
            down: cx.dur_or(c.down.as_ref(), "curve.down", Duration::ZERO)?,
            baseline,
        }),
        "bass" => {
            let (b, unit) = bass(c, &span, baseline, cx)?;
            unit_secs = unit;
            Curve::Bass(b)
        }
        _ => {
            let (t, s) = trace_curve(c, &span, regions, cx)?;
            series = Some(s);
            Curve::Trace(t)
        }
    };
    Ok(Checked {
        curve,
        span,
        unit_secs,
        series,
    })
}

/// `kind = "bass"`: coefficients converted to per second; returns the unit in seconds too.
fn bass(
    c: &RawCurve,
    span: &Range<usize>,
    baseline: f64,
    cx: &Cx,
) -> Result<(Bass, f64), ProfileError> {
    let unit_secs = match &c.unit {
        Some(u) => cx.positive_dur(u, "curve.unit")?.as_secs_f64(),
        None => 3600.0,
    };
    let p_raw =
        c.p.as_ref()
            .ok_or_else(|| cx.err(span.clone(), "curve.p", "", "missing field"))?;
    let q_raw =
        c.q.as_ref()
            .ok_or_else(|| cx.err(span.clone(), "curve.q", "", "missing field"))?;
    let p = cx.float(p_raw, "curve.p", 0.0, 1e6)?;
    if p <= 0.0 {
        return Err(cx.err(p_raw.span(), "curve.p", p, "must be greater than zero"));
    }
    let q = cx.float(q_raw, "curve.q", 0.0, 1e6)?;
    let trigger_end = c
        .trigger_end
        .as_ref()
        .map(|t| cx.dur(t, "curve.trigger_end"))
        .transpose()?;
    let b = Bass {
        p: p / unit_secs,
        q: q / unit_secs,
        trigger_end,
        decay: cx.dur_or(c.decay.as_ref(), "curve.decay", Duration::from_secs(3600))?,
        returning: cx.float_or(c.returning.as_ref(), "curve.returning", 0.0, 1.0, 0.0)?,
        baseline,
    };
    Ok((b, unit_secs))
}

fn trace_curve(
    c: &RawCurve,
    span: &Range<usize>,
    regions: &Spanned<Vec<Spanned<RawRegion>>>,
    cx: &Cx,
) -> Result<(Trace, trace::Series), ProfileError> {
    let file_s = required(c.file.as_ref(), span, "curve.file", cx)?;
    let file = cx.path(file_s, "curve.file")?;
    let step = cx.positive_dur(
        required(c.step.as_ref(), span, "curve.step", cx)?,
        "curve.step",
    )?;
    let scale = c
        .scale
        .as_ref()
        .map_or(Ok(1.0), |s| cx.float(s, "curve.scale", 0.0, 1e9))?;
    let shift_secs = match &c.shift {
        Some(s) => duration::parse_signed(s.get_ref()).map_err(|r| {
            cx.err(
                s.span(),
                "curve.shift",
                format!("{:?}", s.get_ref()),
                r.to_string(),
            )
        })?,
        None => 0.0,
    };
    let interpolation = interpolation(c, span, cx)?;
    let series = trace::read(&file)
        .map_err(|r| cx.err(file_s.span(), "curve.file", file_s.get_ref(), r.to_string()))?;
    let values = region_columns(c, regions, &series, &file, scale, cx)?;
    let times = series
        .times
        .iter()
        .map(|t| t * step.as_secs_f64())
        .collect();
    Ok((
        Trace {
            file,
            step,
            shift_secs,
            scale,
            interpolation,
            times,
            values,
        },
        series,
    ))
}

fn interpolation(
    c: &RawCurve,
    span: &Range<usize>,
    cx: &Cx,
) -> Result<Interpolation, ProfileError> {
    match c
        .interpolation
        .as_ref()
        .map_or("linear", |s| s.get_ref().as_str())
    {
        "linear" => Ok(Interpolation::Linear),
        "step" => Ok(Interpolation::Step),
        other => {
            let s = c.interpolation.as_ref().map_or(span.clone(), Spanned::span);
            let rule = "expected \"linear\" or \"step\"";
            Err(cx.err(s, "curve.interpolation", format!("{other:?}"), rule))
        }
    }
}

/// Per region (profile order), its trace column times `scale`.
fn region_columns(
    c: &RawCurve,
    regions: &Spanned<Vec<Spanned<RawRegion>>>,
    series: &trace::Series,
    file: &std::path::Path,
    scale: f64,
    cx: &Cx,
) -> Result<Vec<Vec<f64>>, ProfileError> {
    let names: Vec<&String> = regions
        .get_ref()
        .iter()
        .map(|r| r.get_ref().name.get_ref())
        .collect();
    if let Some(map) = &c.columns
        && let Some((key, v)) = map.get_ref().iter().find(|(k, _)| !names.contains(k))
    {
        let rule = format!("`{key}` is not a region of this profile");
        return Err(cx.err(v.span(), &format!("curve.columns.{key}"), v.get_ref(), rule));
    }
    let mut values = Vec::new();
    for (i, r) in regions.get_ref().iter().enumerate() {
        let name = r.get_ref().name.get_ref();
        let (col, col_span) = match c.columns.as_ref().and_then(|m| m.get_ref().get(name)) {
            Some(s) => (s.get_ref().clone(), s.span()),
            None => (name.clone(), r.get_ref().name.span()),
        };
        let Some(k) = series.columns.iter().position(|x| *x == col) else {
            let (path, cols) = (file.display(), series.columns.join(", "));
            let rule = format!("no column `{col}` in trace {path} (columns: {cols})");
            return Err(cx.err(col_span, &format!("regions[{i}].name"), &col, rule));
        };
        values.push(series.values[k].iter().map(|v| v * scale).collect());
    }
    Ok(values)
}

/// Event- and region-dependent checks: shares, per-region Bass parameters, timing fits the event.
pub fn finish(
    c: &Checked,
    event: &Event,
    raw: &RawProfile,
    regions: &mut [Region],
    cx: &Cx,
) -> Result<(), ProfileError> {
    let rr = raw.regions.get_ref();
    let is_bass = matches!(c.curve, Curve::Bass(_));
    for (i, (region, r)) in regions.iter_mut().zip(rr).enumerate() {
        let r = r.get_ref();
        for (name, v) in [("p", &r.p), ("q", &r.q)] {
            if let Some(v) = v {
                if !is_bass {
                    return Err(cx.err(
                        v.span(),
                        &format!("regions[{i}].{name}"),
                        v.get_ref(),
                        "applies only to curve.kind = \"bass\"",
                    ));
                }
                let x = cx.float(v, &format!("regions[{i}].{name}"), 0.0, 1e6)? / c.unit_secs;
                if name == "p" {
                    region.p = Some(x)
                } else {
                    region.q = Some(x)
                }
            }
        }
        if r.diurnal.is_some() && event.onset.is_none() {
            let s = r.diurnal.as_ref().map_or(0..0, Spanned::span);
            return Err(cx.err(
                s,
                &format!("regions[{i}].diurnal"),
                "",
                "needs event.onset (the event's wall-clock start in UTC)",
            ));
        }
    }
    if let (Curve::Trace(t), Some(_)) = (&c.curve, &c.series) {
        trace_shares(t, raw, regions, cx)?;
    } else {
        check_shares(raw, regions, cx)?;
    }
    check_timing(c, event, cx)
}

fn trace_shares(
    t: &Trace,
    raw: &RawProfile,
    regions: &mut [Region],
    cx: &Cx,
) -> Result<(), ProfileError> {
    let e = raw_duration(raw);
    let totals: Vec<f64> = (0..t.values.len()).map(|r| t.integral(r, 0.0, e)).collect();
    let all: f64 = totals.iter().sum();
    if all <= 0.0 {
        let s = raw
            .curve
            .get_ref()
            .file
            .as_ref()
            .map_or(0..0, Spanned::span);
        return Err(cx.err(
            s,
            "curve.file",
            t.file.display(),
            "the trace has no arrivals in the profile's regions",
        ));
    }
    for (i, (region, r)) in regions.iter_mut().zip(raw.regions.get_ref()).enumerate() {
        if let Some(s) = &r.get_ref().share {
            return Err(cx.err(
                s.span(),
                &format!("regions[{i}].share"),
                s.get_ref(),
                "comes from the trace with curve.kind = \"trace\": remove it",
            ));
        }
        region.share = totals[i] / all;
    }
    Ok(())
}

fn raw_duration(raw: &RawProfile) -> f64 {
    duration::parse(raw.event.get_ref().duration.get_ref()).map_or(0.0, |d| d.as_secs_f64())
}

fn check_shares(raw: &RawProfile, regions: &[Region], cx: &Cx) -> Result<(), ProfileError> {
    let mut sum = 0.0;
    for (i, (region, r)) in regions.iter().zip(raw.regions.get_ref()).enumerate() {
        if region.share.is_nan() {
            return Err(cx.err(
                r.span(),
                &format!("regions[{i}].share"),
                "",
                "missing field",
            ));
        }
        sum += region.share;
    }
    if (sum - 1.0).abs() > 0.001 {
        let list: Vec<String> = regions.iter().map(|r| format!("{}", r.share)).collect();
        let first = raw
            .regions
            .get_ref()
            .first()
            .and_then(|r| r.get_ref().share.as_ref())
            .map_or(raw.regions.span(), Spanned::span);
        return Err(cx.err(
            first,
            "regions[*].share",
            list.join(" + "),
            format!("shares must sum to 1 (±0.001), got {sum:.4}"),
        ));
    }
    Ok(())
}

fn check_timing(c: &Checked, event: &Event, cx: &Cx) -> Result<(), ProfileError> {
    let d = event.duration;
    match &c.curve {
        Curve::Ramp(r) => {
            let total = r.start + r.up + r.hold + r.down;
            if total > d {
                return Err(cx.err(
                    c.span.clone(),
                    "curve",
                    duration::format(total),
                    format!(
                        "start + up + hold + down must fit in event.duration ({})",
                        duration::format(d)
                    ),
                ));
            }
            if (r.up + r.hold + r.down).is_zero() && r.baseline == 0.0 {
                return Err(cx.err(
                    c.span.clone(),
                    "curve",
                    "",
                    "the ramp has no arrivals: give up/hold/down or a baseline",
                ));
            }
        }
        Curve::Bass(b) => {
            if b.trigger_end.is_some_and(|t| t > d) {
                return Err(cx.err(
                    c.span.clone(),
                    "curve.trigger_end",
                    duration::format(b.trigger_end.unwrap_or_default()),
                    format!("must be within event.duration ({})", duration::format(d)),
                ));
            }
            if b.trigger_end.is_some() && b.decay.is_zero() && b.returning < 1.0 {
                return Err(cx.err(
                    c.span.clone(),
                    "curve.decay",
                    "0s",
                    "must be longer than zero",
                ));
            }
        }
        Curve::Trace(_) => {}
    }
    Ok(())
}

//! `[[figures]]`: the published figures of the real event, each with its source, that
//! `surge profile show` prints against the compiled curve.
//!
//! ```toml
//! [[figures]]
//! at = "2d"
//! window = "1d"             # only the people of the day before `at` (a daily figure)
//! people = 70_000
//! source = "..."
//!
//! [[figures]]
//! at = "2h"                 # event time
//! people = 2_000_000        # signed up by then (all regions, or `region`'s)
//! source = "Meta via The Verge, 2023-07-06"
//!
//! [[figures]]
//! at = "72h"
//! region = "asia"
//! share = 0.38              # or: the region's share of everyone signed up by then
//! source = "Durov, reported by Sputnik, 2021-01-12"
//! ```

use toml::Spanned;

use crate::error::ProfileError;
use crate::model::{Event, Figure, Region};
use crate::raw::RawFigure;
use crate::validate::{Cx, MAX_POPULATION, MAX_TEXT};

/// Most figures a profile may carry.
pub const MAX_FIGURES: usize = 256;

/// Validates the figures against the event (time within it) and the regions (names known).
pub(crate) fn figures(
    raw: Option<&[Spanned<RawFigure>]>,
    event: &Event,
    regions: &[Region],
    cx: &Cx,
) -> Result<Vec<Figure>, ProfileError> {
    let raw = raw.unwrap_or(&[]);
    if raw.len() > MAX_FIGURES {
        return Err(cx.err(
            raw[MAX_FIGURES].span(),
            "figures",
            raw.len(),
            format!("at most {MAX_FIGURES} figures"),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, f)| figure(i, f, event, regions, cx))
        .collect()
}

fn figure(
    i: usize,
    raw: &Spanned<RawFigure>,
    event: &Event,
    regions: &[Region],
    cx: &Cx,
) -> Result<Figure, ProfileError> {
    let f = raw.get_ref();
    let field = |k: &str| format!("figures[{i}].{k}");
    let at = cx.positive_dur(&f.at, &field("at"))?;
    if at > event.duration {
        return Err(cx.err(
            f.at.span(),
            &field("at"),
            format!("{:?}", f.at.get_ref()),
            format!(
                "must be within the event ({})",
                crate::duration::format(event.duration)
            ),
        ));
    }
    let region = match &f.region {
        Some(r) => Some(
            regions
                .iter()
                .position(|x| &x.name == r.get_ref())
                .ok_or_else(|| {
                    cx.err(
                        r.span(),
                        &field("region"),
                        r.get_ref(),
                        "no region of that name",
                    )
                })?,
        ),
        None => None,
    };
    let (people, share) = match (&f.people, &f.share) {
        (Some(p), None) => (
            Some(cx.int(p, &field("people"), 1, MAX_POPULATION as i64)?),
            None,
        ),
        (None, Some(s)) => {
            if region.is_none() {
                return Err(cx.err(
                    s.span(),
                    &field("share"),
                    s.get_ref(),
                    "a share needs a `region`",
                ));
            }
            (None, Some(cx.float(s, &field("share"), 0.0, 1.0)?))
        }
        _ => {
            return Err(cx.err(
                raw.span(),
                &field("people"),
                "",
                "give exactly one of `people` and `share`",
            ));
        }
    };
    let window = match &f.window {
        Some(w) => {
            let d = cx.positive_dur(w, &field("window"))?;
            if d > at {
                return Err(cx.err(
                    w.span(),
                    &field("window"),
                    format!("{:?}", w.get_ref()),
                    "must not be longer than `at` (the window ends at `at`)",
                ));
            }
            Some(d)
        }
        None => None,
    };
    let source = cx.text_field(&f.source, &field("source"), MAX_TEXT)?;
    Ok(Figure {
        at,
        region,
        people,
        share,
        window,
        source,
    })
}

//! surge-profile: the surge profile as written — schema, TOML loading with spans, validation.
//!
//! A profile describes a real migration surge (who arrives, from where, on what curve, with what
//! address books, running which journey) in a TOML file. [`load`] / [`parse`] read it into raw serde
//! types (`deny_unknown_fields`, typed durations such as `"30s"`, `"10m"`, `"1.5h"`) and validate it
//! into a [`Profile`]. Every problem is a [`ProfileError`] naming file, line, column, field path,
//! value and the rule broken; no input makes this crate panic.
//!
//! The field reference lives in `profiles/README.md`.
//!
//! ```
//! let text = r#"
//! name = "tiny"
//! [event]
//! population = 1000
//! duration = "30s"
//! [[regions]]
//! name = "americas"
//! share = 1.0
//! [curve]
//! kind = "ramp"
//! up = "10s"
//! hold = "10s"
//! down = "10s"
//! "#;
//! let profile = surge_profile::parse(text, "tiny.toml").unwrap();
//! assert_eq!(profile.event.population, 1000);
//!
//! let bad = text.replace("share = 1.0", "share = 0.5");
//! let err = surge_profile::parse(&bad, "tiny.toml").unwrap_err();
//! assert_eq!(err.line(), Some(8));
//! assert!(err.to_string().contains("shares must sum to 1"));
//! ```
#![warn(missing_docs)]

pub mod curve;
pub mod duration;
pub mod error;
pub mod figures;
pub mod journey;
pub mod locate;
pub mod model;
pub mod raw;
mod sections;
pub mod slo;
pub mod trace;
pub mod validate;

use std::path::Path;

pub use error::{Location, ProfileError};
pub use model::{
    AddressBook, Bass, Client, Curve, Diurnal, Event, Figure, Interpolation, Load, Onset, Profile,
    Ramp, Region, Retry, Trace,
};
pub use slo::{SloOp, SloSpec, SloStat};

/// Reads, parses and validates a profile file. Relative paths inside it resolve against its folder.
pub fn load(path: &Path) -> Result<Profile, ProfileError> {
    let label = path.display().to_string();
    let unreadable = |rule: String| ProfileError {
        location: None,
        field: String::new(),
        value: label.clone(),
        rule,
    };
    let meta =
        std::fs::metadata(path).map_err(|e| unreadable(format!("cannot read profile: {e}")))?;
    if meta.len() > locate::MAX_PROFILE_BYTES as u64 {
        return Err(unreadable(format!(
            "profile is larger than {} bytes",
            locate::MAX_PROFILE_BYTES
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(format!("cannot read profile: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let off = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        ProfileError::at(
            &label,
            &text,
            off..off,
            "",
            "",
            "profile is not valid utf-8",
        )
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    parse_in(&text, &label, base)
}

/// Parses and validates profile text; `origin` labels errors, and relative paths resolve against
/// its folder (`Path::new(origin).parent()`).
pub fn parse(text: &str, origin: &str) -> Result<Profile, ProfileError> {
    let base = Path::new(origin).parent().unwrap_or(Path::new(""));
    parse_in(text, origin, base)
}

/// Like [`parse`], with an explicit folder for relative paths.
pub fn parse_in(text: &str, origin: &str, base_dir: &Path) -> Result<Profile, ProfileError> {
    if text.len() > locate::MAX_PROFILE_BYTES {
        return Err(ProfileError::at(
            origin,
            "",
            0..0,
            "",
            format!("{} bytes", text.len()),
            format!("profile is larger than {} bytes", locate::MAX_PROFILE_BYTES),
        ));
    }
    let raw: raw::RawProfile =
        toml::from_str(text).map_err(|e| locate::toml_error(origin, text, &e))?;
    let cx = validate::Cx {
        file: origin,
        text,
        base_dir,
    };
    validate::profile(raw, &cx)
}

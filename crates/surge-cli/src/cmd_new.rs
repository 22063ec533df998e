//! `surge new [--from reference|matrix|get] FILE.toml`: writes a profile whose journey is spelled out
//! and commented field by field, ready to adapt to the user's own API (k6's `k6 new`).
//!
//! The templates are files (`crates/surge-cli/templates/*.toml`) compiled in. `__NAME__` becomes a
//! profile name made from the file's stem, `__FILE__` the path as typed. The result is validated
//! (parsed and compiled, as `surge profile show` does) before it is written, and an existing file is
//! never overwritten.

use crate::args::{NewArgs, Template};
use anyhow::Context as _;
use std::io::Write as _;
use std::path::Path;

/// The template's text, as compiled in.
pub(crate) fn template_text(t: Template) -> &'static str {
    match t {
        Template::Reference => include_str!("../templates/reference.toml"),
        Template::Matrix => include_str!("../templates/matrix.toml"),
        Template::Get => include_str!("../templates/get.toml"),
    }
}

/// The profile `surge new` writes for `file` from template `t`.
pub(crate) fn render(t: Template, file: &Path) -> String {
    let shown: String = file
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    template_text(t)
        .replace("__NAME__", &profile_name(file))
        .replace("__FILE__", &shown)
}

/// A valid profile name (`[A-Za-z0-9._-]`, 1..=64) from the file's stem: other characters become
/// `-`; an empty stem gives `my-api`.
pub(crate) fn profile_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "my-api".to_string()
    } else {
        name
    }
}

pub fn new(a: &NewArgs) -> anyhow::Result<i32> {
    let text = render(a.from, &a.file);
    // The template must load exactly as `surge profile show` will load the file.
    let profile = surge_profile::parse(&text, &a.file.display().to_string())
        .with_context(|| format!("the {} template does not validate", a.from.name()))?;
    surge_plan::Plan::compile(&profile, &surge_plan::Overrides::default())
        .map_err(|e| anyhow::anyhow!("the {} template does not compile: {e}", a.from.name()))?;
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&a.file)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "surge: refusing to overwrite {}: the file exists (pick another name or remove it)",
                a.file.display()
            );
            return Ok(crate::EXIT_ERROR);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", a.file.display())),
    };
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", a.file.display()))?;
    let p = a.file.display();
    println!(
        "wrote {p} (the {} journey, every field commented; edit the lines marked `<- YOUR`)\nnext:\n  surge profile show {p}\n  surge run {p}{}",
        a.from.name(),
        match a.from {
            Template::Reference => "                  # against the embedded reference backend",
            Template::Matrix | Template::Get => " --target URL",
        }
    );
    Ok(crate::EXIT_OK)
}

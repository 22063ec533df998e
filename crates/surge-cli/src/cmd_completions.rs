//! `surge completions SHELL` and `surge man`: generated from the same clap definitions as the parser
//! (clap_complete, clap_mangen), as ripgrep ships them.

use crate::args::{Cli, CompletionsArgs, EXIT_CODES, ManArgs};
use crate::output;
use anyhow::Context as _;
use clap::CommandFactory as _;
use std::path::Path;

pub fn completions(a: &CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "surge", &mut script);
    output::stdout(&script)?;
    Ok(crate::EXIT_OK)
}

pub fn man(a: &ManArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    match &a.out {
        None => output::stdout(&main_page(&cmd)?)?,
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let main = dir.join("surge.1");
            std::fs::write(&main, main_page(&cmd)?)
                .with_context(|| format!("cannot write {}", main.display()))?;
            let mut written = vec![main];
            for sub in cmd.get_subcommands() {
                command_pages(sub, dir, &mut written)?;
            }
            for p in &written {
                println!("{}", p.display());
            }
        }
    }
    Ok(crate::EXIT_OK)
}

/// The DESCRIPTION of surge.1.
const DESCRIPTION: &str = "surge rehearses a user-migration surge against a messaging backend: simulated people arrive per region on curves shaped like real events, each runs a signup journey (code request, verification, registration) and a contact-discovery upload, and every step's latency is recorded from its intended start (coordinated-omission free) per region and step. Start with `surge run profiles/quickstart.toml` (against the embedded reference backend), or `surge new my-api.toml` for a profile to adapt to your own API. Each command has its own page: surge-run(1), ...";

/// surge.1: name, synopsis, description, commands, exit status, see also, version.
fn main_page(cmd: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone().long_about(DESCRIPTION));
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    page.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for line in EXIT_CODES.lines().skip(1) {
        page.extend_from_slice(b".br\n");
        page.extend_from_slice(roff_text(line).as_bytes());
        page.push(b'\n');
    }
    page.extend_from_slice(b".SH \"SEE ALSO\"\n");
    let see: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("\\fBsurge\\-{}\\fR(1)", roff_text(s.get_name())))
        .collect();
    page.extend_from_slice(see.join(", ").as_bytes());
    page.push(b'\n');
    man.render_version_section(&mut page)?;
    Ok(one_preamble(&page))
}

/// Each `render_*` call of clap_mangen starts with the same two-line preamble (the `Aq` string);
/// a page needs it once.
fn one_preamble(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let preamble = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    match text.split_once(preamble) {
        Some((before, after)) => format!("{before}{preamble}{}", after.replace(preamble, "")),
        None => text.into_owned(),
    }
    .into_bytes()
}

/// One page per command and subcommand (surge-run.1, surge-profile-show.1, ...).
fn command_pages(
    cmd: &clap::Command,
    dir: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> anyhow::Result<()> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    for sub in cmd.get_subcommands() {
        command_pages(sub, dir, written)?;
    }
    let path = clap_mangen::Man::new(cmd.clone())
        .generate_to(dir)
        .with_context(|| format!("cannot write a man page into {}", dir.display()))?;
    written.push(path);
    Ok(())
}

/// Text safe on a roff line: backslashes and hyphens escaped, no leading `.` or `'`.
fn roff_text(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

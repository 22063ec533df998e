//! The CLI's conventions, with the real binary: shell completions and the man page generated from the
//! clap definitions, `--json` and `--quiet` for scripts (against the embedded reference backend),
//! exit codes 0 / 1 / 2, and `--help` documenting them.

mod common;

use clap::CommandFactory as _;
use common::{read_json, serial};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn surge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// The visible commands of the clap definitions.
fn commands() -> Vec<String> {
    surge_cli::args::Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn bash_completion_parses_names_every_command_and_completes() {
    let out = surge(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    let names = commands();
    assert!(names.len() >= 11, "{names:?}");
    for name in &names {
        assert!(
            script.contains(name.as_str()),
            "no `{name}` in the bash script"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("surge.bash");
    std::fs::write(&file, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    // Load it and ask for completions as bash would on `surge co<TAB>` and `surge run --js<TAB>`.
    let ask = |words: &str, cword: usize| {
        let prog = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _surge surge \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = Command::new("bash").arg("-c").arg(prog).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let co = ask("surge co", 1);
    assert!(
        co.lines().any(|l| l == "coordinator") && co.lines().any(|l| l == "compare"),
        "{co}"
    );
    assert!(!co.lines().any(|l| l == "run"), "{co}");
    let json = ask("surge run --js", 2);
    assert_eq!(json.trim(), "--json");
}

#[test]
fn zsh_fish_elvish_powershell_scripts_name_the_commands() {
    for (shell, marker) in [
        ("zsh", "#compdef surge"),
        ("fish", "complete -c surge"),
        ("elvish", "edit:completion:arg-completer[surge]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = surge(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for name in ["run", "new", "completions", "man", "profile", "worker"] {
            assert!(script.contains(name), "{shell}: no `{name}`");
        }
    }
    let bad = surge(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_page_renders_with_every_command_and_the_exit_codes() {
    let out = surge(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let roff = text(&out.stdout);
    assert!(
        roff.starts_with(".ie \\n(.g .ds Aq") || roff.contains(".TH surge 1"),
        "{roff}"
    );
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(roff.contains(section), "no {section}");
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("surge.1");
    std::fs::write(&page, &roff).unwrap();
    if Path::new("/usr/bin/man").exists() {
        let shown = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        assert!(shown.status.success(), "{}", text(&shown.stderr));
        let shown = text(&shown.stdout);
        for want in [
            "EXIT STATUS",
            "an SLO failed",
            "surge-run(1)",
            "coordinator",
        ] {
            assert!(shown.contains(want), "no `{want}` in:\n{shown}");
        }
    }
    // One page per command.
    let pages = dir.path().join("pages");
    let out = surge(&["man", "--out", &pages.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for name in commands() {
        let p = pages.join(format!("surge-{name}.1"));
        let roff = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(roff.contains(".SH SYNOPSIS"), "{}", p.display());
    }
    let run = std::fs::read_to_string(pages.join("surge-run.1")).unwrap();
    assert!(run.contains("\\-\\-json") && run.contains("\\-\\-quiet"));
    assert!(pages.join("surge-profile-show.1").exists());
}

#[test]
fn help_documents_exit_codes_and_the_script_flags() {
    let top = text(&surge(&["--help"]).stdout);
    assert!(
        top.contains("Exit codes:") && top.contains("1  an SLO failed"),
        "{top}"
    );
    let run = text(&surge(&["run", "--help"]).stdout);
    for want in ["--json", "--quiet", "Exit codes: 0 every SLO held"] {
        assert!(run.contains(want), "no `{want}` in run --help");
    }
    let report = text(&surge(&["report", "--help"]).stdout);
    assert!(report.contains("--json") && report.contains("--quiet"));
}

/// A quickstart-shaped profile in `dir` (the embedded backend, no plan file), with these SLOs.
fn profile_with_slos(dir: &Path, name: &str, slos: &str) -> String {
    let file = dir.join(format!("{name}.toml"));
    let made = surge(&["new", &file.display().to_string()]);
    assert_eq!(made.status.code(), Some(0), "{}", text(&made.stderr));
    let t = std::fs::read_to_string(&file).unwrap();
    let line = t.lines().find(|l| l.starts_with("slos = ")).unwrap();
    std::fs::write(&file, t.replace(line, &format!("slos = {slos}"))).unwrap();
    file.display().to_string()
}

fn short_run(profile: &str, out: &Path, flags: &[&str]) -> Output {
    let mut args = vec![
        "run",
        profile,
        "--duration",
        "3s",
        "--scale",
        "0.05",
        "--workers",
        "1",
        "--no-report",
        "--drain",
        "3s",
        "--out",
    ];
    let out = out.display().to_string();
    args.push(&out);
    args.extend_from_slice(flags);
    surge(&args)
}

#[test]
fn json_prints_summary_json_and_nothing_else_quiet_prints_nothing_exit_codes_hold() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let passing = profile_with_slos(dir.path(), "passing", r#"["error rate < 50%"]"#);

    // --json: stdout is summary.json, byte for byte; exit 0.
    let a = dir.path().join("a");
    let out = short_run(&passing, &a, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let parsed: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(parsed, read_json(&a.join("summary.json")));
    assert_eq!(
        stdout,
        std::fs::read_to_string(a.join("summary.json")).unwrap()
    );
    assert_eq!(parsed["all_slos_pass"], true);
    assert!(parsed["journeys"]["americas"]["started"].as_u64().unwrap() > 0);

    // `surge report --json` prints the same; `--quiet` nothing.
    let report = surge(&["report", &a.display().to_string(), "--json"]);
    assert_eq!(report.status.code(), Some(0));
    assert_eq!(text(&report.stdout), stdout);
    let report = surge(&["report", &a.display().to_string(), "--quiet"]);
    assert_eq!(report.status.code(), Some(0));
    assert!(report.stdout.is_empty(), "{}", text(&report.stdout));

    // --quiet: nothing on stdout, nothing on stderr for a clean run; exit 0.
    let b = dir.path().join("b");
    let out = short_run(&passing, &b, &["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(b.join("summary.json").exists());

    // A failed SLO: exit 1 with --json (the summary still printed) and with --quiet.
    let failing = profile_with_slos(dir.path(), "failing", r#"["p99 of register < 1us"]"#);
    let c = dir.path().join("c");
    let out = short_run(&failing, &c, &["--json", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed, read_json(&c.join("summary.json")));
    assert_eq!(parsed["all_slos_pass"], false);
    let out = short_run(&failing, &dir.path().join("d"), &["--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));

    // Bad input: exit 2, nothing on stdout, the error names the path.
    let missing = dir.path().join("missing.toml").display().to_string();
    for flag in ["--json", "--quiet"] {
        let out = surge(&["run", &missing, flag]);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert!(
            text(&out.stderr).contains(&missing),
            "{}",
            text(&out.stderr)
        );
    }
    let out = surge(&["run", &passing, "--json", "--repeat", "2"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--json with --repeat is refused"
    );
    assert!(out.stdout.is_empty());
}

/// `surge coordinator --json` with one real worker process: stdout is summary.json and nothing else.
#[test]
fn coordinator_json_prints_summary_json_and_nothing_else() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_with_slos(dir.path(), "coord", r#"["error rate < 50%"]"#);
    let out_dir = dir.path().join("coord-run");
    let (stdout_file, stderr_file) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut coord = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "coordinator",
            &profile,
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--token",
            "s3cret",
            "--duration",
            "3s",
            "--scale",
            "0.05",
            "--drain",
            "3s",
            "--no-report",
            "--json",
            "--out",
            &out_dir.display().to_string(),
        ])
        .stdout(std::fs::File::create(&stdout_file).unwrap())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .unwrap();
    // The listening URL is a note on stderr (bounded wait: 300 x 100 ms).
    let mut url = None;
    for _ in 0..300 {
        let err = std::fs::read_to_string(&stderr_file).unwrap_or_default();
        if let Some(rest) = err.split("listening on ").nth(1) {
            url = rest.split_whitespace().next().map(str::to_string);
            break;
        }
        assert!(
            coord.try_wait().unwrap().is_none(),
            "coordinator exited: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let url = url.expect("the coordinator's URL on stderr");
    let worker = surge(&[
        "worker",
        "--join",
        &url,
        "--token",
        "s3cret",
        "--threads",
        "1",
    ]);
    let status = coord.wait().unwrap();
    let err = std::fs::read_to_string(&stderr_file).unwrap();
    assert_eq!(worker.status.code(), Some(0), "{}", text(&worker.stderr));
    assert_eq!(status.code(), Some(0), "{err}");
    let stdout = std::fs::read_to_string(&stdout_file).unwrap();
    assert_eq!(
        stdout,
        std::fs::read_to_string(out_dir.join("summary.json")).unwrap()
    );
    let parsed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(parsed["all_slos_pass"], true);
    assert!(err.contains("worker 1/1 joined"), "{err}");
}

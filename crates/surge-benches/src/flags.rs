//! The bench tools' command lines: `--name value` pairs and bare `--switch`es, read once, with a
//! usage line printed on bad input (exit code 2) so that a benchmark script stops with the reason.

/// One tool's flags.
#[derive(Debug)]
pub struct Flags {
    tool: &'static str,
    usage: &'static str,
    args: Vec<String>,
}

impl Flags {
    /// The process's arguments, for `tool` (named in messages) with its `usage` line.
    pub fn from_env(tool: &'static str, usage: &'static str) -> Flags {
        Flags::new(tool, usage, std::env::args().skip(1).collect())
    }

    /// `args` (without the program name), for `tool` with its `usage` line.
    pub fn new(tool: &'static str, usage: &'static str, args: Vec<String>) -> Flags {
        Flags { tool, usage, args }
    }

    /// The value after `name`, if given.
    pub fn value(&self, name: &str) -> Option<String> {
        self.args
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.args.get(i + 1))
            .cloned()
    }

    /// Whether the bare switch `name` is given.
    pub fn has(&self, name: &str) -> bool {
        self.args.iter().any(|a| a == name)
    }

    /// The number after `name` (or `default`), which must be finite and above 0 (`zero_ok`: at least 0).
    pub fn number(&self, name: &str, default: f64, zero_ok: bool) -> f64 {
        match self.value(name).map(|v| v.parse::<f64>()) {
            None => default,
            Some(Ok(v)) if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) => v,
            Some(_) => self.fail(&format!(
                "{name} needs a {} number",
                if zero_ok { "non-negative" } else { "positive" }
            )),
        }
    }

    /// Prints `msg` and the usage line, and ends the process with exit code 2.
    pub fn fail(&self, msg: &str) -> ! {
        eprintln!("{}: {msg}\nusage: {}", self.tool, self.usage);
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_switches_and_numbers_are_read() {
        let f = Flags::new(
            "t",
            "t --rate N",
            ["--rate", "2000", "--bare", "--zero", "0"]
                .map(String::from)
                .to_vec(),
        );
        assert_eq!(f.value("--rate").as_deref(), Some("2000"));
        assert!(f.has("--bare") && !f.has("--other"));
        assert_eq!(f.number("--rate", 1.0, false), 2000.0);
        assert_eq!(f.number("--missing", 7.0, false), 7.0);
        assert_eq!(f.number("--zero", 1.0, true), 0.0);
    }
}

//! `[[figures]]` and `[[regions]] targets`: accepted when sound, refused with line and field otherwise.

use std::time::Duration;

const BASE: &str = r#"name = "t"
[event]
population = 1000
duration = "10h"
[[regions]]
name = "a"
share = 0.5
[[regions]]
name = "b"
share = 0.5
[curve]
kind = "ramp"
up = "5h"
"#;

fn parse(extra: &str) -> Result<surge_profile::Profile, String> {
    surge_profile::parse(&format!("{BASE}{extra}"), "t.toml").map_err(|e| e.to_string())
}

fn refused(extra: &str, line: usize, field: &str, words: &str) {
    let e = parse(extra).expect_err("accepted");
    assert!(e.contains(&format!("t.toml:{line}:")), "{e}");
    assert!(e.contains(field), "{e}");
    assert!(e.contains(words), "{e}");
}

#[test]
fn figures_are_validated_against_the_event_and_regions() {
    let p = parse(
        "[[figures]]\nat = \"2h\"\npeople = 100\nsource = \"s\"\n\
         [[figures]]\nat = \"10h\"\nregion = \"b\"\nshare = 0.5\nsource = \"s2\"\n\
         [[figures]]\nat = \"4h\"\nwindow = \"1h\"\npeople = 10\nsource = \"s3\"\n",
    )
    .unwrap();
    assert_eq!(p.figures.len(), 3);
    assert_eq!(p.figures[0].at, Duration::from_secs(7200));
    assert_eq!(p.figures[0].people, Some(100));
    assert_eq!(p.figures[1].region, Some(1));
    assert_eq!(p.figures[1].share, Some(0.5));
    assert_eq!(p.figures[2].window, Some(Duration::from_secs(3600)));

    refused(
        "[[figures]]\nat = \"11h\"\npeople = 1\nsource = \"s\"\n",
        15,
        "figures[0].at",
        "within the event",
    );
    refused(
        "[[figures]]\nat = \"1h\"\nregion = \"zz\"\npeople = 1\nsource = \"s\"\n",
        16,
        "figures[0].region",
        "no region",
    );
    refused(
        "[[figures]]\nat = \"1h\"\nshare = 0.3\nsource = \"s\"\n",
        16,
        "figures[0].share",
        "needs a `region`",
    );
    refused(
        "[[figures]]\nat = \"1h\"\nsource = \"s\"\n",
        14,
        "figures[0].people",
        "exactly one of",
    );
    refused(
        "[[figures]]\nat = \"1h\"\nregion = \"a\"\nshare = 1.5\nsource = \"s\"\n",
        17,
        "figures[0].share",
        "between 0 and 1",
    );
    refused(
        "[[figures]]\nat = \"1h\"\nwindow = \"2h\"\npeople = 1\nsource = \"s\"\n",
        16,
        "figures[0].window",
        "not be longer",
    );
    refused(
        "[[figures]]\nat = \"1h\"\npeople = 1\n",
        14,
        "source",
        "missing field",
    );
}

#[test]
fn several_targets_per_region_are_validated() {
    let text = BASE.replacen(
        "share = 0.5\n",
        "share = 0.5\ntargets = [\"http://127.0.0.1:1/\", \"http://127.0.0.1:2\"]\n",
        1,
    );
    let p = surge_profile::parse(&text, "t.toml").unwrap();
    assert_eq!(
        p.regions[0].targets,
        ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    );
    assert!(p.regions[1].targets.is_empty());

    let bad = |list: &str, field: &str, words: &str| {
        let text = BASE.replacen("share = 0.5\n", &format!("share = 0.5\n{list}\n"), 1);
        let e = surge_profile::parse(&text, "t.toml")
            .map(|_| ())
            .expect_err(list)
            .to_string();
        assert!(e.contains("t.toml:8:"), "{e}");
        assert!(e.contains(field), "{e}");
        assert!(e.contains(words), "{e}");
    };
    bad("targets = []", "regions[0].targets", "between 1 and");
    bad(
        "targets = [\"http://x\", \"http://x/\"]",
        "regions[0].targets[1]",
        "listed twice",
    );
    bad(
        "targets = [\"ftp://x\"]",
        "regions[0].targets[0]",
        "http:// or https://",
    );
    let both = BASE.replacen(
        "share = 0.5\n",
        "share = 0.5\nbase_url = \"http://y\"\ntargets = [\"http://x\"]\n",
        1,
    );
    let e = surge_profile::parse(&both, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.toml:8:") && e.contains("not both"), "{e}");
}

//! The README's commands exist as written: every `make` target it names is in the Makefile,
//! and every flag it gives `k8sensus` is one the binary accepts.

use std::collections::BTreeSet;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_k8sensus");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{REPO}/{file}")).unwrap()
}

/// `make X` anywhere in the README names a target the Makefile defines.
#[test]
fn every_make_target_in_the_readme_exists() {
    let readme = read("README.md");
    let makefile = read("Makefile");
    let targets: BTreeSet<&str> = makefile
        .lines()
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    let words: Vec<&str> = readme
        .split(|c: char| c.is_whitespace() || "`(),".contains(c))
        .collect();
    let mut named = BTreeSet::new();
    for pair in words.windows(2) {
        if pair[0] == "make" {
            let target = pair[1].trim_end_matches(['.', ':', ';']);
            if !target.is_empty() && target.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                named.insert(target.to_string());
            }
        }
    }
    assert!(
        named.contains("demo") && named.contains("test"),
        "the README names make demo and make test: {named:?}"
    );
    for target in &named {
        assert!(
            targets.contains(target.as_str()),
            "README names `make {target}`, which the Makefile lacks"
        );
    }
}

/// The flags a README line gives `k8sensus`: a row of the flags table gives its flag; a
/// command line gives what follows the program (`.../k8sensus`, `k8sensus`, or cargo's `--`),
/// up to a comment.
fn flags_in(line: &str) -> Vec<String> {
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || "`[]|".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let args: &[&str] = if line.starts_with("| `--") {
        &words[..1]
    } else if line.starts_with('|') || line.starts_with('#') {
        &[]
    } else if let Some(at) = words
        .iter()
        .position(|w| w.ends_with("/k8sensus") || *w == "k8sensus" || *w == "--")
    {
        let rest = &words[at + 1..];
        let end = rest
            .iter()
            .position(|w| w.starts_with('#'))
            .unwrap_or(rest.len());
        &rest[..end]
    } else {
        &[]
    };
    args.iter()
        .map(|w| {
            w.chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect::<String>()
        })
        .filter(|f| f.starts_with("--") && f.len() > 2)
        .collect()
}

/// Flags on `k8sensus` command lines in the README, and in its flags table, are accepted by
/// the binary (`--help` of the command or of `status`).
#[test]
fn every_k8sensus_flag_in_the_readme_exists() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let known = help(&["--help"]) + &help(&["status", "--help"]);
    let readme = read("README.md");
    let mut checked = 0;
    for line in readme.lines() {
        for flag in flags_in(line) {
            assert!(
                known.contains(&flag),
                "README uses {flag} in {line:?}, which k8sensus does not accept"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "expected to check the flags table and examples, checked {checked}"
    );
    // The extraction itself: cargo's own flags are not mistaken for ours.
    assert_eq!(
        flags_in("cargo run --release -- status --lease-name x --watch # a comment --no"),
        ["--lease-name", "--watch"]
    );
}

/// Every file or folder of the repository that the README names by path (`hack/…`, `src/…`,
/// `tests/…`, `bench/…`, `chaos/…`, `examples/…`) exists, so that the commands a reader pastes
/// (`python3 hack/control-plane/controlplane.py env …`) find what they name.
#[test]
fn every_repository_path_in_the_readme_exists() {
    let readme = read("README.md");
    let mut checked = 0;
    for word in readme.split(|c: char| c.is_whitespace() || "`()[]\"',;".contains(c)) {
        let path = word.trim_end_matches(['.', ':']);
        let top = path.split('/').next().unwrap_or_default();
        if !path.contains('/')
            || !["hack", "src", "tests", "bench", "chaos", "examples"].contains(&top)
        {
            continue;
        }
        assert!(
            std::path::Path::new(REPO).join(path).exists(),
            "README names {path}, which the repository lacks"
        );
        checked += 1;
    }
    assert!(
        checked >= 10,
        "expected to check the README's paths, checked {checked}"
    );
}

/// The Makefile has no phantom targets: every name in a `.PHONY` line has a rule, and every
/// rule has a `## [group] ...` help text, so `make help` lists it under its group.
#[test]
fn every_make_target_has_a_rule_and_a_help_line() {
    let makefile = read("Makefile");
    let mut rules = BTreeSet::new();
    let mut phony = BTreeSet::new();
    for line in makefile.lines() {
        if let Some(names) = line.strip_prefix(".PHONY:") {
            phony.extend(names.split_whitespace().map(str::to_string));
        } else if let Some((target, rest)) = line.split_once(':')
            && !target.is_empty()
            && target.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            && !rest.starts_with('=')
        {
            rules.insert(target.to_string());
            let help = rest.split_once("## ").map(|(_, h)| h).unwrap_or("");
            assert!(
                help.starts_with('[') && help.contains("] "),
                "target {target} has no `## [group] text` help: {line:?}"
            );
        }
    }
    for name in &phony {
        assert!(
            rules.contains(name),
            ".PHONY names {name}, which has no rule"
        );
    }
    assert!(
        rules.contains("help") && rules.contains("test"),
        "{rules:?}"
    );
}

//! Where figures come from: the git commit and the state of the working tree, a hash of what
//! the binary is built from (so that a binary built while others commit is still
//! identified), the sha256 of a file, and the machine. The chaos suite and the benchmark both
//! record these; each keeps them in its own results file.

use std::path::Path;

use serde::Serialize;

use super::REPO;

/// What `cargo build --release --bin k8sensus` compiles: a change to any of these changes the
/// binary; a change elsewhere (tests, documents) does not.
pub const BUILD_INPUTS: [&str; 4] = ["Cargo.toml", "Cargo.lock", "build.rs", "src/"];

/// The source tree at one moment, with the keys the benchmark's results file gives it.
#[derive(Clone, Debug, Serialize)]
pub struct SourceSnapshot {
    pub commit: String,
    pub commit_short: String,
    pub commit_subject: String,
    /// What `git status` lists as changed, outside bench/ and BENCHMARKS.md (which a
    /// benchmark run itself rewrites).
    pub dirty_paths: Vec<String>,
    pub dirty: bool,
    /// A sha256 over the path and content of every build input ([`BUILD_INPUTS`]).
    pub build_inputs_sha256: String,
    /// The dirty paths that are build inputs.
    pub build_inputs_dirty: Vec<String>,
}

impl SourceSnapshot {
    /// The tree as it is now.
    pub fn now() -> Self {
        let git = |args: &[&str]| command_output("git", args).unwrap_or_default();
        let status = git(&[
            "status",
            "--porcelain",
            "--",
            ".",
            ":!bench",
            ":!BENCHMARKS.md",
        ]);
        let dirty_paths: Vec<String> = status
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.get(3..).unwrap_or(l).to_string())
            .collect();
        let build_inputs_dirty = dirty_paths
            .iter()
            .filter(|p| p.starts_with("src/") || BUILD_INPUTS.contains(&p.as_str()))
            .cloned()
            .collect();
        SourceSnapshot {
            commit: git(&["rev-parse", "HEAD"]),
            commit_short: git(&["rev-parse", "--short", "HEAD"]),
            commit_subject: git(&["log", "-1", "--format=%s"]),
            dirty: !dirty_paths.is_empty(),
            dirty_paths,
            build_inputs_sha256: build_inputs_sha256(Path::new(REPO)),
            build_inputs_dirty,
        }
    }
}

/// sha256 over each build input under `root` (its path relative to `root`, a NUL, its bytes,
/// a NUL; the files of src/ in sorted order): the same hash for the same inputs, whatever
/// commit they are in.
pub fn build_inputs_sha256(root: &Path) -> String {
    let mut files = vec![
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("build.rs"),
    ];
    let mut src = Vec::new();
    walk(&root.join("src"), &mut src);
    src.sort();
    files.extend(src);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for f in files.iter().filter(|f| f.is_file()) {
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        let rel = f.strip_prefix(root).unwrap_or(f);
        ctx.update(rel.to_string_lossy().as_bytes());
        ctx.update(b"\0");
        ctx.update(&bytes);
        ctx.update(b"\0");
    }
    hex(ctx.finish().as_ref())
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// The sha256 of a file's bytes, in hex; `None` if it cannot be read.
pub fn sha256_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(hex(
        ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The machine the figures were taken on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    /// MemTotal in GiB, unrounded (each results file rounds it its own way).
    pub memory_gib: Option<f64>,
    /// `go env GOVERSION` with the local toolchain.
    pub go: Option<String>,
    /// `rustc --version`.
    pub rustc: Option<String>,
}

impl Machine {
    pub fn now() -> Self {
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_default();
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kib| kib / 1024.0 / 1024.0);
        let go = std::process::Command::new("go")
            .args(["env", "GOVERSION"])
            .env("GOTOOLCHAIN", "local")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty());
        Machine {
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpu_model,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib,
            go,
            rustc: command_output("rustc", &["--version"]),
        }
    }
}

/// /proc/loadavg's three load averages.
pub fn load_average() -> [f64; 3] {
    let text = read("/proc/loadavg");
    let mut it = text.split_whitespace().map(|x| x.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// A program's stdout, trimmed, run in the repository; `None` if it fails.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(REPO)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

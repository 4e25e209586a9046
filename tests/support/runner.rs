//! The runners in hack/ (`hack/control-plane/controlplane.py run` and
//! `hack/cluster/cluster.py run`), started with a lifeline on stdin.
//!
//! Both speak the same small protocol: `run --lifeline-stdin --dir DIR` prints `READY <path>`
//! once up, with what a client needs in `DIR/state.json`; each line written to its stdin is a
//! command (`kill-apiserver`, `egress`, ...) answered by one `OK ...` or `ERR ...` line; and
//! when its stdin closes (this process exits, however it exits, or [`Runner::stop`]) it tears
//! everything down.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What [`Runner::start_with`] lets a caller choose.
#[derive(Clone, Debug, Default)]
pub struct RunnerOptions {
    /// Environment variables added to the runner's (`K8SENSUS_CONTROL_PLANE_BIN`, say).
    pub env: Vec<(String, String)>,
    /// A file for its messages (stderr); the terminal if `None`.
    pub stderr_to: Option<PathBuf>,
    /// Arguments after `run --lifeline-stdin --dir DIR` (the cluster's `--image=ARCHIVE`).
    pub args: Vec<String>,
}

/// A running runner: its state directory, its `state.json`, and its command line.
pub struct Runner {
    pub dir: PathBuf,
    pub state: Value,
    /// `None` once the lifeline is closed.
    control: Mutex<Option<(ChildStdin, BufReader<ChildStdout>)>>,
    child: Mutex<Child>,
}

impl Runner {
    /// Starts `script run --lifeline-stdin --dir dir` and waits for its `READY` line. Its
    /// progress and errors go straight to the terminal, not through the test harness. If it
    /// exits first, panics with `hint` (what it needs, how to retry by hand).
    pub fn start(script: &Path, dir: &Path, hint: &str) -> Runner {
        Self::start_with(script, dir, hint, &RunnerOptions::default())
    }

    /// Like [`Runner::start`], with extra environment variables and arguments and, if asked
    /// for, its messages in a file rather than on the terminal (the panic then points there).
    pub fn start_with(script: &Path, dir: &Path, hint: &str, options: &RunnerOptions) -> Runner {
        Self::try_start_with(script, dir, hint, options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Runner::start_with`], returning the error instead of panicking: for a program that
    /// must clean up and report.
    pub fn try_start_with(
        script: &Path,
        dir: &Path,
        hint: &str,
        options: &RunnerOptions,
    ) -> Result<Runner, String> {
        let _ = std::fs::remove_dir_all(dir);
        let stderr = match &options.stderr_to {
            Some(path) => Stdio::from(
                std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {} ({e})", path.display()))?,
            ),
            None => Stdio::inherit(),
        };
        let hint = match &options.stderr_to {
            Some(path) => format!("{hint} (its messages are in {})", path.display()),
            None => hint.to_string(),
        };
        let mut child = Command::new("python3")
            .arg(script)
            .args(["run", "--lifeline-stdin", "--dir"])
            .arg(dir)
            .args(&options.args)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {} ({e}): {hint}", script.display()))?;
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                let status = child.wait().ok();
                return Err(format!(
                    "{} did not start (it exited: {status:?}); its error is printed above. {hint}",
                    script.display()
                ));
            }
            if line.trim().starts_with("READY ") {
                break;
            }
        }
        let state = std::fs::read(dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| format!("{}/state.json is missing or not JSON", dir.display()))?;
        Ok(Runner {
            dir: dir.to_path_buf(),
            state,
            control: Mutex::new(Some((stdin, stdout))),
            child: Mutex::new(child),
        })
    }

    /// A text entry of `state.json`.
    pub fn text(&self, key: &str) -> String {
        self.state[key]
            .as_str()
            .unwrap_or_else(|| panic!("state.json lacks {key}"))
            .to_string()
    }

    /// A path entry of `state.json`.
    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.text(key))
    }

    /// Sends one command and returns its `OK ...` answer; panics on `ERR`.
    pub fn command(&self, command: &str) -> String {
        let mut guard = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = guard.as_mut().expect("the runner is still running");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        assert!(
            answer.starts_with("OK"),
            "the runner answered {command:?} with {answer:?}"
        );
        answer.trim().to_string()
    }

    /// Closes the lifeline without waiting: the runner starts tearing down. Letting several
    /// go first, then [`Runner::stop`] on each, stops them at the same time.
    pub fn let_go(&self) {
        drop(
            self.control
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }

    /// Closes the lifeline and waits up to `limit` for the runner to finish tearing down;
    /// returns how long it took. Panics if it exits with an error or takes longer.
    pub fn stop(&self, limit: Duration) -> Duration {
        self.try_stop(limit).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Runner::stop`], returning the error instead of panicking. After `limit` the runner
    /// is killed (its guard process still tears everything down).
    pub fn try_stop(&self, limit: Duration) -> Result<Duration, String> {
        let t = Instant::now();
        drop(
            self.control
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(t.elapsed()),
                Ok(Some(status)) => return Err(format!("the runner exited with {status}")),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot wait for the runner: {e}")),
            }
            if t.elapsed() >= limit {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the runner did not stop within {limit:?}; killed it (its guard cleans up)"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        drop(
            self.control
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        if let Ok(mut child) = self.child.lock() {
            let _ = child.wait();
        }
    }
}

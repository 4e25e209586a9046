//! Child processes: their output collected as it arrives, and bounded waits for their exit.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::log::{LogLine, parse_line};

/// The lines of a child's pipe, collected by a thread as they arrive, each with the instant
/// it arrived; those that are log lines of k8sensus's (either format) are also kept parsed.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Collected>>);

#[derive(Default)]
struct Collected {
    raw: Vec<(Instant, String)>,
    logs: Vec<LogLine>,
    closed: bool,
}

impl Output {
    /// Starts collecting `pipe`; with `echo`, each line is also copied to the test's stderr
    /// prefixed with `[tag]`.
    pub fn follow(pipe: impl Read + Send + 'static, tag: &str, echo: bool) -> Self {
        let output = Output::default();
        let (sink, tag) = (output.0.clone(), tag.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if echo {
                    eprintln!("[{tag}] {line}");
                }
                let at = Instant::now();
                let parsed = parse_line(&line);
                let mut got = sink.lock().unwrap();
                if let Some(json) = parsed {
                    got.logs.push(LogLine { at, json });
                }
                got.raw.push((at, line));
            }
            sink.lock().unwrap().closed = true;
        });
        output
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        let got = self.0.lock().unwrap();
        got.raw.iter().map(|(_, l)| l.clone()).collect()
    }

    /// Every line so far, one string.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// The log lines so far, parsed.
    pub fn logs(&self) -> Vec<LogLine> {
        self.0.lock().unwrap().logs.clone()
    }

    /// How many lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        let got = self.0.lock().unwrap();
        got.raw.iter().filter(|(_, l)| l.contains(needle)).count()
    }

    /// Whether a line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.count(needle) > 0
    }

    /// Blocks until a line contains `needle` (and returns when it arrived), or `limit` passes.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Option<Instant> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let got = self.0.lock().unwrap();
            if let Some((at, _)) = got.raw.iter().find(|(_, l)| l.contains(needle)) {
                return Some(*at);
            }
            drop(got);
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Blocks until the pipe is closed (everything written has been collected), at most
    /// `limit`; whether it closed.
    pub fn wait_closed(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while !self.0.lock().unwrap().closed {
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

/// Waits up to `limit` for `child` to exit; `None` if it still runs (it is not killed).
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to completion with its stdout and stderr captured; panics, showing both, if it
/// has not exited within `limit`.
pub fn run_to_end(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if wait_exit(&mut child, limit).is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "{cmd:?} did not exit within {limit:?}; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    child.wait_with_output().unwrap()
}

/// Spawns `cmd` from one thread that lives as long as this process: a child started under
/// `setpriv --pdeathsig KILL` (or with PR_SET_PDEATHSIG) gets the signal when the *thread*
/// that forked it ends, not the process. Starting every long-lived child here lets the
/// thread that asks for it end (a trial lane that is done, say) while the child runs on; it
/// still dies with this process, however it exits.
pub fn spawn_from_lasting_thread(cmd: Command) -> std::io::Result<Child> {
    use std::sync::OnceLock;
    use std::sync::mpsc::{Sender, channel};
    type Request = (Command, Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                // Never returns while the process runs: the senders live in a static.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn the spawner thread");
        Mutex::new(tx)
    });
    let (reply, answer) = channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

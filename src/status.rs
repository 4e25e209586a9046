//! `k8sensus status`: the Lease, printed the way a learner needs it.
//!
//! Times shown here ("renewed 1.2s ago", "expires in 13.8s") compare the Lease's timestamps
//! with *this* machine's clock. That is fine for people, and exactly what the elector itself
//! never does (see `elector::rules`): a standby judges expiry by when it saw a change.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, WatchEvent, WatchParams};
use tokio::time::{Instant, sleep_until};

use crate::elector::record::LeaseRecord;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// The API server could not be asked, or refused; the text says what to do.
    #[error("{0}")]
    Api(String),
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `--watch` lets its stream stay silent before it reads the Lease again and opens a
/// new one. A holder renews well within its lease duration, so a held Lease that shows no
/// change for that long means a dead connection (or a dead holder, which a fresh read
/// shows as well); with no holder, the API server's bookmarks (about one a minute) are the
/// only traffic.
fn silence_bound(last: Option<&LeaseRecord>) -> Duration {
    match last {
        Some(r) if r.holder().is_some() => {
            Duration::from_secs(r.lease_duration_seconds.unwrap_or(15).clamp(1, 60) as u64)
                + Duration::from_secs(1)
        }
        _ => Duration::from_secs(75),
    }
}

/// The Lease shown: the API it is read and watched through, and where to say the API server
/// is and how to describe a failed call.
struct Target {
    api: Api<Lease>,
    name: String,
    server: String,
    lease_ref: String,
    namespace: String,
}

impl Target {
    /// The Lease now (`None` if it does not exist), or what went wrong, in words.
    async fn read(&self) -> Result<Option<Lease>, String> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.api.get_opt(&self.name)).await {
            Ok(Ok(lease)) => Ok(lease),
            Ok(Err(e)) => Err(self.explain("get", &e)),
            Err(_) => Err(self.timed_out("get")),
        }
    }

    /// A failed call, in words, with what to do about it.
    fn explain(&self, verb: &str, error: &kube::Error) -> String {
        let (server, ns) = (&self.server, &self.namespace);
        match error {
            kube::Error::Api(status) if status.code == 403 => format!(
                "forbidden: the API server at {server} does not allow this identity to {verb} leases in namespace {ns}: {}. Use a kubeconfig whose user may, or grant it as rbac.yaml does for the k8sensus ServiceAccount (kubectl apply -f rbac.yaml)",
                status.message
            ),
            kube::Error::Api(status) if status.code == 401 => format!(
                "unauthorized: the API server at {server} rejected the kubeconfig's credentials ({}); check the user in KUBECONFIG, or log in again",
                status.message
            ),
            kube::Error::Api(status) => format!(
                "the API server at {server} refused to {verb} lease {} ({} {}): {}",
                self.lease_ref, status.code, status.reason, status.message
            ),
            other => format!(
                "cannot reach the API server at {server}: {}. Is it running (for the local control plane, `make control-plane`), and does KUBECONFIG point at its kubeconfig?",
                causes(other)
            ),
        }
    }

    fn timed_out(&self, verb: &str) -> String {
        format!(
            "no answer from the API server at {} within {}s to {verb} lease {}. Is it running (for the local control plane, `make control-plane`), and does KUBECONFIG point at its kubeconfig?",
            self.server,
            REQUEST_TIMEOUT.as_secs(),
            self.lease_ref
        )
    }
}

/// An error and its causes, innermost last: "client error (Connect): tcp connect error:
/// Connection refused (os error 111)", where kube alone says "ServiceError: client error
/// (Connect)".
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// Prints the Lease once, or (`watch`) a line for every change, with the leaderless gap at
/// each handover, until interrupted or until nobody reads the output any more.
///
/// # Errors
///
/// [`StatusError`]: the API server cannot be reached, or refuses to show the Lease (RBAC);
/// the message says what to do. A Lease that does not exist is reported, not an error.
///
/// # Cancel safety
///
/// Cancel safe: it only reads.
pub async fn run(namespace: &str, name: &str, watch: bool) -> Result<(), StatusError> {
    let connected = crate::client::connect(REQUEST_TIMEOUT).await?;
    let target = Target {
        api: Api::namespaced(connected.client, namespace),
        name: name.to_string(),
        server: connected.server,
        lease_ref: format!("{namespace}/{name}"),
        namespace: namespace.to_string(),
    };
    let current = target.read().await.map_err(StatusError::Api)?;
    if watch {
        follow(&target, current).await
    } else {
        print_once(&target.lease_ref, current.as_ref());
        Ok(())
    }
}

/// The one-shot view, on stdout.
fn print_once(lease_ref: &str, lease: Option<&Lease>) {
    let text = match lease {
        Some(lease) => snapshot(lease_ref, lease, Timestamp::now()),
        None => format!("{}\n", does_not_exist(lease_ref)),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `--watch`: the Lease as read, then one watch after another from the last version seen, each
/// after a fresh read once the one before has ended; until stdout can no longer be written.
async fn follow(target: &Target, current: Option<Lease>) -> Result<(), StatusError> {
    let mut printer = Printer::new(target.lease_ref.clone());
    if let Err(e) = printer.change(current.as_ref()) {
        return stdout_closed(e);
    }
    let mut version = version_of(current.as_ref());
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut resync = false;
    loop {
        let step: std::io::Result<()> = async {
            if resync {
                // Start over from a fresh read (410 Gone, a broken or silent connection).
                match target.read().await {
                    Ok(lease) => {
                        version = version_of(lease.as_ref());
                        printer.change(lease.as_ref())?;
                    }
                    Err(problem) => {
                        printer.problem(problem)?;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        return Ok(());
                    }
                }
            }
            resync = true;
            watch_once(target, &mut printer, &mut version, &mut ticker).await
        }
        .await;
        if let Err(e) = step {
            return stdout_closed(e);
        }
    }
}

/// Stdout could not be written: a reader that went away (a closed pipe) ends `--watch`
/// quietly, anything else is an error.
fn stdout_closed(e: std::io::Error) -> Result<(), StatusError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(StatusError::Api(format!("cannot write to stdout: {e}")))
    }
}

/// One watch from `version`: a line for every change and the countdown kept live, until the
/// watch cannot be opened, fails, ends, is too old (410 Gone) or stays silent for longer than
/// [`silence_bound`]; then the caller reads the Lease again. `Err` only when stdout cannot be
/// written.
async fn watch_once(
    target: &Target,
    printer: &mut Printer,
    version: &mut String,
    ticker: &mut tokio::time::Interval,
) -> std::io::Result<()> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={}", target.name))
        .timeout(240);
    let stream =
        match tokio::time::timeout(REQUEST_TIMEOUT, target.api.watch(&params, version)).await {
            Ok(Ok(stream)) => stream,
            failed => {
                printer.problem(match failed {
                    Ok(Err(e)) => target.explain("watch", &e),
                    _ => target.timed_out("watch"),
                })?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Ok(());
            }
        };
    printer.reachable()?;
    tokio::pin!(stream);
    let mut quiet_until = Instant::now() + silence_bound(printer.last.as_ref());
    loop {
        let event = tokio::select! {
            _ = ticker.tick() => { printer.tick()?; continue; }
            _ = sleep_until(quiet_until) => return Ok(()),
            event = stream.next() => event,
        };
        match event {
            Some(Ok(WatchEvent::Added(lease) | WatchEvent::Modified(lease))) => {
                *version = lease.metadata.resource_version.clone().unwrap_or_default();
                printer.change(Some(&lease))?;
            }
            Some(Ok(WatchEvent::Deleted(_))) => printer.change(None)?,
            Some(Ok(WatchEvent::Bookmark(b))) => *version = b.metadata.resource_version,
            Some(Ok(WatchEvent::Error(e))) if e.code == 410 => return Ok(()),
            Some(Ok(WatchEvent::Error(e))) => {
                return printer.problem(target.explain("watch", &kube::Error::Api(e)));
            }
            Some(Err(e)) => return printer.problem(target.explain("watch", &e)),
            None => return Ok(()),
        }
        quiet_until = Instant::now() + silence_bound(printer.last.as_ref());
    }
}

fn version_of(lease: Option<&Lease>) -> String {
    lease
        .and_then(|l| l.metadata.resource_version.clone())
        .unwrap_or_else(|| "0".into())
}

fn does_not_exist(lease_ref: &str) -> String {
    format!("lease {lease_ref} does not exist yet: no replica has campaigned")
}

/// The one-shot view.
///
/// A released Lease (no holder) shows when it was released instead of "renewed" and
/// "acquired": the release write sets `renewTime` and `acquireTime` both to the release
/// instant (as client-go does), so on a free Lease neither field means what its name says.
pub fn snapshot(lease_ref: &str, lease: &Lease, now: Timestamp) -> String {
    let r = LeaseRecord::from_lease(lease);
    let mut out = format!("lease        {lease_ref}\n");
    let Some(holder) = r.holder() else {
        match r.renew_time.or(r.acquire_time) {
            Some(released) => {
                out += "holder       (none: released; the next replica to campaign takes it at once)\n";
                out += &format!(
                    "released     {released} ({} ago)\n",
                    secs(now.duration_since(released))
                );
            }
            None => out += "holder       (none: never taken)\n",
        }
        out += &format!("transitions  {}\n", r.transitions);
        return out;
    };
    out += &format!("holder       {holder}\n");
    if let Some(renewed) = r.renew_time {
        out += &format!("renewed      {} ago\n", secs(now.duration_since(renewed)));
        let duration = r.lease_duration_seconds.unwrap_or(0).max(0) as f64;
        let left = duration - now.duration_since(renewed).as_secs_f64();
        out += &if left > 0.0 {
            format!("expires in   {left:.1}s unless renewed (lease duration {duration:.0}s)\n")
        } else {
            format!(
                "expired      {:.1}s ago: standbys may take it over\n",
                -left
            )
        };
    }
    out += &format!("transitions  {}\n", r.transitions);
    if let Some(acquired) = r.acquire_time {
        out += &format!(
            "acquired     {acquired} ({} ago)\n",
            secs(now.duration_since(acquired))
        );
    }
    out += &work_delay(lease, now);
    out
}

/// A line for a leader whose work has not started yet: it created the Lease because it was
/// missing, and waits one lease duration (see `elector::rules::work_starts_at`).
fn work_delay(lease: &Lease, now: Timestamp) -> String {
    let starts = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::elector::WORK_STARTS_AT_ANNOTATION))
        .and_then(|t| t.parse::<Timestamp>().ok())
        .filter(|t| *t > now);
    match starts {
        Some(t) => format!(
            "work         starts in {}: the holder created the lease because it was missing, and waits one lease duration in case a leader it cannot see is still working\n",
            secs(t.duration_since(now))
        ),
        None => String::new(),
    }
}

fn secs(span: k8s_openapi::jiff::SignedDuration) -> String {
    format!("{:.1}s", span.as_secs_f64())
}

/// Prints one line per change, and on a terminal a live countdown line under them. Problems
/// reaching the API server are printed once each, and while they last the countdown says that
/// what it shows is stale.
struct Printer {
    lease_ref: String,
    /// Whether a first state has been printed.
    started: bool,
    last: Option<LeaseRecord>,
    live: bool,
    /// While calls fail: the problems printed so far, and since when the view is stale.
    problem: Option<(Vec<String>, Timestamp)>,
    /// When the API server last told us how the Lease is.
    fresh_at: Timestamp,
}

impl Printer {
    fn new(lease_ref: String) -> Self {
        Self {
            lease_ref,
            started: false,
            last: None,
            live: std::io::stdout().is_terminal(),
            problem: None,
            fresh_at: Timestamp::now(),
        }
    }

    fn change(&mut self, lease: Option<&Lease>) -> std::io::Result<()> {
        let first = !std::mem::replace(&mut self.started, true);
        self.fresh_at = Timestamp::now();
        let Some(lease) = lease else {
            if first {
                self.line(does_not_exist(&self.lease_ref))?;
            } else if self.last.take().is_some() {
                self.line(format!("the lease {} was deleted", self.lease_ref))?;
            }
            return Ok(());
        };
        let now = LeaseRecord::from_lease(lease);
        if self.last.as_ref() == Some(&now) {
            return Ok(());
        }
        let text = describe_change(self.last.as_ref(), &now);
        self.line(text)?;
        self.last = Some(now);
        Ok(())
    }

    /// A call failed: say so once per distinct problem until calls succeed again, and that
    /// the view is now stale.
    fn problem(&mut self, text: String) -> std::io::Result<()> {
        let (seen, since) = self
            .problem
            .get_or_insert_with(|| (Vec::new(), self.fresh_at));
        if seen.contains(&text) {
            return Ok(());
        }
        seen.push(text.clone());
        let stamp = since.strftime("%H:%M:%S");
        self.line(format!(
            "lost the API server: {text}\n              what is shown above is stale: last news of the lease at {stamp}; retrying every second"
        ))
    }

    /// A call succeeded: if there was a problem, say it is over.
    fn reachable(&mut self) -> std::io::Result<()> {
        if self.problem.take().is_some() {
            self.line("reached the API server again; the lines below are current".into())?;
        }
        Ok(())
    }

    fn line(&self, text: String) -> std::io::Result<()> {
        let stamp = Timestamp::now().strftime("%H:%M:%S%.3f");
        let mut out = std::io::stdout().lock();
        if self.live {
            write!(out, "\r\x1b[K")?;
        }
        writeln!(out, "{stamp}  {text}")?;
        out.flush()
    }

    fn tick(&self) -> std::io::Result<()> {
        if !self.live {
            return Ok(());
        }
        let Some(r) = &self.last else { return Ok(()) };
        let now = Timestamp::now();
        let mut text = match r.holder() {
            Some(holder) => format!("holder {holder}"),
            None => "no holder".to_string(),
        };
        if let Some(renewed) = r.renew_time {
            let ago = now.duration_since(renewed).as_secs_f64();
            text += &format!(" · renewed {ago:.1}s ago");
            if r.holder().is_some() {
                let left = r.lease_duration_seconds.unwrap_or(0) as f64 - ago;
                text += &format!(" · expires in {:.1}s", left.max(0.0));
            }
        }
        if let Some((_, since)) = &self.problem {
            text += &format!(" · STALE since {}", since.strftime("%H:%M:%S"));
        }
        let mut out = std::io::stdout().lock();
        write!(out, "\r\x1b[K{text}")?;
        out.flush()
    }
}

/// One line describing how the record changed. The leaderless gap at a handover is the new
/// `acquireTime` minus the old holder's last `renewTime` (or its release), both from the Lease.
pub fn describe_change(before: Option<&LeaseRecord>, now: &LeaseRecord) -> String {
    let gap = |before: &LeaseRecord| match (before.renew_time, now.acquire_time) {
        (Some(last), Some(acquired)) => {
            format!(
                ": leaderless for {:.3}s",
                acquired.duration_since(last).as_secs_f64()
            )
        }
        _ => String::new(),
    };
    match (before.and_then(|b| b.holder()), now.holder()) {
        (_, None) => match before.and_then(|b| b.holder()) {
            Some(old) => format!("{old} released the lease (transitions {})", now.transitions),
            None => format!("the lease is free (transitions {})", now.transitions),
        },
        (None, Some(new)) => match before {
            Some(b) if b.renew_time.is_some() => format!(
                "{new} acquired the lease (transitions {}){}",
                now.transitions,
                gap(b)
            ),
            _ => format!("{new} holds the lease (transitions {})", now.transitions),
        },
        (Some(old), Some(new)) if old != new => format!(
            "{new} took over from {old} (transitions {}){}",
            now.transitions,
            gap(before.expect("has a holder"))
        ),
        (Some(_), Some(holder)) => {
            format!("{holder} renewed (transitions {})", now.transitions)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64, ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_700_000_000_000 + s * 1000 + ms).unwrap()
    }

    fn rec(holder: &str, acquired: i64, renewed: i64, transitions: i32) -> LeaseRecord {
        LeaseRecord {
            holder: holder.into(),
            lease_duration_seconds: Some(15),
            acquire_time: Some(at(acquired, 0)),
            renew_time: Some(at(renewed, 0)),
            transitions,
        }
    }

    /// A takeover after a crash reports the gap from the last renewal to the acquisition.
    #[test]
    fn handover_lines_carry_the_gap() {
        let old = rec("a", 0, 10, 0);
        let new = rec("b", 25, 25, 1);
        assert_eq!(
            describe_change(Some(&old), &new),
            "b took over from a (transitions 1): leaderless for 15.000s"
        );
        let released = LeaseRecord {
            holder: String::new(),
            lease_duration_seconds: Some(1),
            acquire_time: Some(at(12, 0)),
            renew_time: Some(at(12, 0)),
            transitions: 1,
        };
        assert_eq!(
            describe_change(Some(&new), &released),
            "b released the lease (transitions 1)"
        );
        let next = LeaseRecord {
            acquire_time: Some(at(12, 40)),
            ..rec("c", 12, 12, 2)
        };
        assert_eq!(
            describe_change(Some(&released), &next),
            "c acquired the lease (transitions 2): leaderless for 0.040s"
        );
        assert_eq!(
            describe_change(Some(&new), &rec("b", 25, 27, 1)),
            "b renewed (transitions 1)"
        );
    }

    /// The snapshot shows holder, age of the renewal, time to expiry and transitions.
    #[test]
    fn snapshot_shows_what_a_learner_needs() {
        let lease = {
            let mut l = Lease::default();
            rec("pod-a", 0, 10, 3).write_to(&mut l);
            l
        };
        let text = snapshot("ns/l", &lease, at(12, 500));
        assert!(text.contains("holder       pod-a"), "{text}");
        assert!(text.contains("renewed      2.5s ago"), "{text}");
        assert!(text.contains("expires in   12.5s"), "{text}");
        assert!(text.contains("transitions  3"), "{text}");
        let late = snapshot("ns/l", &lease, at(40, 0));
        assert!(late.contains("expired      15.0s ago"), "{late}");
        assert!(!text.contains("work "), "{text}");
    }

    /// A leader whose work waits after creating a missing Lease is shown as such, until then.
    #[test]
    fn snapshot_shows_a_delayed_start() {
        let mut lease = Lease::default();
        rec("pod-a", 0, 10, 0).write_to(&mut lease);
        lease.metadata.annotations = Some(
            [(
                crate::elector::WORK_STARTS_AT_ANNOTATION.to_string(),
                at(25, 0).to_string(),
            )]
            .into(),
        );
        let text = snapshot("ns/l", &lease, at(12, 500));
        assert!(text.contains("work         starts in 12.5s"), "{text}");
        assert!(!snapshot("ns/l", &lease, at(26, 0)).contains("work "));
    }

    /// A released Lease shows when it was released, not "renewed" or "acquired": the release
    /// write sets both timestamps to the release instant.
    #[test]
    fn a_released_lease_shows_its_release() {
        let mut lease = Lease::default();
        crate::elector::rules::release(&rec("pod-a", 0, 10, 3), at(11, 0)).write_to(&mut lease);
        let text = snapshot("ns/l", &lease, at(14, 200));
        assert_eq!(
            text,
            "lease        ns/l\n\
             holder       (none: released; the next replica to campaign takes it at once)\n\
             released     2023-11-14T22:13:31Z (3.2s ago)\n\
             transitions  3\n"
        );
        let never = snapshot("ns/l", &Lease::default(), at(0, 0));
        assert!(never.contains("(none: never taken)"), "{never}");
    }
}

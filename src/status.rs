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

use crate::elector::record::LeaseRecord;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error("cannot read lease {lease}: {source}")]
    Read {
        lease: String,
        #[source]
        source: kube::Error,
    },
    #[error("timed out reading lease {lease}")]
    Timeout { lease: String },
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Prints the Lease once, or (`watch`) a line for every change, with the leaderless gap at
/// each handover, until interrupted.
pub async fn run(namespace: &str, name: &str, watch: bool) -> Result<(), StatusError> {
    let client = crate::client::connect(REQUEST_TIMEOUT).await?;
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let lease_ref = format!("{namespace}/{name}");
    let read = || async {
        match tokio::time::timeout(REQUEST_TIMEOUT, api.get_opt(name)).await {
            Ok(Ok(lease)) => Ok(lease),
            Ok(Err(source)) => Err(StatusError::Read {
                lease: lease_ref.clone(),
                source,
            }),
            Err(_) => Err(StatusError::Timeout {
                lease: lease_ref.clone(),
            }),
        }
    };
    let current = read().await?;
    if !watch {
        match &current {
            Some(lease) => print!("{}", snapshot(&lease_ref, lease, Timestamp::now())),
            None => println!("lease {lease_ref} does not exist yet: no replica has campaigned"),
        }
        return Ok(());
    }

    let mut printer = Printer::new(lease_ref.clone());
    printer.change(current.as_ref());
    let mut version = current
        .as_ref()
        .and_then(|l| l.metadata.resource_version.clone())
        .unwrap_or_else(|| "0".into());
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(240);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        let stream = match tokio::time::timeout(REQUEST_TIMEOUT, api.watch(&params, &version)).await
        {
            Ok(Ok(stream)) => stream,
            _ => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        tokio::pin!(stream);
        loop {
            let event = tokio::select! {
                _ = ticker.tick() => { printer.tick(); continue; }
                event = stream.next() => event,
            };
            match event {
                Some(Ok(WatchEvent::Added(lease) | WatchEvent::Modified(lease))) => {
                    version = lease.metadata.resource_version.clone().unwrap_or(version);
                    printer.change(Some(&lease));
                }
                Some(Ok(WatchEvent::Deleted(_))) => printer.change(None),
                Some(Ok(WatchEvent::Bookmark(b))) => version = b.metadata.resource_version,
                Some(Ok(WatchEvent::Error(_))) | Some(Err(_)) => {
                    // Start over from a fresh read (410 Gone, or a broken connection).
                    if let Ok(lease) = read().await {
                        version = lease
                            .as_ref()
                            .and_then(|l| l.metadata.resource_version.clone())
                            .unwrap_or_else(|| "0".into());
                        printer.change(lease.as_ref());
                    }
                    break;
                }
                None => break,
            }
        }
    }
}

/// The one-shot view.
pub fn snapshot(lease_ref: &str, lease: &Lease, now: Timestamp) -> String {
    let r = LeaseRecord::from_lease(lease);
    let mut out = format!("lease        {lease_ref}\n");
    out += &format!(
        "holder       {}\n",
        r.holder().unwrap_or("(none: released, or never taken)")
    );
    if let Some(renewed) = r.renew_time {
        out += &format!("renewed      {} ago\n", secs(now.duration_since(renewed)));
        if r.holder().is_some() {
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

/// Prints one line per change, and on a terminal a live countdown line under them.
struct Printer {
    lease_ref: String,
    last: Option<LeaseRecord>,
    live: bool,
}

impl Printer {
    fn new(lease_ref: String) -> Self {
        Self {
            lease_ref,
            last: None,
            live: std::io::stdout().is_terminal(),
        }
    }

    fn change(&mut self, lease: Option<&Lease>) {
        let Some(lease) = lease else {
            self.line(format!("the lease {} was deleted", self.lease_ref));
            self.last = None;
            return;
        };
        let now = LeaseRecord::from_lease(lease);
        if self.last.as_ref() == Some(&now) {
            return;
        }
        let text = describe_change(self.last.as_ref(), &now);
        self.line(text);
        self.last = Some(now);
    }

    fn line(&self, text: String) {
        let stamp = Timestamp::now().strftime("%H:%M:%S%.3f");
        let mut out = std::io::stdout().lock();
        if self.live {
            let _ = write!(out, "\r\x1b[K");
        }
        let _ = writeln!(out, "{stamp}  {text}");
        let _ = out.flush();
    }

    fn tick(&self) {
        if !self.live {
            return;
        }
        let Some(r) = &self.last else { return };
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
        let _ = write!(std::io::stdout().lock(), "\r\x1b[K{text}");
        let _ = std::io::stdout().flush();
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
}

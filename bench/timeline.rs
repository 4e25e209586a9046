//! The timeline sample for the picture: who held the Lease around the consecutive trials
//! closest to the median.

use std::collections::BTreeMap;

use crate::replicas::Marker;
use crate::results::{CrashMeasured, Gap, GracefulMeasured, Held, Timeline, TimelineMarker};
use crate::support::lease_watch::{EventKind, LeaseEvent};
use crate::support::stats::median;

/// How many consecutive trials the picture shows.
pub const COUNT: usize = 2;

/// What the timeline needs of a trial of either kind.
pub trait TimelineTrial {
    fn trial(&self) -> usize;
    /// The figure the median is taken of (failover or handoff).
    fn figure(&self) -> f64;
    /// When the fault was sent.
    fn struck_t(&self) -> f64;
    fn acquire_t(&self) -> f64;
    fn gap(&self, t0: f64) -> Gap;
    /// The seconds before the first fault and after the last acquisition that the picture
    /// shows.
    const MARGIN_S: f64;
}

impl TimelineTrial for CrashMeasured {
    const MARGIN_S: f64 = 3.0;
    fn trial(&self) -> usize {
        self.trial
    }
    fn figure(&self) -> f64 {
        self.failover_s.unwrap_or(f64::NAN)
    }
    fn struck_t(&self) -> f64 {
        self.kill_t
    }
    fn acquire_t(&self) -> f64 {
        self.acquire_t.unwrap_or(f64::NAN)
    }
    fn gap(&self, t0: f64) -> Gap {
        let last = self.last_renew_t.unwrap_or(f64::NAN);
        Gap {
            from: last - t0,
            to: self.acquire_t() - t0,
            sigterm: None,
            length_s: self.figure(),
            handoff_s: None,
            old: self.old.clone(),
            new: self.new.clone(),
            trial: self.trial,
            label: "last renewal to new acquireTime",
        }
    }
}

impl TimelineTrial for GracefulMeasured {
    const MARGIN_S: f64 = 2.0;
    fn trial(&self) -> usize {
        self.trial
    }
    fn figure(&self) -> f64 {
        self.handoff_s.unwrap_or(f64::NAN)
    }
    fn struck_t(&self) -> f64 {
        self.sigterm_t
    }
    fn acquire_t(&self) -> f64 {
        self.acquire_t.unwrap_or(f64::NAN)
    }
    fn gap(&self, t0: f64) -> Gap {
        let start = match self.release_renew_t {
            Some(r) if r >= self.sigterm_t => r,
            _ => self.release_seen_t.unwrap_or(self.sigterm_t),
        };
        Gap {
            from: start - t0,
            to: self.acquire_t() - t0,
            sigterm: Some(self.sigterm_t - t0),
            length_s: self.acquire_t() - start,
            handoff_s: self.handoff_s,
            old: self.old.clone(),
            new: self.new.clone(),
            trial: self.trial,
            label: "release to new acquireTime; handoff_s is SIGTERM to new acquireTime",
        }
    }
}

/// The timeline of the `COUNT` consecutive good trials (`good`, in trial order) closest to
/// their median, from the set's Lease `events` and `markers`; `None` without a good trial.
pub fn timeline<T: TimelineTrial>(
    events: &[LeaseEvent],
    markers: &[Marker],
    good: &[&T],
    replicas: &[String],
) -> Option<Timeline> {
    if good.is_empty() {
        return None;
    }
    let figures: Vec<f64> = good.iter().map(|t| t.figure()).collect();
    let med = median(&figures)?;
    let starts = 0..(good.len().saturating_sub(COUNT) + 1).max(1);
    let cost = |i: usize| -> f64 {
        good[i..(i + COUNT).min(good.len())]
            .iter()
            .map(|t| (t.figure() - med).abs())
            .sum()
    };
    // The first of the closest, as Python's min() picks it.
    let best = starts
        .min_by(|a, b| cost(*a).total_cmp(&cost(*b)))
        .unwrap_or(0);
    let ok = &good[best..(best + COUNT).min(good.len())];
    let t0 = ok
        .iter()
        .map(|t| t.struck_t())
        .fold(f64::INFINITY, f64::min)
        - T::MARGIN_S;
    let t1 = ok
        .iter()
        .map(|t| t.acquire_t())
        .fold(f64::NEG_INFINITY, f64::max)
        + T::MARGIN_S;
    let held = held(events, replicas, t0, t1);
    let marks = markers
        .iter()
        .filter(|m| t0 <= m.t && m.t <= t1 && ["kill", "sigterm", "restart"].contains(&m.kind))
        .map(|m| TimelineMarker {
            t: m.t - t0,
            kind: m.kind,
            replica: m.replica.clone(),
            trial: m.trial,
        })
        .collect();
    Some(Timeline {
        t0_epoch: t0,
        length_s: t1 - t0,
        replicas: replicas.to_vec(),
        held,
        markers: marks,
        gaps: ok.iter().map(|t| t.gap(t0)).collect(),
        trials: ok.iter().map(|t| t.trial() + 1).collect(),
        chosen_as: format!(
            "the {} consecutive trials closest to the median ({med:.6} s)",
            ok.len()
        ),
    })
}

/// Each replica's terms, relative to `t0`: from its acquireTime to its last renewTime (a
/// crash), to the release, or to the end (still running); those within `[t0, t1]`.
fn held(
    events: &[LeaseEvent],
    replicas: &[String],
    t0: f64,
    t1: f64,
) -> BTreeMap<String, Vec<Held>> {
    let mut held: BTreeMap<String, Vec<Held>> =
        replicas.iter().map(|r| (r.clone(), Vec::new())).collect();
    let (mut cur, mut start, mut last): (Option<String>, f64, Option<f64>) = (None, 0.0, None);
    let holder = |ev: &LeaseEvent| {
        (ev.kind != EventKind::Deleted && !ev.holder.is_empty()).then(|| ev.holder.clone())
    };
    for ev in events.iter().map(Some).chain(std::iter::once(None)) {
        let h = ev.and_then(holder);
        if let Some(ev) = ev
            && h.is_some()
            && h == cur
        {
            last = ev.renew.or(last);
            continue;
        }
        if let Some(c) = &cur {
            let (end, how) = match ev {
                Some(ev) if h.is_none() && ev.kind != EventKind::Deleted => {
                    let end = match ev.renew {
                        Some(r) if r > last.unwrap_or(0.0) => r,
                        _ => ev.t,
                    };
                    (end, "released")
                }
                None => (last.unwrap_or(f64::NAN), "running"),
                Some(_) => (last.unwrap_or(f64::NAN), "last renewal"),
            };
            held.entry(c.clone()).or_default().push(Held {
                from: start - t0,
                to: end - t0,
                end: how,
            });
        }
        cur = h.clone();
        if let (Some(ev), Some(_)) = (ev, &h) {
            start = ev.acquire.unwrap_or(ev.t);
            last = Some(ev.renew.unwrap_or(start));
        }
    }
    for terms in held.values_mut() {
        terms.retain(|iv| iv.to > 0.0 && iv.from < t1 - t0);
    }
    held
}

//! results.json's `"scale"` section, as types: what the scale part writes, key for key and in
//! the order that bench/k8sbench/render/ (scale_md.py, scale_svg.py, readme.py) reads it. A
//! key renamed here is renamed in the file; the renderers read it as a schema. And the one
//! way the section goes into the file: [`write_section`], which keeps every other key of the
//! file as it was, in its place.
//!
//! Every time (`*_t`, `t0`, `t1`) is a Unix time in seconds, as the replicas' Lease fields and
//! the audit log give it; every duration is in seconds.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::window::{K8SENSUS_RESYNC_S, RESYNC_MARGIN_S, SETTLE_S};
use crate::machine_load::PhaseLoad;
use crate::results::{CrashTrial, GracefulTrial, TimingsSection, TrialSummaries};

/// The section. Each implementation's figures come first, by N, then how the part ran.
#[derive(Serialize)]
pub struct ScaleSection {
    pub k8sensus: ByN,
    pub client_go: ByN,
    /// Whether every N asked for was measured: false in the file written after each N but
    /// the last, so that a run cut short keeps the N done and says so.
    pub complete: bool,
    pub started_at: String,
    pub generated_at: String,
    pub duration_s: f64,
    /// The N measured, in the order they ran.
    pub ns: Vec<usize>,
    pub timings: TimingsSection,
    pub crash_trials: usize,
    pub graceful_trials: usize,
    pub steady_seconds: f64,
    pub method: Method,
    pub command: String,
    pub seed: u64,
    pub source: ScaleSource,
    pub machine: ScaleMachine,
}

/// One implementation's figures by N, written as an object keyed by N in the order they ran
/// (`{"3": ..., "10": ...}`: a map keyed by the text would put "10" before "3").
#[derive(Clone, Default)]
pub struct ByN(pub Vec<(usize, ScaleFigures)>);

impl Serialize for ByN {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (n, figures) in &self.0 {
            map.serialize_entry(&n.to_string(), figures)?;
        }
        map.end()
    }
}

/// One implementation's figures at one N.
#[derive(Clone, Serialize)]
pub struct ScaleFigures {
    pub replicas: usize,
    /// Failover and handoff, from the trial set's trials.
    #[serde(flatten)]
    pub trials: TrialSummaries,
    /// Requests made while standing by / time spent standing by: the mean per standby.
    pub standby_requests_per_s: f64,
    /// The busiest standby's requests / the window.
    pub standby_requests_per_s_max: Option<f64>,
    /// Every request made by standbys in the window / the window.
    pub all_standbys_requests_per_s: f64,
    pub leader_requests_per_s: f64,
    /// Median over the crash trials of the requests each takeover caused.
    #[serde(serialize_with = "whole_as_integer")]
    pub takeover_requests: Option<f64>,
    pub takeover_requests_max: Option<u64>,
    /// The same over the graceful trials.
    #[serde(serialize_with = "whole_as_integer")]
    pub takeover_requests_graceful: Option<f64>,
    pub takeover_requests_graceful_max: Option<u64>,
    /// The steady control plane's kube-apiserver CPU seconds over the window, per minute.
    pub apiserver_cpu_s_per_min: f64,
    pub apiserver_cpu_s: f64,
    pub window_s: f64,
    pub transitions_in_window: usize,
    /// VmRSS at the end of the window, mean over the steady set.
    pub rss_mib: Option<f64>,
    pub rss_mib_max: Option<f64>,
    pub raw: ScaleRaw,
}

/// What the figures were computed from.
#[derive(Clone, Serialize)]
pub struct ScaleRaw {
    pub crash: Vec<CrashTrial>,
    pub graceful: Vec<GracefulTrial>,
    pub takeovers_crash: Vec<Takeover>,
    pub takeovers_graceful: Vec<Takeover>,
    pub window: WindowSpan,
    pub requests_by_replica: BTreeMap<String, ReplicaRequests>,
    pub rss_per_replica: BTreeMap<String, Option<f64>>,
}

/// The requests one takeover caused, from the trial control plane's audit log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Takeover {
    pub trial: usize,
    pub from_t: f64,
    pub to_t: f64,
    pub requests: u64,
    /// `{"resource verb code": n}`.
    pub by_request: BTreeMap<String, u64>,
}

/// The steady-state window's span.
#[derive(Clone, Serialize)]
pub struct WindowSpan {
    pub t0: f64,
    pub t1: f64,
}

/// One steady replica's Lease requests over the window.
#[derive(Clone, Serialize)]
pub struct ReplicaRequests {
    pub role: &'static str,
    pub requests: u64,
    pub by_verb: BTreeMap<String, u64>,
}

/// The source measured: bench/run.py's snapshot of the commit and the build inputs (with
/// its build's own keys: `skip_build`, `changed_during_build`, ...), then the binaries'
/// hashes and the control plane's version.
#[derive(Clone, Serialize)]
pub struct ScaleSource {
    /// A JSON object.
    #[serde(flatten)]
    pub build: Json,
    pub k8sensus_binary_sha256: Option<String>,
    pub client_go_ref_binary_sha256: Option<String>,
    pub kubernetes_version: Option<String>,
}

/// The machine while the part ran: its CPUs, and the load of each of the part's phases.
#[derive(Serialize)]
pub struct ScaleMachine {
    pub cpus: usize,
    pub load_by_phase: Vec<PhaseLoad>,
}

/// How each figure was measured, as the file says it.
#[derive(Serialize)]
pub struct Method {
    pub sets: &'static str,
    pub alongside: String,
    pub crash_failover_s: &'static str,
    pub graceful_handoff_s: &'static str,
    pub standby_requests_per_s: String,
    pub all_standbys_requests_per_s: &'static str,
    pub takeover_requests: &'static str,
    pub apiserver_cpu_s_per_min: &'static str,
    pub rss_mib: &'static str,
}

impl Method {
    pub fn new() -> Self {
        Method {
            sets: "for each N, per implementation: a trial set of N replicas on the run's control \
                plane, and a steady set of N replicas on that implementation's steady control plane \
                (its own etcd and kube-apiserver with the same audit logging, started once for the \
                scale part); each set on its own Lease and namespace, one ServiceAccount per replica",
            alongside: format!(
                "for each N the four sets start together. The crash trials of both \
                 implementations run at the same time (two Leases); the graceful trials run one at \
                 a time, alternating, both trial sets running. Beside the trials, both \
                 implementations' steady-state windows run at the same time, over the same span, \
                 each on its own steady control plane, which serves that one steady set and the \
                 driver's watch, nothing else; they open {SETTLE_S:.0} s after the steady sets \
                 have leaders at the earliest, and close {:.0} s after that at the earliest (see \
                 standby_requests_per_s), so they can outlast the trials: the trial sets are \
                 stopped when their trials end, and the windows close with only the steady sets \
                 running",
                K8SENSUS_RESYNC_S.1 + RESYNC_MARGIN_S
            ),
            crash_failover_s: "as in the 3-replica figures: old holder's last renewTime to the new \
                holder's acquireTime",
            graceful_handoff_s: "SIGTERM to the new holder's acquireTime",
            standby_requests_per_s: format!(
                "requests made while standing by / time spent standing by, i.e. the mean per \
                 standby, over the steady-state window (the steady control plane's audit log). \
                 The steady sets start fresh for each N; a k8sensus standby resyncs (one GET, one \
                 new watch) {:.0} to {:.0} s after it opened its watch, and the window closes late \
                 enough to hold each standby's first resync: with a 120 s window, one resync per \
                 standby, the most a 120 s window can hold (over a long run, one per 150 s on \
                 average)",
                K8SENSUS_RESYNC_S.0, K8SENSUS_RESYNC_S.1
            ),
            all_standbys_requests_per_s: "every request made by standbys in the window / the window",
            takeover_requests: "median over the crash trials of the requests (any resource, any \
                outcome) by every replica but the old leader's slot, received from the old \
                holder's last renewal + the lease duration to the new acquireTime + one retry \
                period (for the new holder: + half a retry period, so that its first renewal is \
                not counted); *_graceful: the same from SIGTERM",
            apiserver_cpu_s_per_min: "that implementation's steady control plane's kube-apiserver: \
                its process_cpu_seconds_total (its /metrics) over the steady-state window, per \
                minute; etcd not included. That kube-apiserver serves only the implementation's \
                steady set and the driver's watch; the other implementation's steady set and, for \
                part of the window, the trials run on the same machine, on the other control planes",
            rss_mib: "VmRSS at the end of the steady-state window, mean over the N replicas of the \
                steady set",
        }
    }
}

/// A median of request counts: a whole number is written as one (`3`, not `3.0`), as the
/// median of an odd number of counts is one.
fn whole_as_integer<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}

/// Writes `section` as the key `key` of the results file at `out`: every other key kept as it
/// was, byte for byte and in its place (the key itself too, if the file has it; at the end
/// if not); a file that does not exist yet starts empty. The section is written as
/// bench/run.py writes the file (`json.dumps(results, indent=1)`), and the file is replaced
/// at once (a rename), so that a reader never sees half of it.
pub fn write_section(out: &Path, key: &str, section: &impl Serialize) -> Result<(), String> {
    let text = match std::fs::read_to_string(out) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "{}".to_string(),
        Err(e) => return Err(format!("cannot read {}: {e}", out.display())),
    };
    let mut entries: Vec<(String, String)> = top_level_entries(&text)
        .map_err(|e| format!("{} is not a JSON object: {e}", out.display()))?
        .into_iter()
        .map(|(k, raw)| (k, raw.to_string()))
        .collect();
    // Nested one level down: every line after the first indented by one more space.
    let value = to_text(section)?.trim_end().replace('\n', "\n ");
    match entries.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => entries.push((key.to_string(), value)),
    }
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!(" {}: {v}", serde_json::Value::from(k.as_str())))
        .collect();
    let text = if body.is_empty() {
        "{}\n".to_string()
    } else {
        format!("{{\n{}\n}}\n", body.join(",\n"))
    };
    let tmp = out.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, out).map_err(|e| format!("cannot replace {}: {e}", out.display()))
}

/// The keys of a JSON object's text and each one's value, as the text that holds it, in
/// order. Only the structure is read (strings, nesting); the values are left to whoever
/// reads them.
pub fn top_level_entries(text: &str) -> Result<Vec<(String, &str)>, String> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err("it does not start with {".into());
    }
    i = skip_ws(b, i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b'}') {
        return Ok(out);
    }
    loop {
        let key_end = skip_string(b, i).ok_or("a key is not a string")?;
        let key: String = serde_json::from_str(&text[i..key_end])
            .map_err(|e| format!("a key that is not a JSON string: {e}"))?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(format!("no colon after the key {key:?}"));
        }
        let start = skip_ws(b, i + 1);
        let end =
            skip_value(b, start).ok_or_else(|| format!("the value of {key:?} does not end"))?;
        out.push((key, &text[start..end]));
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(out),
            _ => return Err("an entry is followed by neither , nor }".into()),
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The end (one past the closing quote) of the string that starts at `i`.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The end of the value that starts at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b.get(j).is_some_and(|c| !b",}] \t\r\n".contains(c)) {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// JSON indented by one space with a final newline, as Python's `json.dumps(x, indent=1)`.
pub fn to_text(value: &impl Serialize) -> Result<String, String> {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    value
        .serialize(&mut ser)
        .map_err(|e| format!("cannot serialize the results: {e}"))?;
    buf.push(b'\n');
    String::from_utf8(buf).map_err(|e| format!("the results are not UTF-8: {e}"))
}

/// A JSON value whose objects keep their keys in the order read (serde_json's `Value` sorts
/// them): bench/run.py's source snapshot, passed on as it wrote it.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(t) => s.serialize_str(t),
            Json::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(n)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("a number JSON cannot hold"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::String(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Json, E> {
                Ok(Json::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Json::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Json::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

//! The harness's one reader of a replica's /metrics (OpenMetrics text, as
//! prometheus-client writes it), and the two figures the tests read most.

use std::time::Duration;

use super::http::http_get;
use super::lease::LEASE;
use super::wait::wait_for;

/// One sample line: `name{label="value",...} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Every sample of one exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics(pub Vec<Sample>);

impl Metrics {
    /// Reads an exposition strictly: each sample line must be `name[{labels}] value
    /// [timestamp]` with a valid metric name and well-formed labels, and the text must end
    /// with `# EOF`. The error names the first bad line.
    pub fn parse(text: &str) -> Result<Metrics, String> {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line).ok_or_else(|| format!("bad sample line {line:?}"))?);
        }
        if !text.trim_end().ends_with("# EOF") {
            return Err("the exposition must end with # EOF".into());
        }
        Ok(Metrics(samples))
    }

    /// Reads a Prometheus text exposition (kube-apiserver's /metrics): the same sample lines,
    /// without OpenMetrics' closing `# EOF`.
    pub fn parse_prometheus(text: &str) -> Result<Metrics, String> {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line).ok_or_else(|| format!("bad sample line {line:?}"))?);
        }
        Ok(Metrics(samples))
    }

    /// GET /metrics from `addr` and parse it; `None` if it does not answer 200 with a valid
    /// exposition.
    pub fn fetch(addr: &str) -> Option<Metrics> {
        match http_get(addr, "/metrics")? {
            (200, body) => Metrics::parse(&body).ok(),
            _ => None,
        }
    }

    /// The value of the sample named `name` with exactly the labels `labels` (in any order).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
    }

    /// The sum of every sample named `name`, whatever its labels.
    pub fn sum(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let valid_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !valid_name {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = parse_labels(inner, &mut labels)?;
    }
    let mut fields = rest.strip_prefix(' ')?.split(' ');
    let value = fields.next()?.parse().ok()?;
    // An optional timestamp; nothing else.
    match (fields.next(), fields.next()) {
        (None, _) => {}
        (Some(ts), None) if ts.parse::<f64>().is_ok() => {}
        _ => return None,
    }
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `key="value",...}` into `labels`; returns what follows the closing brace.
fn parse_labels<'a>(mut text: &'a str, labels: &mut Vec<(String, String)>) -> Option<&'a str> {
    loop {
        if let Some(rest) = text.strip_prefix('}') {
            return Some(rest);
        }
        let (key, after) = text.split_once("=\"")?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_string(), value));
        text = &after[end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// `leader_election_master_status` for our Lease, read from a replica's /metrics.
pub fn master_status(addr: &str) -> Option<f64> {
    Metrics::fetch(addr)?.get("leader_election_master_status", &[("name", LEASE)])
}

/// Waits until a replica's `leader_election_master_status` reads `value`.
pub async fn wait_for_master_status(addr: &str, value: f64, timeout: Duration) -> bool {
    wait_for(timeout, || async {
        (master_status(addr) == Some(value)).then_some(())
    })
    .await
    .is_some()
}

/// The sum of a replica's `k8sensus_api_errors_total` counters (0 if /metrics does not answer).
pub fn api_errors(addr: &str) -> f64 {
    Metrics::fetch(addr).map_or(0.0, |m| m.sum("k8sensus_api_errors_total"))
}

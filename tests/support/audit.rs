//! kube-apiserver's audit log: a control plane that writes one (a bin dir whose
//! kube-apiserver is a wrapper adding the audit flags, for `K8SENSUS_CONTROL_PLANE_BIN`), and
//! what it says, request by request. The benchmark counts the replicas' requests from it:
//! each replica has a ServiceAccount of its own, so each request names the replica that made
//! it.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// One event per request made by a ServiceAccount (the replicas), at level Metadata; nothing
/// for anyone else (the admin, the driver's own watch).
pub const AUDIT_POLICY: &str = "\
# The benchmark: one event per request made by a ServiceAccount (the replicas), Metadata only.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [\"RequestReceived\"]
rules:
  - level: Metadata
    userGroups: [\"system:serviceaccounts\"]
  - level: None
";

/// Makes `dir` a bin dir for `K8SENSUS_CONTROL_PLANE_BIN`: every binary of `real` (as
/// `hack/control-plane/controlplane.py build` prints it) linked, and kube-apiserver wrapped
/// to add the audit flags, its policy beside it, its log to `audit_log`. controlplane.py
/// itself is unchanged. One per control plane: each has its own audit log.
pub fn audit_bin_dir(real: &Path, dir: &Path, audit_log: &Path) -> Result<PathBuf, String> {
    let fail = |what: &str, e: std::io::Error| format!("{what} in {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the bin dir", e))?;
    let entries = std::fs::read_dir(real).map_err(|e| {
        format!(
            "cannot read the control plane's binaries in {}: {e}",
            real.display()
        )
    })?;
    for entry in entries.flatten() {
        if entry.file_name() != "kube-apiserver" {
            std::os::unix::fs::symlink(entry.path(), dir.join(entry.file_name()))
                .map_err(|e| fail("cannot link a binary", e))?;
        }
    }
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(&policy, AUDIT_POLICY).map_err(|e| fail("cannot write the audit policy", e))?;
    let wrapper = dir.join("kube-apiserver");
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n# The benchmark: kube-apiserver with an audit log of the replicas' requests\n\
             exec {} \"$@\" --audit-policy-file={} --audit-log-path={} \
             --audit-log-format=json --audit-log-mode=blocking\n",
            quote(&real.join("kube-apiserver")),
            quote(&policy),
            quote(audit_log)
        ),
    )
    .map_err(|e| fail("cannot write the kube-apiserver wrapper", e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| fail("cannot make the wrapper executable", e))?;
    Ok(dir.to_path_buf())
}

/// One request, from its audit events.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRequest {
    pub verb: String,
    /// `requestReceivedTimestamp`, seconds since the epoch.
    pub t: f64,
    /// The response's status code, once an event has it.
    pub code: Option<i64>,
    pub stage: Option<String>,
    /// `objectRef.resource`, or the request's URI when it has none.
    pub resource: String,
}

/// Requests by user name, then by auditID.
pub type AuditByUser = BTreeMap<String, BTreeMap<String, AuditRequest>>;

/// Every request (only those for Leases with `leases_only`) received in `[t0, t1]`, by user
/// and auditID: each request once, with its status code from whichever of its events has
/// one. A missing file reads as no requests; lines that are not JSON are skipped.
pub fn audit_counts(audit_log: &Path, t0: f64, t1: f64, leases_only: bool) -> AuditByUser {
    let mut seen = AuditByUser::new();
    let Ok(file) = std::fs::File::open(audit_log) else {
        return seen;
    };
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        let Ok(e) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let resource = e["objectRef"]["resource"].as_str();
        if leases_only && resource != Some("leases") {
            continue;
        }
        let Some(t) = e["requestReceivedTimestamp"].as_str().and_then(parse_time) else {
            continue;
        };
        if t < t0 || t > t1 {
            continue;
        }
        let user = e["user"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(id) = e["auditID"].as_str() else {
            continue;
        };
        let code = e["responseStatus"]["code"].as_i64();
        let requests = seen.entry(user).or_default();
        let known = requests.get(id).map(|r| r.code);
        if known.is_none() || (code.is_some() && known == Some(None)) {
            requests.insert(
                id.to_string(),
                AuditRequest {
                    verb: e["verb"].as_str().unwrap_or_default().to_string(),
                    t,
                    code,
                    stage: e["stage"].as_str().map(str::to_string),
                    resource: resource
                        .or_else(|| e["requestURI"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                },
            );
        }
    }
    seen
}

/// Every request of the replicas in `namespaces` (namespace → the key to count it under)
/// received in `[t0, t1]`: `{key: {"resource verb code": n}}`.
pub fn audit_totals(
    audit_log: &Path,
    namespaces: &BTreeMap<String, String>,
    t0: f64,
    t1: f64,
) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (user, requests) in audit_counts(audit_log, t0, t1, false) {
        let parts: Vec<&str> = user.split(':').collect();
        let ns = if parts.len() == 4 { parts[2] } else { "" };
        let Some(key) = namespaces.get(ns) else {
            continue;
        };
        let counts = out.entry(key.clone()).or_default();
        for q in requests.values() {
            *counts.entry(request_key(q)).or_default() += 1;
        }
    }
    out
}

/// `"resource verb code"`, as the results count requests.
pub fn request_key(q: &AuditRequest) -> String {
    let code = q.code.map_or("None".to_string(), |c| c.to_string());
    format!("{} {} {code}", q.resource, q.verb)
}

/// The user name the API server gives ServiceAccount `sa` of namespace `ns`.
pub fn service_account_user(ns: &str, sa: &str) -> String {
    format!("system:serviceaccount:{ns}:{sa}")
}

/// An RFC 3339 time as seconds since the epoch.
pub fn parse_time(s: &str) -> Option<f64> {
    let t: Timestamp = s.parse().ok()?;
    Some(t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9)
}

//! One trial's replicas: each a real process behind its own fault-injecting proxy, in a fresh
//! namespace with rbac.yaml applied, and what the trial asks of them (have they converged on
//! one working leader? every term of work so far? everything they printed?).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8sensus::log_event;

use crate::support::lease_watch::LeaseWatcher;
use crate::support::overlap::{self, Term};
use crate::support::proxy::{Proxy, socket_addr_of};
use crate::support::{LEASE, Replica, SpawnOptions, TestNamespace, wait_for};
use crate::{T, TASK_PERIOD};

/// Replicas and their proxies in a fresh namespace. Dropping it kills the replicas, stops the
/// proxies and the Lease watcher, and deletes the namespace (fields drop in this order).
pub struct Fleet {
    pub replicas: Vec<Replica>,
    /// The identity each replica writes into the Lease (its name, unless chosen otherwise).
    identities: Vec<String>,
    pub proxies: Vec<Proxy>,
    pub watcher: Option<LeaseWatcher>,
    pub ns: TestNamespace,
}

impl Fleet {
    pub fn new(prefix: &str) -> Self {
        Self {
            replicas: Vec::new(),
            identities: Vec::new(),
            proxies: Vec::new(),
            watcher: None,
            ns: TestNamespace::new(prefix),
        }
    }

    /// A proxy to the API server and a kubeconfig for the ServiceAccount that goes through it.
    pub fn prepare(&self, name: &str) -> (Proxy, PathBuf) {
        let proxy = Proxy::start(socket_addr_of(&self.ns.cp.server));
        let text = std::fs::read_to_string(&self.ns.sa_kubeconfig).expect("read the kubeconfig");
        let direct = format!("server: {}\n", self.ns.cp.server);
        assert!(text.contains(&direct), "unexpected kubeconfig:\n{text}");
        let via_proxy = text.replace(&direct, &format!("server: {}\n", proxy.url()));
        let path = self
            .ns
            .cp
            .dir
            .join(format!("{}-{name}-proxied.kubeconfig", self.ns.name));
        std::fs::write(&path, via_proxy).expect("write the kubeconfig");
        (proxy, path)
    }

    /// Starts a k8sensus replica called `name` behind `proxy`, with the trial's timings and
    /// task period; returns its index.
    pub fn spawn(
        &mut self,
        name: &str,
        proxy: Proxy,
        kubeconfig: &Path,
        env: Vec<(String, String)>,
    ) -> usize {
        let options = SpawnOptions {
            task_period: format!("{}ms", TASK_PERIOD.as_millis()),
            env,
            echo: false,
        };
        let identity = options
            .env
            .iter()
            .find(|(k, _)| k == "POD_NAME")
            .map_or(name.to_string(), |(_, v)| v.clone());
        let replica = Replica::spawn_with(name, &self.ns.name, kubeconfig, T, &[], &options);
        self.replicas.push(replica);
        self.identities.push(identity);
        self.proxies.push(proxy);
        self.replicas.len() - 1
    }

    pub fn add(&mut self, name: &str, env: Vec<(String, String)>) -> usize {
        let (proxy, kubeconfig) = self.prepare(name);
        self.spawn(name, proxy, &kubeconfig, env)
    }

    /// A replica called `name` (in the results) that runs with another's `identity`.
    pub fn add_as(&mut self, name: &str, identity: &str) -> usize {
        self.add(name, vec![("POD_NAME".into(), identity.into())])
    }

    /// A client-go reference replica, with the same timings and task period.
    pub fn add_client_go(&mut self, name: &str, binary: &Path) -> usize {
        let (proxy, kubeconfig) = self.prepare(name);
        let go = |d: Duration| format!("{}ms", d.as_millis());
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--"])
            .arg(binary)
            .arg(format!("--lease-name={LEASE}"))
            .arg(format!("--lease-namespace={}", self.ns.name))
            .arg(format!("--identity={name}"))
            .arg(format!("--lease-duration={}", go(T.lease_duration)))
            .arg(format!("--renew-deadline={}", go(T.renew_deadline)))
            .arg(format!("--retry-period={}", go(T.retry_period)))
            .arg(format!("--task-period={}", go(TASK_PERIOD)))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", &kubeconfig);
        self.replicas.push(Replica::spawn_command(name, cmd, false));
        self.identities.push(name.to_string());
        self.proxies.push(proxy);
        self.replicas.len() - 1
    }

    pub fn watch_lease(&mut self) {
        self.watcher = Some(LeaseWatcher::start(
            &self.ns.cp.kubeconfig,
            Some(&self.ns.name),
        ));
    }

    /// Waits until exactly one replica (of those not in `gone`) says it leads, the Lease names
    /// it, and it has run the sample task since it took the Lease.
    pub async fn converged(&self, gone: &[String], timeout: Duration) -> Result<usize, String> {
        self.converged_after(gone, 0, 1, timeout).await
    }

    /// Like [`Fleet::converged`], and the leader has run the task `runs` times after
    /// `after_ns`.
    pub async fn converged_after(
        &self,
        gone: &[String],
        after_ns: u64,
        runs: usize,
        timeout: Duration,
    ) -> Result<usize, String> {
        let found = wait_for(timeout, || async {
            let holder = self.ns.holder().await?;
            let leading: Vec<usize> = (0..self.replicas.len())
                .filter(|&i| !gone.contains(&self.replicas[i].name))
                .filter(|&i| self.replicas[i].says_leading())
                .collect();
            let [only] = leading[..] else { return None };
            let replica = &self.replicas[only];
            if self.identities[only] != holder {
                return None;
            }
            // Its latest acquisition: k8sensus and the client-go reference both log `acquired`.
            let logs = replica.logs();
            let acquired = logs
                .iter()
                .rposition(|l| l.json["event"] == log_event::ACQUIRED)?;
            let recent = logs[acquired..]
                .iter()
                .filter(|l| overlap::is_run(l))
                .filter(|l| l.json["mono_ns"].as_u64().is_some_and(|m| m > after_ns))
                .count();
            (recent >= runs).then_some(only)
        })
        .await;
        found.ok_or_else(|| {
            let leading: Vec<&str> = self
                .replicas
                .iter()
                .filter(|r| r.says_leading())
                .map(|r| r.name.as_str())
                .collect();
            format!(
                "the replicas did not converge on one working leader within {timeout:?} (saying they lead: {leading:?})"
            )
        })
    }

    /// Every term of every replica, from their logs so far.
    pub fn terms(&self) -> Vec<Term> {
        self.replicas
            .iter()
            .flat_map(|r| overlap::terms_in_logs(&r.name, &r.logs()))
            .collect()
    }

    /// Kills every replica that still runs, and lets their log readers drain.
    pub async fn stop(&mut self) {
        for r in &mut self.replicas {
            r.kill9();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Every replica's whole output, for a failed trial.
    pub fn dump(&self) -> String {
        let mut text = String::new();
        for r in &self.replicas {
            text.push_str(&format!("===== {} =====\n{}\n", r.name, r.raw_output()));
        }
        if let Some(w) = &self.watcher {
            text.push_str("===== the Lease as the test watched it =====\n");
            for e in w.all(&self.ns.name) {
                text.push_str(&format!("{:?} {} {:?}\n", e.at, e.kind.name(), e.holder));
            }
        }
        text
    }
}

//! Real-world networks and credentials, against the real kube-apiserver: proxies, silently
//! dropped connections, rights revoked or never granted, exec-plugin certificates that expire,
//! the probe server's addresses and idle connections, and a log reader that goes away.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8sensus::log_event::{ACQUIRED, NEW_LEADER, RELEASED, WORK_RUN, WORK_STARTED};

use crate::command::{k8sensus, status};
use crate::support::proxy::{Proxy, socket_addr_of};
use crate::support::*;

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A kubeconfig like `base`, with `edit` applied to its text, written next to it.
fn kubeconfig_like(base: &Path, tag: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(base).unwrap();
    let path = base.with_file_name(format!("{tag}-{}.kubeconfig", random_suffix()));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// A minimal HTTP CONNECT proxy on loopback that records every CONNECT target.
struct ConnectProxy {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { break };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read_exact(&mut byte).is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head
                        .strip_prefix("CONNECT ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .unwrap_or("")
                        .to_string();
                    seen.lock().unwrap().push(target.clone());
                    let Ok(upstream) = TcpStream::connect(&target) else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let (mut c2, mut u2) =
                        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    let (mut c1, mut u1) = (client, upstream);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut u2);
                        let _ = u2.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut u1, &mut c1);
                    let _ = c1.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self { addr, targets }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

/// The API server's `host:port`.
fn api_authority() -> String {
    socket_addr_of(&control_plane().server).to_string()
}

// -------------------------------------------------------------------------------------------
// Proxies
// -------------------------------------------------------------------------------------------

/// HTTPS_PROXY names a proxy, but NO_PROXY names the API server: k8sensus connects directly
/// and never touches the proxy (here a listener that would record any connection).
#[test]
fn env_proxy_bypassed_by_no_proxy() {
    let ns = TestNamespace::new("noproxy");
    let tripwire = TcpListener::bind("127.0.0.1:0").unwrap();
    tripwire.set_nonblocking(true).unwrap();
    let proxy = format!("http://{}", tripwire.local_addr().unwrap());
    let kubeconfig = ns.sa_kubeconfig.to_string_lossy().into_owned();
    let out = run_to_end(
        status(
            &[],
            &ns.name,
            &[
                ("KUBECONFIG", &kubeconfig),
                ("HTTPS_PROXY", &proxy),
                ("NO_PROXY", "127.0.0.1,localhost"),
            ],
        ),
        Duration::from_secs(20),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("does not exist yet"), "{stdout}");
    assert!(
        tripwire.accept().is_err(),
        "the proxy was used despite NO_PROXY"
    );
}

/// An env proxy that applies is used: the request reaches the API server through an HTTP
/// CONNECT tunnel, and a replica leads through it.
#[test]
fn env_proxy_that_applies_is_used() {
    let ns = TestNamespace::new("envproxy");
    let proxy = ConnectProxy::start();
    let kubeconfig = ns.sa_kubeconfig.to_string_lossy().into_owned();
    let out = run_to_end(
        status(
            &[],
            &ns.name,
            &[("KUBECONFIG", &kubeconfig), ("HTTPS_PROXY", &proxy.url())],
        ),
        Duration::from_secs(20),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("does not exist yet"), "{stdout}");
    assert!(
        proxy.targets().contains(&api_authority()),
        "no CONNECT to {} through the proxy: {:?}",
        api_authority(),
        proxy.targets()
    );
}

/// A kubeconfig's proxy-url is used even when NO_PROXY names the server, as in client-go;
/// an unsupported proxy-url scheme is refused naming where it came from.
#[test]
fn kubeconfig_proxy_url_is_used() {
    let ns = TestNamespace::new("kcproxy");
    let proxy = ConnectProxy::start();
    let with_proxy = kubeconfig_like(&ns.sa_kubeconfig, "proxied", |t| {
        t.replace(
            "    certificate-authority:",
            &format!("    proxy-url: {}\n    certificate-authority:", proxy.url()),
        )
    });
    let out = run_to_end(
        status(
            &[],
            &ns.name,
            &[
                ("KUBECONFIG", with_proxy.to_str().unwrap()),
                ("NO_PROXY", "127.0.0.1"),
            ],
        ),
        Duration::from_secs(20),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        proxy.targets().contains(&api_authority()),
        "{:?}",
        proxy.targets()
    );

    let socks = kubeconfig_like(&ns.sa_kubeconfig, "socks", |t| {
        t.replace(
            "    certificate-authority:",
            "    proxy-url: socks5://127.0.0.1:1080\n    certificate-authority:",
        )
    });
    let out = run_to_end(
        status(&[], &ns.name, &[("KUBECONFIG", socks.to_str().unwrap())]),
        Duration::from_secs(20),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("proxy-url in the kubeconfig"), "{stderr}");
}

// -------------------------------------------------------------------------------------------
// Dead connections
// -------------------------------------------------------------------------------------------

/// The standby's connections are silently dropped (no FIN, no RST: a conntrack entry or a
/// load balancer gone), then the leader is SIGTERMed. The standby must not wait for its next
/// resync (minutes) or the lease duration to see the release: its watch may be silent for at
/// most three retry periods before it is re-established.
#[tokio::test]
async fn standby_behind_silently_dropped_connections_sees_a_release() {
    let t = Timings::REAL;
    let ns = TestNamespace::new("severed");
    let mut leader = ns.replica("pod-a", t, &[]);
    // pod-a created the Lease, so its work starts one lease duration later; only a term whose
    // work has started releases the Lease on SIGTERM (see "A missing Lease" in the README).
    wait_for(Duration::from_secs(30), || async {
        (!leader.events(WORK_RUN).is_empty()).then_some(())
    })
    .await
    .expect("pod-a leads and works");
    let proxy = Proxy::start(socket_addr_of(&ns.cp.server));
    let via_proxy = ns.kubeconfig_via("via-proxy", &proxy.url());
    let standby = Replica::spawn("pod-b", &ns.name, &via_proxy, t, &[]);
    wait_for(Duration::from_secs(20), || async {
        let announced = standby.events(NEW_LEADER);
        announced
            .iter()
            .any(|l| l.field("holder") == Some("pod-a"))
            .then_some(())
    })
    .await
    .expect("pod-b stands by");
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.sever();
    tokio::time::sleep(Duration::from_secs(1)).await;
    leader.signal("TERM");
    let status = leader
        .wait_exit(Duration::from_secs(15))
        .expect("the leader exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    let released = leader.events(RELEASED).first().expect("released").at;
    wait_for(Duration::from_secs(30), || async {
        (ns.holder().await.as_deref() == Some("pod-b")).then_some(())
    })
    .await
    .expect("pod-b takes over");
    let took = standby
        .events(ACQUIRED)
        .first()
        .expect("pod-b logged its acquisition")
        .at
        .duration_since(released);
    eprintln!("handover with silently dropped connections: {took:?} after the release");
    assert!(
        took < t.lease_duration / 2,
        "took {took:?}: the standby did not notice its dead watch"
    );
    assert_no_panics(&[standby]);
}

/// A second SIGTERM exits at once, with status 1, when the orderly shutdown is stuck: here
/// the leader's release hangs on an API server that no longer answers (its budget is the
/// renew deadline). The Lease is then not released; it expires.
#[tokio::test]
async fn a_second_sigterm_exits_at_once() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("second-term");
    let proxy = Proxy::start(socket_addr_of(&ns.cp.server));
    let via_proxy = ns.kubeconfig_via("via-proxy", &proxy.url());
    let mut leader = Replica::spawn("pod-a", &ns.name, &via_proxy, t, &[]);
    // Only a term whose work has started releases the Lease on SIGTERM.
    wait_for(Duration::from_secs(30), || async {
        (!leader.events(WORK_STARTED).is_empty()).then_some(())
    })
    .await
    .expect("pod-a leads and works");

    proxy.blackhole();
    leader.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        leader.is_running(),
        "the release should still be waiting for the API server"
    );
    let sent = Instant::now();
    leader.signal("TERM");
    let status = leader
        .wait_exit(Duration::from_secs(5))
        .expect("the second SIGTERM ends the process");
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(1), "{}", leader.raw_output());
    assert!(
        took < t.renew_deadline / 2,
        "took {took:?}: the second SIGTERM should not wait for the release"
    );
    assert!(
        !leader
            .lines_with("received SIGTERM again: exiting at once")
            .is_empty(),
        "{}",
        leader.raw_output()
    );
    assert!(leader.events(RELEASED).is_empty(), "the lease was released");
    assert_no_panics(&[leader]);
}

// -------------------------------------------------------------------------------------------
// Rights that change
// -------------------------------------------------------------------------------------------

/// Rights revoked after the replicas started (the RoleBinding deleted): every 403 is retried
/// for a bounded time only, then each replica exits 1 naming the refused verb and resource
/// and pointing to rbac.yaml.
#[tokio::test]
async fn revoked_rights_end_in_an_error_naming_the_verb() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("revoked");
    let mut replicas = ns.replicas(&["pod-a", "pod-b"], t, &[]);
    wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ns.cp.kubectl_ok(&[
        "delete",
        "rolebinding",
        "k8sensus-leader-election",
        "-n",
        &ns.name,
    ]);
    let revoked = Instant::now();
    // Leader: renew deadline, then the refusal bound (30 s) and a backoff step.
    let limit =
        t.renew_deadline + Duration::from_secs(30) + t.lease_duration + Duration::from_secs(5);
    for r in replicas.iter_mut() {
        let status = r.wait_exit(limit.saturating_sub(revoked.elapsed()));
        let out = r.raw_output();
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{} should exit 1 within {limit:?} of losing its rights:\n{out}",
            r.name
        );
        eprintln!(
            "{} exited {:?} after the RoleBinding was deleted",
            r.name,
            revoked.elapsed()
        );
        let last = r
            .logs()
            .last()
            .map(|l| l.message().to_string())
            .unwrap_or_default();
        assert!(last.contains("leases"), "{last}");
        assert!(
            ["get", "update", "watch", "create"]
                .iter()
                .any(|v| last.contains(&format!("to {v} lease"))),
            "{last}"
        );
        assert!(last.contains("rbac.yaml"), "{last}");
    }
    assert_no_panics(&replicas);
}

/// A Role without `watch` (get, create and update only, as many client-go Roles are): the
/// standby warns once, then polls quietly, and still takes a released Lease within one
/// jittered retry period.
#[tokio::test]
async fn a_role_without_watch_polls_quietly() {
    let t = Timings::SHORT;
    let ns = TestNamespace::bare("nowatch");
    let rbac = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: k8sensus, namespace: {ns}}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: no-watch, namespace: {ns}}}\n\
         rules:\n- apiGroups: [coordination.k8s.io]\n  resources: [leases]\n  verbs: [get, create, update]\n\
         - apiGroups: ['']\n  resources: [events]\n  verbs: [create]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: no-watch, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: no-watch}}\n\
         subjects:\n- {{kind: ServiceAccount, name: k8sensus, namespace: {ns}}}\n",
        ns = ns.name
    );
    let (ok, _, err) = ns
        .cp
        .kubectl_as(&ns.cp.kubeconfig, &["apply", "-f", "-"], Some(&rbac));
    assert!(ok, "{err}");
    let kubeconfig = ns.kubeconfig_for_service_account("k8sensus");
    let mut replicas: Vec<Replica> = ["pod-a", "pod-b"]
        .iter()
        .map(|n| Replica::spawn(n, &ns.name, &kubeconfig, t, &[]))
        .collect();
    let leader = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let standby = 1 - leader;
    let warnings: Vec<String> = replicas[standby]
        .logs()
        .iter()
        .filter(|l| l.json["level"] == "WARN")
        .map(|l| l.message().to_string())
        .collect();
    eprintln!("the standby's warnings over 6 s: {warnings:#?}");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("grant watch on leases"),
        "{warnings:#?}"
    );
    assert!(warnings[0].contains("polling every"), "{warnings:#?}");

    let (new, took) = sigterm_and_time_takeover(&ns, &mut replicas, leader).await;
    eprintln!("{new} took over {took:?} after the release, polling");
    assert!(
        took < t.retry_period.mul_f64(2.2) + Duration::from_secs(1),
        "took {took:?}"
    );
    assert_no_panics(&replicas);
}

// -------------------------------------------------------------------------------------------
// Exec-plugin certificates
// -------------------------------------------------------------------------------------------

/// An exec plugin hands out a client certificate that expires 12 s from now. Before then the
/// replica stops its work, releases the Lease and exits 1 saying why, so that it is restarted
/// with a fresh certificate, rather than failing every request once the certificate expires.
#[tokio::test]
async fn an_expiring_exec_certificate_ends_in_a_graceful_exit() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("execcert");
    let cp = ns.cp;
    let expires =
        k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(12);
    let plugin = cp.dir.join(format!("exec-plugin-{}.sh", random_suffix()));
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nexec python3 -c 'import json; print(json.dumps({{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": {{\"clientCertificateData\": open(\"{crt}\").read(), \"clientKeyData\": open(\"{key}\").read(), \"expirationTimestamp\": \"{expires}\"}}}}))'\n",
            crt = cp.dir.join("admin.crt").display(),
            key = cp.dir.join("admin.key").display(),
            expires = expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kubeconfig = cp.dir.join(format!("exec-{}.kubeconfig", random_suffix()));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: exec\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\ncontexts:\n- name: exec\n  context: {{cluster: local, user: exec}}\ncurrent-context: exec\n",
            cp.server,
            cp.ca_file.display(),
            plugin.display()
        ),
    )
    .unwrap();
    let mut replica = Replica::spawn("pod-a", &ns.name, &kubeconfig, t, &[]);
    wait_for(Duration::from_secs(20), || async {
        (ns.holder().await.as_deref() == Some("pod-a")).then_some(())
    })
    .await
    .expect("pod-a leads with the exec plugin's certificate");
    let status = replica.wait_exit(Duration::from_secs(20));
    let out = replica.raw_output();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{out}");
    assert!(!replica.events(RELEASED).is_empty(), "{out}");
    assert!(out.contains("exec plugin"), "{out}");
    assert_eq!(ns.holder().await, None, "the lease was released");
    assert_no_panics(&[replica]);
}

// -------------------------------------------------------------------------------------------
// The probe server
// -------------------------------------------------------------------------------------------

/// `--probe-addr :PORT` answers on IPv4 and IPv6 loopback alike, and a connection that sends
/// nothing is closed after the header timeout instead of staying open.
#[test]
fn probes_answer_on_ipv4_and_ipv6_and_close_idle_connections() {
    let ns = TestNamespace::new("probeaddr");
    let kubeconfig = ns.sa_kubeconfig.to_string_lossy().into_owned();
    let mut child = k8sensus(
        &[
            "--lease-name",
            LEASE,
            "--lease-namespace",
            &ns.name,
            "--probe-addr",
            ":0",
        ],
        &[
            ("KUBECONFIG", &kubeconfig),
            ("POD_NAME", "pod-a"),
            ("LOG_FORMAT", "json"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let output = Output::follow(child.stderr.take().unwrap(), "pod-a", true);
    let start = Instant::now();
    let line = loop {
        let logged = output
            .logs()
            .into_iter()
            .find(|l| l.field("probe_addr").is_some());
        if let Some(line) = logged {
            break line;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the probe server starts and logs its address"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let addr: SocketAddr = line.field("probe_addr").unwrap().parse().unwrap();
    assert_eq!(addr.ip().to_string(), "::", "{}", line.json);
    for host in ["127.0.0.1", "[::1]"] {
        let at = format!("{host}:{}", addr.port());
        let answer = http_get(&at, "/healthz");
        assert_eq!(answer.map(|(c, _)| c), Some(200), "/healthz on {at}");
    }

    let mut idle = TcpStream::connect(("127.0.0.1", addr.port())).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let opened = Instant::now();
    let mut buf = [0u8; 64];
    let n = idle.read(&mut buf);
    let after = opened.elapsed();
    eprintln!("an idle probe connection was closed after {after:?} ({n:?})");
    assert!(matches!(n, Ok(0)) || n.is_err() && after < Duration::from_secs(39));
    assert!(after < Duration::from_secs(8), "open for {after:?}");
    let _ = child.kill();
    let _ = child.wait();
}

// -------------------------------------------------------------------------------------------
// A log reader that goes away
// -------------------------------------------------------------------------------------------

/// `k8sensus ... 2>&1 | grep -m1 "new leader"`: once the reader is gone, the leader shuts
/// down as on SIGTERM (work stopped, Lease released, exit 0) instead of panicking, and the
/// standby takes over at once.
#[tokio::test]
async fn a_closed_log_stream_shuts_the_leader_down_gracefully() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("closedlog");
    let kubeconfig = ns.sa_kubeconfig.to_string_lossy().into_owned();
    let mut leader = k8sensus(
        &[
            "--lease-name",
            LEASE,
            "--lease-namespace",
            &ns.name,
            "--probe-addr",
            "127.0.0.1:0",
            "--lease-duration=4s",
            "--renew-deadline=3s",
            "--retry-period=500ms",
            "--task-period=1s",
        ],
        &[("KUBECONFIG", &kubeconfig), ("POD_NAME", "pod-a")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Read (plain lines, the default) up to the first that announces a new leader, then
    // close the pipe, as grep -m1 does.
    let stderr = leader.stderr.take().unwrap();
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    let start = Instant::now();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0
            || start.elapsed() > Duration::from_secs(30)
        {
            panic!("pod-a never announced a new leader");
        }
        eprint!("[pod-a] {line}");
        if parse_line(&line).is_some_and(|l| l["event"] == NEW_LEADER) {
            break;
        }
    }
    drop(reader);
    let standby = ns.replica("pod-b", t, &[]);
    let exit = wait_exit(&mut leader, Duration::from_secs(15));
    if exit.is_none() {
        let _ = leader.kill();
    }
    eprintln!("pod-a exited with {exit:?} after its log reader went away");
    assert_eq!(
        exit.and_then(|s| s.code()),
        Some(0),
        "pod-a should exit 0, not panic (101)"
    );
    let taken = wait_for(Duration::from_secs(3), || async {
        (ns.holder().await.as_deref() == Some("pod-b")).then_some(())
    })
    .await;
    assert!(
        taken.is_some(),
        "pod-b should take the released lease at once"
    );

    // What `status` prints for a released Lease.
    let mut standby = standby;
    standby.signal("TERM");
    assert_eq!(
        standby
            .wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
    let out = run_to_end(
        status(&[], &ns.name, &[("KUBECONFIG", &kubeconfig)]),
        Duration::from_secs(20),
    );
    let stdout = text(&out.stdout);
    eprintln!("status of a released lease:\n{stdout}");
    assert!(stdout.contains("released     "), "{stdout}");
    assert!(!stdout.contains("acquired"), "{stdout}");
}

// -------------------------------------------------------------------------------------------
// k8sensus status
// -------------------------------------------------------------------------------------------

/// Against a server that is not there, `status` names the address and hints at the control
/// plane and KUBECONFIG; on a 403 it names the verb and the resource and points to rbac.yaml.
#[test]
fn status_errors_say_what_to_do() {
    let ns = TestNamespace::new("statuserr");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    let stopped = ns.kubeconfig_via("stopped", &dead);
    let out = run_to_end(
        k8sensus(
            &["status", "--lease-name", LEASE],
            &[("KUBECONFIG", stopped.to_str().unwrap())],
        ),
        Duration::from_secs(30),
    );
    let stderr = text(&out.stderr);
    eprintln!("status against a stopped server:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&dead), "{stderr}");
    assert!(stderr.contains("make control-plane"), "{stderr}");
    assert!(stderr.contains("KUBECONFIG"), "{stderr}");

    // The ServiceAccount has rights in its own namespace only.
    let kubeconfig = ns.sa_kubeconfig.to_string_lossy().into_owned();
    let out = run_to_end(
        status(&[], "default", &[("KUBECONFIG", &kubeconfig)]),
        Duration::from_secs(30),
    );
    let stderr = text(&out.stderr);
    eprintln!("status without the rights:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("to get leases in namespace default"),
        "{stderr}"
    );
    assert!(stderr.contains("rbac.yaml"), "{stderr}");
    assert!(!stderr.contains("Status {"), "{stderr}");
}

/// `status --watch` on a Lease that never existed says so, like plain `status`; when its
/// connection goes silent it says, once, that it lost the API server and that what it shows
/// is stale; when the connection is back it says so.
#[tokio::test]
async fn status_watch_reports_a_lost_api_server_once() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("statuswatch");
    let proxy = Proxy::start(socket_addr_of(&ns.cp.server));
    let via_proxy = ns.kubeconfig_via("status-proxy", &proxy.url());
    let mut watcher = status(
        &["--watch"],
        &ns.name,
        &[("KUBECONFIG", via_proxy.to_str().unwrap())],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = Output::follow(watcher.stdout.take().unwrap(), "status", true);
    let _err = Output::follow(watcher.stderr.take().unwrap(), "status stderr", true);
    out.wait_for("does not exist yet", Duration::from_secs(10))
        .expect("a Lease that never existed is said not to exist yet");
    assert_eq!(out.count("was deleted"), 0);

    let _replica = ns.replica("pod-a", t, &[]);
    out.wait_for("pod-a holds the lease", Duration::from_secs(20))
        .or_else(|| out.wait_for("pod-a acquired", Duration::from_secs(1)))
        .expect("status shows the new holder");

    proxy.blackhole();
    let lost_at = Instant::now();
    out.wait_for("lost the API server", Duration::from_secs(30))
        .expect("status says it lost the API server");
    eprintln!(
        "status said it lost the API server {:?} after the blackhole",
        lost_at.elapsed()
    );
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(out.count("lost the API server"), 1, "{:#?}", out.lines());
    assert_eq!(out.count("is stale: last news"), 1, "{:#?}", out.lines());

    proxy.pass();
    out.wait_for("reached the API server again", Duration::from_secs(20))
        .expect("status says when it is current again");
    let _ = watcher.kill();
    let _ = watcher.wait();
}

/// `k8sensus status --watch | head -1`: once the reader is gone, the next line it prints
/// ends it quietly with status 0, rather than a panic or printing into the void for ever.
#[tokio::test]
async fn status_watch_exits_when_its_reader_goes_away() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("statushead");
    let _replica = ns.replica("pod-a", t, &[]);
    wait_for_leader(
        &ns,
        std::slice::from_ref(&_replica),
        Duration::from_secs(30),
    )
    .await;
    let kubeconfig = ns.sa_kubeconfig.to_string_lossy().into_owned();
    let mut watcher = status(&["--watch"], &ns.name, &[("KUBECONFIG", &kubeconfig)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(watcher.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    eprintln!("[status] {first}");
    // The reader is dropped here: stdout is closed. The leader renews every 0.5 s.
    let exit = wait_exit(&mut watcher, Duration::from_secs(10));
    if exit.is_none() {
        let _ = watcher.kill();
    }
    let mut stderr = String::new();
    let _ = watcher.stderr.take().unwrap().read_to_string(&mut stderr);
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

//! A TCP proxy with a fault switch, one per replica, between it and kube-apiserver.
//!
//! The proxy forwards bytes and never looks at them: TLS passes through untouched, so the
//! replica still verifies the API server's certificate (it has SAN IP:127.0.0.1, and the
//! proxy listens on 127.0.0.1 too). What it does with the bytes is switched at run time:
//!
//! - [`Mode::Pass`]: forward as they come.
//! - [`Mode::Latency`]: forward each chunk, each way, that long after it arrived. Chunks keep
//!   their order, and a chunk already on its way is still delivered after the mode changes,
//!   as on a real slow link: a request the client gave up on may still reach the server.
//! - [`Mode::Blackhole`]: accept and read, never forward, never answer. Open connections stop
//!   forwarding too (what they carried meanwhile is lost, so once healed they are broken and
//!   the client has to dial again); connections accepted during the blackhole stay dead.
//! - [`Mode::Reset`]: close every open connection at once with a TCP RST, and reset each new
//!   one as soon as it is accepted.
//!
//! Apart from the modes, [`Proxy::sever`] silently kills the connections open at that moment
//! (they forward nothing more, and are never closed: no FIN, no RST, as when a conntrack entry
//! or a load balancer drops them), while new connections work as the mode says.
//!
//! The proxy runs on its own thread with its own tokio runtime, so it keeps working whatever
//! the test's runtime is doing (blocked in a `kubectl` call, say), and it stops, closing every
//! connection, when the [`Proxy`] is dropped.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

/// What the proxy does with the bytes it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Latency(Duration),
    Blackhole,
    Reset,
}

/// A running proxy. Dropping it stops it.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Bumped by [`Proxy::sever`]: connections accepted in an earlier epoch go silent.
    epoch: watch::Sender<u64>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`, in [`Mode::Pass`].
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("make the proxy's listener non-blocking");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, modes) = watch::channel(Mode::Pass);
        let (epoch, epochs) = watch::channel(0u64);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the proxy's runtime");
                runtime.block_on(accept_loop(listener, upstream, modes, epochs, stopped));
                // Dropping the runtime drops every connection task, closing their sockets.
            })
            .expect("start the proxy's thread");
        Self {
            addr,
            mode,
            epoch,
            stop,
            thread: Some(thread),
        }
    }

    /// Silently kills every connection open now: from here on they forward nothing, and stay
    /// open without a FIN or a RST until the client gives up on them. Later connections are
    /// not affected.
    pub fn sever(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`, for a kubeconfig.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn pass(&self) {
        self.set(Mode::Pass);
    }

    pub fn latency(&self, delay: Duration) {
        self.set(Mode::Latency(delay));
    }

    pub fn blackhole(&self) {
        self.set(Mode::Blackhole);
    }

    pub fn reset(&self) {
        self.set(Mode::Reset);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `https://127.0.0.1:6443` (or any URL whose authority is an IP and port) as an address.
pub fn socket_addr_of(url: &str) -> SocketAddr {
    let authority = url.split("://").nth(1).unwrap_or(url).trim_end_matches('/');
    authority
        .parse()
        .unwrap_or_else(|e| panic!("{url:?} does not end in IP:PORT: {e}"))
}

async fn accept_loop(
    listener: std::net::TcpListener,
    upstream: SocketAddr,
    modes: watch::Receiver<Mode>,
    epochs: watch::Receiver<u64>,
    stop: CancellationToken,
) {
    let listener = TcpListener::from_std(listener).expect("register the proxy's listener");
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    let severed = severed(epochs.clone(), *epochs.borrow());
                    connections.spawn(connection(client, upstream, modes.clone(), severed));
                }
            }
            // Reap finished connections so the set does not grow for ever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Resolves, with nothing, once the epoch moves past `epoch`; never if the proxy is going away.
async fn severed(mut epochs: watch::Receiver<u64>, epoch: u64) {
    loop {
        if *epochs.borrow_and_update() > epoch {
            return;
        }
        if epochs.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Closes `stream` with a RST rather than a FIN.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut modes: watch::Receiver<Mode>,
    severed: impl Future<Output = ()>,
) {
    let _ = client.set_nodelay(true);
    let mode = *modes.borrow_and_update();
    match mode {
        Mode::Reset => return abort(&client),
        Mode::Blackhole => return swallow(client, modes).await,
        Mode::Pass | Mode::Latency(_) => {}
    }
    let server = match TcpStream::connect(upstream).await {
        Ok(server) => server,
        // The API server is down: the client sees its connection reset.
        Err(_) => return abort(&client),
    };
    let _ = server.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let (up, down) = (modes.clone(), modes.clone());
    let (reset, severed) = tokio::select! {
        _ = async {
            tokio::join!(
                pump(&mut from_client, &mut to_server, up),
                pump(&mut from_server, &mut to_client, down),
            )
        } => (false, false),
        _ = until_reset(&mut modes) => (true, false),
        _ = severed => (false, true),
    };
    if severed {
        // The pumps stopped mid-flight; the sockets stay open, and nothing more passes.
        let _held = (from_client, to_client, from_server, to_server);
        return std::future::pending().await;
    }
    if reset {
        abort(from_client.as_ref());
        abort(from_server.as_ref());
        // Dropping a write half would send a FIN first; the RST must be all they see.
        to_client.forget();
        to_server.forget();
    }
}

/// Resolves when the mode becomes [`Mode::Reset`]; never if the proxy is going away.
async fn until_reset(modes: &mut watch::Receiver<Mode>) {
    loop {
        if *modes.borrow_and_update() == Mode::Reset {
            return;
        }
        if modes.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// A connection accepted during a blackhole: read and drop everything until the client gives
/// up, or reset it when the mode says so. Healing does not revive it.
async fn swallow(client: TcpStream, mut modes: watch::Receiver<Mode>) {
    let (mut from_client, to_client) = client.into_split();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = from_client.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = until_reset(&mut modes) => {
                abort(from_client.as_ref());
                return to_client.forget();
            }
        }
    }
}

/// One direction of a connection. Chunks are read as they come and handed to a writer with
/// the instant they are due; the writer keeps their order. At the end of the input the
/// writer delivers what is still due, then half-closes its side.
async fn pump(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, modes: watch::Receiver<Mode>) {
    let (chunks, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader_modes = modes.clone();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let now = Instant::now();
            let at = match *reader_modes.borrow() {
                Mode::Pass => now,
                Mode::Latency(delay) => now + delay,
                Mode::Blackhole | Mode::Reset => continue,
            };
            if chunks.send((at, buf[..n].to_vec())).is_err() {
                return;
            }
        }
        // Dropping `chunks` here tells the writer the input is over.
    };
    let writer = async move {
        while let Some((at, chunk)) = due.recv().await {
            sleep_until(at).await;
            if matches!(*modes.borrow(), Mode::Blackhole | Mode::Reset) {
                continue;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

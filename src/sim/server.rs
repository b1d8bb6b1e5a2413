//! The server handle ([`SimServer`]) and the connections under it. Each
//! connection is served by hyper on its own (not `axum::serve`) so that a
//! `connect` fault can drop the socket without sending a byte, with a TCP
//! reset, and so that `shutdown` can end hanging connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::routes::router;
use super::state::Shared;
use super::Scenario;

/// What the server saw for one model id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests that reached this model (each model tried by a `models`
    /// fallback array counts once).
    pub requests: u64,
    /// Responses whose client hung up before the end.
    pub cancelled: u64,
    /// Body bytes handed to the connection (headers not counted).
    pub bytes_sent: u64,
}

/// A running simulator. Dropping it stops it too (without waiting).
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Binds `listen` (use 127.0.0.1:0 for a free port) and serves in a spawned tokio task.
    pub async fn start(
        scenario: Scenario,
        listen: SocketAddr,
        seed: u64,
    ) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(scenario, seed));
        let router = router(shared.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, router, shutdown.clone()));
        Ok(SimServer {
            addr,
            shared,
            shutdown,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A config that watches every model of this server, in scenario order,
    /// with the scenario's tiers (the demo's config); models marked
    /// `dialect = "anthropic"` are reached in Anthropic's dialect.
    pub fn config(&self) -> crate::config::Config {
        let models: Vec<_> = self
            .scenario()
            .models()
            .iter()
            .map(|m| {
                let tier = m.tier.as_deref().and_then(|t| t.parse().ok());
                (m.name.clone(), m.id.clone(), tier)
            })
            .collect();
        let mut config = crate::config::Config::demo(&self.base_url(), &models);
        let direct: Vec<String> = self
            .scenario()
            .models()
            .iter()
            .filter(|m| m.dialect == crate::api::Dialect::Anthropic)
            .map(|m| m.name.clone())
            .collect();
        config.demo_direct(&direct);
        config
    }

    /// Moves the scenario clock forward without waiting, so tests reach an
    /// outage window at once.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Scenario time: real time since start plus everything advanced.
    pub fn elapsed(&self) -> Duration {
        self.shared.clock.elapsed()
    }

    pub fn stats(&self, model_id: &str) -> SimStats {
        self.shared
            .index
            .get(model_id)
            .and_then(|&i| self.shared.stats.get(i))
            .map(|s| SimStats {
                requests: s.requests.load(Ordering::Relaxed),
                cancelled: s.cancelled.load(Ordering::Relaxed),
                bytes_sent: s.bytes_sent.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }

    /// Every request the models saw, oldest first (at most
    /// [`LOG_CAP`](super::LOG_CAP)): the provider's view of a failover.
    pub fn requests(&self) -> Vec<super::SimRequest> {
        self.shared.requests()
    }

    pub fn scenario(&self) -> &Scenario {
        &self.shared.scenario
    }

    /// Stops accepting and ends every open connection, hanging ones included.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Lets a handler kill its own connection (a `connect` fault).
#[derive(Clone)]
pub(super) struct ConnHandle {
    kill: CancellationToken,
    reset: Arc<AtomicBool>,
}

impl ConnHandle {
    /// Drops the connection without a response; `reset` makes it a TCP reset.
    pub(super) fn kill(&self, reset: bool) {
        self.reset.store(reset, Ordering::Relaxed);
        self.kill.cancel();
    }
}

async fn accept_loop(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_conn(stream, router.clone(), shutdown.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off briefly
                // rather than spin on a listener that keeps failing.
                tracing::warn!("sim: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_conn(stream: TcpStream, router: Router, shutdown: CancellationToken) {
    use hyper::service::Service as _;
    let _ = stream.set_nodelay(true);
    let handle = ConnHandle {
        kill: CancellationToken::new(),
        reset: Arc::new(AtomicBool::new(false)),
    };
    let svc = hyper_util::service::TowerToHyperService::new(router);
    let h = handle.clone();
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(h.clone());
        svc.call(req)
    });
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = &mut conn => {}
        _ = handle.kill.cancelled() => {
            if handle.reset.load(Ordering::Relaxed) {
                // Zero linger turns the close into a TCP reset.
                let _ = conn.into_parts().io.inner().set_zero_linger();
            }
        }
        _ = shutdown.cancelled() => {}
    }
}

//! The running gateway: everything built from a validated configuration, started, and shut
//! down gracefully.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use xprotocol::engine::EngineConfig;
use xprotocol::relay::RelayPolicy;
use xprotocol::{Limits, ProtocolSet};

use crate::admin::Metrics;
use crate::config::Config;
use crate::listener::{self, ListenerContext};
use crate::route::{Dispatch, RouteTables};
use crate::signals::StopSignals;
use crate::upstream::ClusterSet;

/// Links every protocol crate the gateway ships, so that `inventory` registers each one. An
/// outside protocol crate is added by depending on it and referencing it the same way.
pub fn link_protocols() {
    let _ = (&xprotocol_bolt::BOLT_V1, &xprotocol_bolt::BOLT_V2);
    let _ = (&xprotocol_dubbo::Dubbo, &xprotocol_tars::Tars);
    let _ = (&xprotocol_http1::Http1, &xprotocol_http2::Http2);
}

/// The names of every protocol this binary can serve.
pub fn known_protocols() -> Vec<&'static str> {
    link_protocols();
    ProtocolSet::all().names()
}

/// A started gateway. Dropping it does not stop it: call [`shutdown`](Gateway::shutdown).
pub struct Gateway {
    listeners: Vec<(String, SocketAddr)>,
    admin: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
    admin_shutdown: CancellationToken,
    /// Fired to start the drain from outside (admin `POST /drain`).
    drain_requested: CancellationToken,
    tasks: JoinSet<()>,
}

impl Gateway {
    /// Builds clusters, routes and listeners from `config` (already validated), binds every
    /// listener and the admin endpoint, and starts serving.
    ///
    /// # Errors
    /// A route or cluster that cannot be built, or an address that cannot be bound.
    pub async fn start(config: &Config) -> anyhow::Result<Gateway> {
        link_protocols();
        let metrics = Arc::new(Metrics::new());
        let clusters = ClusterSet::build_observed(&config.clusters, Some(&metrics))
            .map_err(|e| anyhow!("{e}"))?;
        let tables = RouteTables::build(&config.routes, &clusters).map_err(|e| anyhow!("{e}"))?;
        let dispatch = Arc::new(Dispatch::new(tables, &config.limits, &metrics));
        let http_router = Arc::new(
            crate::http::route::HttpRouter::build(&config.http, &clusters)
                .map_err(|e| anyhow!("{e}"))?,
        );
        let ready = Arc::new(AtomicBool::new(false));
        let shutdown = CancellationToken::new();
        let admin_shutdown = CancellationToken::new();
        let drain_requested = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let admin = match config.admin.address {
            Some(address) => {
                let listener = crate::admin::bind(address)
                    .await
                    .with_context(|| format!("binding the admin endpoint on {address}"))?;
                let bound = listener.local_addr()?;
                let state = Arc::new(crate::admin::AdminState {
                    metrics: Arc::clone(&metrics),
                    ready: Arc::clone(&ready),
                    drain: drain_requested.clone(),
                });
                let serve = crate::admin::serve(listener, state, admin_shutdown.clone());
                tasks.spawn(serve);
                info!(address = %bound, "admin endpoint listening");
                Some(bound)
            }
            None => None,
        };

        let limits = &config.limits;
        let engine = EngineConfig {
            limits: Limits {
                max_frame_bytes: limits.max_frame_bytes,
                max_header_bytes: limits.max_header_bytes,
                max_nesting: limits.max_nesting,
            },
            // Downstream peers heartbeat us; we answer, and close idle connections instead.
            heartbeat_interval: None,
            max_in_flight: limits.max_requests_per_connection,
            idle_timeout: Some(limits.idle_timeout),
            drain_timeout: limits.drain_timeout,
            drain_quiet: limits.drain_quiet,
            // A caller that disconnects cancels its upstream requests.
            cancel_on_peer_close: true,
            frame_timeout: (!limits.frame_timeout.is_zero()).then_some(limits.frame_timeout),
            ..EngineConfig::default()
        };
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let protocols = match &l.protocols {
                Some(names) => ProtocolSet::named(names)
                    .map_err(|name| anyhow!("listener {}: unknown protocol {name:?}", l.name))?,
                None => ProtocolSet::all(),
            };
            let policies: HashMap<&'static str, Arc<dyn RelayPolicy>> = protocols
                .iter()
                .filter(|p| !p.owns_connection())
                .map(|p| {
                    let policy = dispatch.policy(&l.name, p.name(), &metrics);
                    (p.name(), Arc::new(policy) as Arc<dyn RelayPolicy>)
                })
                .collect();
            let fallback = match &l.fallback_cluster {
                Some(name) => Some(Arc::clone(clusters.get(name).ok_or_else(|| {
                    anyhow!("listener {}: unknown fallback cluster {name:?}", l.name)
                })?)),
                None => None,
            };
            let socket = listener::bind(l.address, l.backlog)
                .with_context(|| format!("binding listener {} on {}", l.name, l.address))?;
            let bound = socket.local_addr()?;
            info!(listener = %l.name, address = %bound, protocols = ?protocols.names(), "listening");
            let ctx = Arc::new(ListenerContext {
                name: Arc::from(l.name.as_str()),
                protocols,
                sniff: l.sniff,
                policies,
                http: Arc::new(crate::http::HttpShared {
                    listener: Arc::from(l.name.as_str()),
                    router: Arc::clone(&http_router),
                    max_body_bytes: (config.http.limits.max_body_bytes > 0)
                        .then_some(config.http.limits.max_body_bytes),
                    max_grpc_message_bytes: (config.http.limits.max_grpc_message_bytes > 0)
                        .then_some(config.http.limits.max_grpc_message_bytes),
                    limits: config.http.limits,
                    idle_timeout: limits.idle_timeout,
                    drain_timeout: limits.drain_timeout,
                    drain_quiet: limits.drain_quiet,
                    metrics: Arc::clone(&metrics),
                }),
                engine,
                fallback,
                max_connections: limits.max_connections,
                metrics: Arc::clone(&metrics),
            });
            tasks.spawn(listener::run(socket, ctx, shutdown.clone()));
            listeners.push((l.name.clone(), bound));
        }
        ready.store(true, Ordering::Relaxed);
        Ok(Gateway {
            listeners,
            admin,
            metrics,
            ready,
            shutdown,
            admin_shutdown,
            drain_requested,
            tasks,
        })
    }

    /// The address a listener is bound to (useful with port 0).
    pub fn listener_address(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// The admin endpoint's address, if it is on.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops accepting, lets in-flight requests finish (each listener waits at most its drain
    /// timeout), then stops the admin endpoint.
    pub async fn shutdown(mut self) {
        self.ready.store(false, Ordering::Relaxed);
        info!("shutting down: no new connections; draining in-flight requests");
        self.shutdown.cancel();
        // Listener tasks end once drained; the admin task ends when told to, after them.
        let admin_tasks = usize::from(self.admin.is_some());
        while self.tasks.len() > admin_tasks {
            if self.tasks.join_next().await.is_none() {
                break;
            }
        }
        self.admin_shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        info!("shut down");
    }

    /// Serves until SIGTERM or SIGINT (or the admin endpoint's `POST /drain`), then
    /// drains and shuts down. A second SIGTERM or SIGINT during the drain stops at once.
    pub async fn serve_until_stopped(self, mut signals: StopSignals) {
        let drain_requested = self.drain_requested.clone();
        tokio::select! {
            stop = signals.next() => info!(signal = stop.name(), "draining"),
            () = drain_requested.cancelled() => info!("drain requested through the admin endpoint"),
        }
        let shutdown = self.shutdown();
        tokio::select! {
            () = shutdown => {}
            stop = signals.next() => {
                warn!(signal = stop.name(), "second signal during the drain: stopping at once");
            }
        }
    }
}

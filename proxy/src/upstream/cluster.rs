//! Clusters: named groups of static endpoints with a balancing policy, metadata subsets, a
//! circuit breaker, outlier detection and panic mode.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::endpoint::{now_nanos, Outlier};
use super::{Balancer, CircuitBreaker, Endpoint};
use crate::admin::metrics::OutlierCounters;
use crate::admin::Metrics;
use crate::config::ClusterConfig;

/// Why a set of clusters could not be built from configuration. Messages name the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    /// Two clusters share a name.
    #[error("clusters: the name `{name}` is used twice")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A cluster lists no endpoint.
    #[error("clusters[{index}] (`{name}`).endpoints: at least one endpoint is required")]
    NoEndpoints {
        /// Position of the cluster in the configuration.
        index: usize,
        /// The cluster's name.
        name: String,
    },
    /// An endpoint has weight 0.
    #[error("clusters[{index}] (`{name}`).endpoints[{endpoint}].weight: must be greater than 0")]
    ZeroWeight {
        /// Position of the cluster in the configuration.
        index: usize,
        /// The cluster's name.
        name: String,
        /// Position of the endpoint in the cluster.
        endpoint: usize,
    },
}

/// The endpoints of a cluster whose metadata contain given pairs, with their own balancer.
///
/// Subsets are made when routes are built (one per distinct `metadata_match` per cluster,
/// shared by routes asking for the same pairs), never per request. The whole cluster is the
/// subset of the empty match. Panic mode is decided per subset, over its own endpoints.
#[derive(Debug)]
pub struct Subset {
    metadata: BTreeMap<String, String>,
    endpoints: Vec<Arc<Endpoint>>,
    balancer: Balancer,
    outlier: Arc<Outlier>,
    /// Whether the last pick found the subset in panic mode (so that entering and leaving
    /// are counted and logged once, not per request).
    in_panic: AtomicBool,
}

impl Subset {
    fn new(
        cluster: &ClusterConfig,
        all: &[Arc<Endpoint>],
        metadata: &BTreeMap<String, String>,
        outlier: &Arc<Outlier>,
    ) -> Subset {
        let endpoints: Vec<_> = all
            .iter()
            .filter(|e| metadata.iter().all(|(k, v)| e.metadata().get(k) == Some(v)))
            .cloned()
            .collect();
        let balancer = Balancer::new(cluster.lb_policy, endpoints.len());
        Subset {
            metadata: metadata.clone(),
            endpoints,
            balancer,
            outlier: Arc::clone(outlier),
            in_panic: AtomicBool::new(false),
        }
    }

    /// The pairs every endpoint of the subset carries.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The endpoints, healthy or not, in configuration order.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// Chooses an endpoint by the cluster's policy.
    ///
    /// Normally among the endpoints in rotation (healthy, not ejected). When fewer than the
    /// cluster's panic threshold of them are in rotation, or none is, the subset is in panic
    /// mode and the choice is among all its endpoints, except those ejected less than
    /// `min_ejection_time` ago: spreading the load over every endpoint beats piling it on the
    /// few left, and a request that finds every endpoint ejected tries to connect rather than
    /// fail (a backend back from a restart is found by the first such request). `None` only
    /// when every endpoint was ejected that recently (or the subset is empty).
    ///
    /// Cost: while no endpoint of the cluster is out, two atomic loads and a clock reading
    /// on top of the policy's own; otherwise one pass over the subset's endpoints.
    pub fn pick(&self) -> Option<&Arc<Endpoint>> {
        let now = now_nanos();
        if self.outlier.all_in_rotation(now) {
            self.leave_panic();
            return self.balancer.pick(&self.endpoints, |_| true);
        }
        let available = self.endpoints.iter().filter(|e| e.is_available(now)).count();
        if !self.outlier.panics(available, self.endpoints.len()) {
            self.leave_panic();
            return self.balancer.pick(&self.endpoints, |e| e.is_available(now));
        }
        self.enter_panic(available);
        self.balancer.pick(&self.endpoints, |e| e.is_admissible_in_panic(now))
    }

    fn enter_panic(&self, available: usize) {
        if self.in_panic.load(Ordering::Relaxed) || self.in_panic.swap(true, Ordering::Relaxed) {
            return;
        }
        self.outlier.count_panic();
        tracing::warn!(
            cluster = %self.outlier.cluster(),
            metadata = ?self.metadata,
            available,
            endpoints = self.endpoints.len(),
            "panic mode: balancing over every endpoint, ejected ones included"
        );
    }

    fn leave_panic(&self) {
        if self.in_panic.load(Ordering::Relaxed) && self.in_panic.swap(false, Ordering::Relaxed) {
            tracing::info!(
                cluster = %self.outlier.cluster(),
                metadata = ?self.metadata,
                "panic mode over"
            );
        }
    }

    /// Whether the last pick found the subset in panic mode.
    pub fn in_panic(&self) -> bool {
        self.in_panic.load(Ordering::Relaxed)
    }
}

/// A named group of endpoints that routes send requests to.
#[derive(Debug)]
pub struct Cluster {
    config: ClusterConfig,
    endpoints: Vec<Arc<Endpoint>>,
    all: Arc<Subset>,
    /// Subsets made so far, reused by routes asking for the same pairs. Locked only while
    /// routes are built.
    subsets: Mutex<Vec<Arc<Subset>>>,
    circuit_breaker: CircuitBreaker,
    outlier: Arc<Outlier>,
}

impl Cluster {
    /// A cluster from its configuration (`index` is its position, for error messages), its
    /// outlier counters not registered anywhere.
    ///
    /// # Errors
    /// [`ClusterError::NoEndpoints`] or [`ClusterError::ZeroWeight`].
    pub fn new(index: usize, config: &ClusterConfig) -> Result<Cluster, ClusterError> {
        Cluster::with_counters(index, config, OutlierCounters::default())
    }

    /// [`Cluster::new`], counting ejections and panics into `counters`.
    ///
    /// # Errors
    /// As for [`Cluster::new`].
    pub fn with_counters(
        index: usize,
        config: &ClusterConfig,
        counters: OutlierCounters,
    ) -> Result<Cluster, ClusterError> {
        if config.endpoints.is_empty() {
            return Err(ClusterError::NoEndpoints { index, name: config.name.clone() });
        }
        if let Some(endpoint) = config.endpoints.iter().position(|e| e.weight == 0) {
            return Err(ClusterError::ZeroWeight { index, name: config.name.clone(), endpoint });
        }
        let outlier = Arc::new(Outlier::new(&config.name, &config.outlier, counters));
        let endpoints: Vec<_> = config
            .endpoints
            .iter()
            .map(|e| Arc::new(Endpoint::new(e, Arc::clone(&outlier))))
            .collect();
        let all = Arc::new(Subset::new(config, &endpoints, &BTreeMap::new(), &outlier));
        Ok(Cluster {
            config: config.clone(),
            endpoints,
            all,
            subsets: Mutex::new(Vec::new()),
            circuit_breaker: CircuitBreaker::new(&config.circuit_breaker),
            outlier,
        })
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The configuration it was built from (timeouts, pooling and heartbeat settings).
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Every endpoint, in configuration order (for pools, health checks and metrics).
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// The cluster's limits.
    pub fn circuit_breaker(&self) -> &CircuitBreaker {
        &self.circuit_breaker
    }

    /// The subset of the whole cluster.
    pub fn all(&self) -> &Arc<Subset> {
        &self.all
    }

    /// The subset of endpoints whose metadata contain every pair of `metadata` (the whole
    /// cluster for an empty map). Made once per distinct map and shared afterwards; meant for
    /// build time, not for the request path. The subset may be empty: check
    /// [`Subset::endpoints`].
    pub fn subset(&self, metadata: &BTreeMap<String, String>) -> Arc<Subset> {
        if metadata.is_empty() {
            return Arc::clone(&self.all);
        }
        let mut subsets = self.subsets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = subsets.iter().find(|s| &s.metadata == metadata) {
            return Arc::clone(found);
        }
        let made = Arc::new(Subset::new(&self.config, &self.endpoints, metadata, &self.outlier));
        subsets.push(Arc::clone(&made));
        made
    }

    /// Chooses an endpoint of `subset` (one of this cluster's subsets) by the cluster's
    /// policy, in panic mode when too few are in rotation (see [`Subset::pick`]). `None`
    /// when none can be tried: the caller answers with a no-healthy-upstream reply.
    pub fn pick(&self, subset: &Subset) -> Option<Arc<Endpoint>> {
        subset.pick().cloned()
    }
}

/// Every cluster of the configuration, by name.
#[derive(Debug, Default)]
pub struct ClusterSet {
    clusters: BTreeMap<String, Arc<Cluster>>,
}

impl ClusterSet {
    /// Builds every cluster, with unregistered outlier counters.
    ///
    /// # Errors
    /// The first [`ClusterError`] found, in configuration order.
    pub fn build(configs: &[ClusterConfig]) -> Result<ClusterSet, ClusterError> {
        ClusterSet::build_observed(configs, None)
    }

    /// Builds every cluster, counting ejections and panics into `metrics` when given.
    ///
    /// # Errors
    /// The first [`ClusterError`] found, in configuration order.
    pub fn build_observed(
        configs: &[ClusterConfig],
        metrics: Option<&Metrics>,
    ) -> Result<ClusterSet, ClusterError> {
        let mut clusters = BTreeMap::new();
        for (index, config) in configs.iter().enumerate() {
            let counters = metrics.map(|m| m.outlier_counters(&config.name)).unwrap_or_default();
            let cluster = Cluster::with_counters(index, config, counters)?;
            if clusters.insert(config.name.clone(), Arc::new(cluster)).is_some() {
                return Err(ClusterError::DuplicateName { name: config.name.clone() });
            }
        }
        Ok(ClusterSet { clusters })
    }

    /// The cluster named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Cluster>> {
        self.clusters.get(name)
    }

    /// Every cluster, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Cluster>> {
        self.clusters.values()
    }

    /// How many clusters there are.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    /// Whether there is no cluster.
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::config::{
        CircuitBreakerConfig, EndpointConfig, HeartbeatConfig, LbPolicy, OutlierConfig,
    };

    /// One endpoint of a test cluster: port on 127.0.0.1, weight, metadata pairs.
    pub(crate) type TestEndpoint<'a> = (u16, u32, &'a [(&'a str, &'a str)]);

    /// A cluster configuration with these endpoints.
    pub(crate) fn cluster_config(
        name: &str,
        policy: LbPolicy,
        endpoints: &[TestEndpoint<'_>],
    ) -> ClusterConfig {
        ClusterConfig {
            name: name.to_owned(),
            endpoints: endpoints
                .iter()
                .map(|&(port, weight, md)| EndpointConfig {
                    address: SocketAddr::from(([127, 0, 0, 1], port)),
                    weight,
                    metadata: md.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect(),
                })
                .collect(),
            lb_policy: policy,
            connect_timeout: std::time::Duration::from_secs(1),
            connections_per_endpoint: 1,
            max_idle_per_endpoint: 16,
            max_connections_per_endpoint: 64,
            heartbeat: HeartbeatConfig::default(),
            circuit_breaker: CircuitBreakerConfig::default(),
            outlier: OutlierConfig::default(),
            http_protocol: None,
        }
    }

    fn md(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn zoned() -> Cluster {
        let cfg = cluster_config(
            "c",
            LbPolicy::RoundRobin,
            &[
                (1, 1, &[("zone", "a"), ("v", "1")]),
                (2, 1, &[("zone", "b"), ("v", "1")]),
                (3, 1, &[("zone", "a"), ("v", "2")]),
            ],
        );
        Cluster::new(0, &cfg).unwrap()
    }

    fn ports(eps: &[Arc<Endpoint>]) -> Vec<u16> {
        eps.iter().map(|e| e.address().port()).collect()
    }

    #[test]
    fn subsets_filter_by_every_pair() {
        let c = zoned();
        assert_eq!(ports(c.subset(&md(&[("zone", "a")])).endpoints()), [1, 3]);
        assert_eq!(ports(c.subset(&md(&[("zone", "a"), ("v", "1")])).endpoints()), [1]);
        assert_eq!(ports(c.subset(&md(&[("v", "1")])).endpoints()), [1, 2]);
        assert!(c.subset(&md(&[("zone", "c")])).endpoints().is_empty());
        assert_eq!(ports(c.subset(&BTreeMap::new()).endpoints()), [1, 2, 3]);
    }

    #[test]
    fn subsets_are_shared_and_share_endpoints() {
        let c = zoned();
        let a1 = c.subset(&md(&[("zone", "a")]));
        let a2 = c.subset(&md(&[("zone", "a")]));
        assert!(Arc::ptr_eq(&a1, &a2));
        assert!(Arc::ptr_eq(&c.subset(&BTreeMap::new()), c.all()));
        // The same endpoint objects: health and load are seen by every subset.
        assert!(Arc::ptr_eq(&a1.endpoints()[0], &c.endpoints()[0]));
    }

    #[test]
    fn subset_picks_only_its_endpoints_with_its_own_rotation() {
        let c = zoned();
        let a = c.subset(&md(&[("zone", "a")]));
        let seq: Vec<u16> = (0..4).map(|_| c.pick(&a).unwrap().address().port()).collect();
        assert_eq!(seq, [1, 3, 1, 3]);
        // The whole cluster's rotation was not advanced by the subset's picks.
        let all: Vec<u16> = (0..3).map(|_| c.pick(c.all()).unwrap().address().port()).collect();
        assert_eq!(all, [1, 2, 3]);
    }

    #[test]
    fn pick_skips_unhealthy_and_panics_when_all_are() {
        let c = zoned();
        let a = c.subset(&md(&[("zone", "a")]));
        c.endpoints()[0].set_healthy(false);
        for _ in 0..4 {
            assert_eq!(c.pick(&a).unwrap().address().port(), 3, "1 of 2 in rotation: no panic");
        }
        assert!(!a.in_panic());
        c.endpoints()[2].set_healthy(false);
        let seq: Vec<u16> = (0..4).map(|_| c.pick(&a).unwrap().address().port()).collect();
        assert_eq!(seq, [1, 3, 1, 3], "none in rotation: panic mode balances over both");
        assert!(a.in_panic());
        assert_eq!(c.outlier.counters().panics.get(), 1, "entering panic is counted once");
        // The whole cluster still has endpoint 2: 1 of 3 is under 50%, so it panics too.
        assert!(c.pick(c.all()).is_some());
        assert!(c.all().in_panic());
        c.endpoints()[0].set_healthy(true);
        c.endpoints()[2].set_healthy(true);
        assert!(c.pick(&a).is_some());
        assert!(!a.in_panic(), "left once enough endpoints are back");
    }

    /// A four-endpoint round-robin cluster with `outlier` settings, and its endpoints' ports
    /// as picked `n` times.
    fn four(outlier: OutlierConfig) -> Cluster {
        let mut cfg = cluster_config(
            "c",
            LbPolicy::RoundRobin,
            &[(1, 1, &[]), (2, 1, &[]), (3, 1, &[]), (4, 1, &[])],
        );
        cfg.outlier = outlier;
        Cluster::new(0, &cfg).unwrap()
    }

    fn eject(endpoint: &Endpoint) {
        for _ in 0..5 {
            endpoint.report_outcome(false);
        }
    }

    fn picks(c: &Cluster, n: usize) -> Vec<u16> {
        (0..n).map(|_| c.pick(c.all()).map_or(0, |e| e.address().port())).collect()
    }

    #[test]
    fn panic_mode_spreads_load_over_ejected_endpoints_past_the_minimum() {
        let no_minimum =
            OutlierConfig { min_ejection_time: std::time::Duration::ZERO, ..Default::default() };
        let c = four(no_minimum);
        for e in &c.endpoints()[..3] {
            eject(e);
        }
        // 1 of 4 in rotation (25% < 50%): rather than piling everything on endpoint 4, every
        // endpoint takes its turn.
        assert_eq!(picks(&c, 8), [1, 2, 3, 4, 1, 2, 3, 4]);
        assert!(c.all().in_panic());
        assert_eq!(c.outlier.counters().panics.get(), 1);

        // Panic off: the survivor takes it all.
        let off = four(OutlierConfig { panic_threshold: 0, ..no_minimum });
        for e in &off.endpoints()[..3] {
            eject(e);
        }
        assert_eq!(picks(&off, 4), [4, 4, 4, 4]);
        assert!(!off.all().in_panic());
    }

    #[test]
    fn panic_mode_spares_endpoints_ejected_less_than_the_minimum_ago() {
        let c = four(OutlierConfig::default());
        for e in &c.endpoints()[..3] {
            eject(e);
        }
        assert_eq!(picks(&c, 4), [4, 4, 4, 4], "all three were ejected under 50ms ago");
        assert!(c.all().in_panic());
    }

    #[test]
    fn a_request_finding_every_endpoint_ejected_tries_one_after_the_minimum() {
        let cfg = |min_ms| {
            let mut cfg = cluster_config("one", LbPolicy::RoundRobin, &[(1, 1, &[])]);
            cfg.outlier.min_ejection_time = std::time::Duration::from_millis(min_ms);
            Cluster::new(0, &cfg).unwrap()
        };
        let c = cfg(60_000);
        eject(&c.endpoints()[0]);
        assert!(c.pick(c.all()).is_none(), "ejected a moment ago: fail fast");
        let c = cfg(0);
        eject(&c.endpoints()[0]);
        assert_eq!(picks(&c, 2), [1, 1], "past the minimum: try to connect rather than fail");
        c.endpoints()[0].report_outcome(true);
        assert!(c.endpoints()[0].is_healthy());
        assert_eq!(picks(&c, 1), [1]);
        assert!(!c.all().in_panic());
    }

    #[test]
    fn build_rejects_bad_clusters() {
        let ok = cluster_config("a", LbPolicy::Random, &[(1, 1, &[])]);
        let set = ClusterSet::build(std::slice::from_ref(&ok)).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.get("a").unwrap().name(), "a");
        assert!(set.get("b").is_none());

        let err = ClusterSet::build(&[ok.clone(), ok.clone()]).unwrap_err();
        assert_eq!(err, ClusterError::DuplicateName { name: "a".into() });

        let empty = cluster_config("e", LbPolicy::Random, &[]);
        let err = ClusterSet::build(&[ok.clone(), empty]).unwrap_err();
        assert_eq!(err, ClusterError::NoEndpoints { index: 1, name: "e".into() });

        let zero = cluster_config("z", LbPolicy::Random, &[(1, 1, &[]), (2, 0, &[])]);
        let err = ClusterSet::build(&[zero]).unwrap_err();
        assert_eq!(err, ClusterError::ZeroWeight { index: 0, name: "z".into(), endpoint: 1 });
        assert!(err.to_string().contains("clusters[0] (`z`).endpoints[1].weight"), "{err}");
    }

    #[test]
    fn circuit_breaker_uses_the_configured_limits() {
        let mut cfg = cluster_config("a", LbPolicy::Random, &[(1, 1, &[])]);
        cfg.circuit_breaker.max_requests = 1;
        let c = Cluster::new(0, &cfg).unwrap();
        let held = c.circuit_breaker().try_acquire_request();
        assert!(held.is_some());
        assert!(c.circuit_breaker().try_acquire_request().is_none());
    }
}

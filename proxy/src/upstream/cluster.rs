//! Clusters: named groups of static endpoints with a balancing policy, metadata subsets and a
//! circuit breaker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Balancer, CircuitBreaker, Endpoint};
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
/// subset of the empty match.
#[derive(Debug)]
pub struct Subset {
    metadata: BTreeMap<String, String>,
    endpoints: Vec<Arc<Endpoint>>,
    balancer: Balancer,
}

impl Subset {
    fn new(
        cluster: &ClusterConfig,
        all: &[Arc<Endpoint>],
        metadata: &BTreeMap<String, String>,
    ) -> Subset {
        let endpoints: Vec<_> = all
            .iter()
            .filter(|e| metadata.iter().all(|(k, v)| e.metadata().get(k) == Some(v)))
            .cloned()
            .collect();
        let balancer = Balancer::new(cluster.lb_policy, endpoints.len());
        Subset { metadata: metadata.clone(), endpoints, balancer }
    }

    /// The pairs every endpoint of the subset carries.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The endpoints, healthy or not, in configuration order.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// Chooses a healthy endpoint by the cluster's policy; `None` if none is healthy.
    pub fn pick(&self) -> Option<&Arc<Endpoint>> {
        self.balancer.pick(&self.endpoints)
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
}

impl Cluster {
    /// A cluster from its configuration (`index` is its position, for error messages).
    ///
    /// # Errors
    /// [`ClusterError::NoEndpoints`] or [`ClusterError::ZeroWeight`].
    pub fn new(index: usize, config: &ClusterConfig) -> Result<Cluster, ClusterError> {
        if config.endpoints.is_empty() {
            return Err(ClusterError::NoEndpoints { index, name: config.name.clone() });
        }
        if let Some(endpoint) = config.endpoints.iter().position(|e| e.weight == 0) {
            return Err(ClusterError::ZeroWeight { index, name: config.name.clone(), endpoint });
        }
        let endpoints: Vec<_> =
            config.endpoints.iter().map(|e| Arc::new(Endpoint::new(e))).collect();
        let all = Arc::new(Subset::new(config, &endpoints, &BTreeMap::new()));
        Ok(Cluster {
            config: config.clone(),
            endpoints,
            all,
            subsets: Mutex::new(Vec::new()),
            circuit_breaker: CircuitBreaker::new(&config.circuit_breaker),
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
        let made = Arc::new(Subset::new(&self.config, &self.endpoints, metadata));
        subsets.push(Arc::clone(&made));
        made
    }

    /// Chooses a healthy endpoint of `subset` (one of this cluster's subsets) by the cluster's
    /// policy. `None` if none is healthy: the caller answers with a no-healthy-upstream reply.
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
    /// Builds every cluster.
    ///
    /// # Errors
    /// The first [`ClusterError`] found, in configuration order.
    pub fn build(configs: &[ClusterConfig]) -> Result<ClusterSet, ClusterError> {
        let mut clusters = BTreeMap::new();
        for (index, config) in configs.iter().enumerate() {
            let cluster = Cluster::new(index, config)?;
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
    use crate::config::{CircuitBreakerConfig, EndpointConfig, HeartbeatConfig, LbPolicy};

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
    fn pick_skips_unhealthy_and_gives_none_when_all_are() {
        let c = zoned();
        let a = c.subset(&md(&[("zone", "a")]));
        c.endpoints()[0].set_healthy(false);
        for _ in 0..4 {
            assert_eq!(c.pick(&a).unwrap().address().port(), 3);
        }
        c.endpoints()[2].set_healthy(false);
        assert!(c.pick(&a).is_none());
        assert_eq!(c.pick(c.all()).unwrap().address().port(), 2);
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

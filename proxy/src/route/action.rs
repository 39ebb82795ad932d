//! What a route does with a matching request: forward to a cluster, to one of several by
//! weight, or answer directly.

use std::sync::Arc;

use xprotocol::Failure;

use crate::config::FailureClass;
use crate::upstream::{Cluster, Endpoint, Subset};

/// What a route does with a matching request.
#[derive(Clone, Debug)]
pub enum RouteAction {
    /// Forward to this cluster (restricted to the route's metadata subset).
    Cluster(Target),
    /// Forward to one of several clusters, chosen by weight per request.
    Weighted(WeightedClusters),
    /// Answer with an error reply of this failure class, in the caller's protocol, without
    /// contacting any upstream.
    Direct {
        /// The failure whose protocol status the reply carries.
        failure: Failure,
        /// The message, where the protocol has room for one.
        message: String,
    },
}

/// A cluster and the subset of its endpoints a route sends requests to.
///
/// The subset is the one the route's `metadata_match` selects (the whole cluster when it is
/// empty), found when the table was built, so a request only calls [`pick`](Target::pick).
#[derive(Clone, Debug)]
pub struct Target {
    cluster: Arc<Cluster>,
    subset: Arc<Subset>,
}

impl Target {
    pub(crate) fn new(cluster: Arc<Cluster>, subset: Arc<Subset>) -> Target {
        Target { cluster, subset }
    }

    /// The cluster (for its circuit breaker, pooling settings and metrics).
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The endpoints this route may use.
    pub fn subset(&self) -> &Arc<Subset> {
        &self.subset
    }

    /// Chooses a healthy endpoint of the subset by the cluster's policy; `None` if none is
    /// healthy, which the caller answers with [`Failure::NoHealthyUpstream`].
    pub fn pick(&self) -> Option<Arc<Endpoint>> {
        self.cluster.pick(&self.subset)
    }
}

/// Clusters chosen among by weight, per request.
#[derive(Clone, Debug)]
pub struct WeightedClusters {
    /// Each target with the running total of weights up to and including it.
    choices: Box<[(u64, Target)]>,
    /// The first target, returned should the roll ever fall outside the table.
    first: Target,
    total: u64,
}

impl WeightedClusters {
    /// `choices` must be non-empty with weights > 0 (the table builder checks); `None`
    /// otherwise.
    pub(crate) fn new(choices: Vec<(u32, Target)>) -> Option<WeightedClusters> {
        let first = choices.first()?.1.clone();
        let mut total = 0_u64;
        let mut cumulative = Vec::with_capacity(choices.len());
        for (weight, target) in choices {
            if weight == 0 {
                return None;
            }
            total += u64::from(weight);
            cumulative.push((total, target));
        }
        Some(WeightedClusters { choices: cumulative.into_boxed_slice(), first, total })
    }

    /// Chooses a target with probability proportional to its weight (thread-local fast RNG;
    /// no lock, no allocation).
    pub fn pick(&self) -> &Target {
        self.pick_at(fastrand::u64(..self.total))
    }

    /// The target whose share of `0..total` contains `roll`.
    fn pick_at(&self, roll: u64) -> &Target {
        let i = self.choices.partition_point(|(upto, _)| *upto <= roll);
        self.choices.get(i).map_or(&self.first, |(_, t)| t)
    }

    /// The targets and their weights, in configuration order.
    pub fn targets(&self) -> impl Iterator<Item = (u32, &Target)> {
        let mut prev = 0;
        self.choices.iter().map(move |(upto, t)| {
            let w = upto - prev;
            prev = *upto;
            (u32::try_from(w).unwrap_or(u32::MAX), t)
        })
    }
}

/// The SDK's failure class for a configured one.
pub fn failure_of(class: FailureClass) -> Failure {
    match class {
        FailureClass::NoRoute => Failure::NoRoute,
        FailureClass::NoHealthyUpstream => Failure::NoHealthyUpstream,
        FailureClass::Timeout => Failure::Timeout,
        FailureClass::Overloaded => Failure::Overloaded,
        FailureClass::BadRequest => Failure::BadRequest,
        FailureClass::UpstreamReset => Failure::UpstreamReset,
        FailureClass::Internal => Failure::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LbPolicy;
    use crate::upstream::cluster::tests::cluster_config;

    fn target(name: &str) -> Target {
        let cluster = Arc::new(
            Cluster::new(0, &cluster_config(name, LbPolicy::RoundRobin, &[(1, 1, &[])])).unwrap(),
        );
        let subset = Arc::clone(cluster.all());
        Target::new(cluster, subset)
    }

    fn weighted(weights: &[(&str, u32)]) -> WeightedClusters {
        WeightedClusters::new(weights.iter().map(|&(n, w)| (w, target(n))).collect()).unwrap()
    }

    #[test]
    fn pick_at_respects_boundaries() {
        let w = weighted(&[("a", 1), ("b", 3), ("c", 2)]);
        let names: Vec<_> = (0..6).map(|r| w.pick_at(r).cluster().name().to_owned()).collect();
        assert_eq!(names, ["a", "b", "b", "b", "c", "c"]);
        // Out of range falls back to the first rather than panicking.
        assert_eq!(w.pick_at(6).cluster().name(), "a");
        let weights: Vec<_> =
            w.targets().map(|(wt, t)| (wt, t.cluster().name().to_owned())).collect();
        assert_eq!(weights, [(1, "a".into()), (3, "b".into()), (2, "c".into())]);
    }

    #[test]
    fn pick_follows_weights() {
        fastrand::seed(42);
        let w = weighted(&[("a", 80), ("b", 20)]);
        let n = 20_000;
        let a = (0..n).filter(|_| w.pick().cluster().name() == "a").count();
        // 16000 expected; the standard deviation is about 57.
        assert!((15_600..16_400).contains(&a), "{a}");
    }

    #[test]
    fn empty_or_zero_weight_is_refused() {
        assert!(WeightedClusters::new(Vec::new()).is_none());
        assert!(WeightedClusters::new(vec![(1, target("a")), (0, target("b"))]).is_none());
    }

    #[test]
    fn every_failure_class_maps() {
        assert_eq!(failure_of(FailureClass::Overloaded), Failure::Overloaded);
        assert_eq!(failure_of(FailureClass::NoRoute), Failure::NoRoute);
        assert_eq!(failure_of(FailureClass::Internal), Failure::Internal);
    }
}

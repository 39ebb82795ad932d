//! Load balancers: choosing one healthy endpoint of a list per request.
//!
//! A [`Balancer`] holds only the policy's state (a counter, current weights); the endpoint list
//! is passed to [`pick`](Balancer::pick), and must be the same list (same length and order) on
//! every call, which is what a [`Subset`](super::Subset) guarantees. Which endpoints may be
//! chosen is the caller's predicate (in rotation, or anything past its minimum ejection in
//! panic mode: see [`Subset::pick`](super::Subset::pick)); every policy skips the others and
//! returns `None` only when none qualifies. Picking allocates nothing; only smooth weighted
//! round robin takes a lock, for a few additions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Endpoint;
use crate::config::LbPolicy;

/// The state of one load-balancing policy over one endpoint list.
#[derive(Debug)]
pub struct Balancer {
    state: State,
}

#[derive(Debug)]
enum State {
    RoundRobin {
        next: AtomicUsize,
    },
    Random,
    /// nginx's smooth weighted round robin: the current weight of each endpoint.
    SmoothWeighted {
        current: Mutex<Vec<i64>>,
    },
    LeastRequest,
}

impl Balancer {
    /// A balancer of `policy` for a list of `len` endpoints.
    pub fn new(policy: LbPolicy, len: usize) -> Balancer {
        let state = match policy {
            LbPolicy::RoundRobin => State::RoundRobin { next: AtomicUsize::new(0) },
            LbPolicy::Random => State::Random,
            LbPolicy::WeightedRoundRobin => {
                State::SmoothWeighted { current: Mutex::new(vec![0; len]) }
            }
            LbPolicy::LeastRequest => State::LeastRequest,
        };
        Balancer { state }
    }

    /// Chooses an endpoint of `endpoints` for which `eligible` holds, or `None` if there is
    /// none (or the list is empty): the caller then answers with a no-healthy-upstream reply.
    /// `eligible` is called a few times per pick (up to once per endpoint): keep it cheap.
    pub fn pick<'a, F>(
        &self,
        endpoints: &'a [Arc<Endpoint>],
        eligible: F,
    ) -> Option<&'a Arc<Endpoint>>
    where
        F: Fn(&Endpoint) -> bool,
    {
        match &self.state {
            State::RoundRobin { next } => round_robin(next, endpoints, &eligible),
            State::Random => random(endpoints, &eligible),
            State::SmoothWeighted { current } => smooth_weighted(current, endpoints, &eligible),
            State::LeastRequest => least_request(endpoints, &eligible),
        }
    }
}

/// Each endpoint in turn, from a shared counter; an ineligible endpoint's turn passes to the
/// next eligible one.
fn round_robin<'a>(
    next: &AtomicUsize,
    endpoints: &'a [Arc<Endpoint>],
    eligible: &impl Fn(&Endpoint) -> bool,
) -> Option<&'a Arc<Endpoint>> {
    let len = endpoints.len();
    if len == 0 {
        return None;
    }
    let start = next.fetch_add(1, Ordering::Relaxed) % len;
    let (tail, head) = (endpoints.get(start..)?, endpoints.get(..start)?);
    tail.iter().chain(head).find(|e| eligible(e))
}

/// Uniform among eligible endpoints.
fn random<'a>(
    endpoints: &'a [Arc<Endpoint>],
    eligible: &impl Fn(&Endpoint) -> bool,
) -> Option<&'a Arc<Endpoint>> {
    if endpoints.is_empty() {
        return None;
    }
    // Fast path: a uniform draw that lands on an eligible endpoint. Falling back to a uniform
    // draw among the eligible ones keeps the overall choice uniform among them.
    match endpoints.get(fastrand::usize(..endpoints.len())) {
        Some(e) if eligible(e) => Some(e),
        _ => random_eligible(endpoints, eligible),
    }
}

/// A uniform choice among the eligible endpoints, in two passes without allocating.
fn random_eligible<'a>(
    endpoints: &'a [Arc<Endpoint>],
    eligible: &impl Fn(&Endpoint) -> bool,
) -> Option<&'a Arc<Endpoint>> {
    let count = endpoints.iter().filter(|e| eligible(e)).count();
    if count == 0 {
        return None;
    }
    endpoints.iter().filter(|e| eligible(e)).nth(fastrand::usize(..count))
}

/// nginx's smooth weighted round robin: every eligible endpoint's current weight grows by its
/// weight, the largest wins (the first on ties) and loses the total. Weights 5, 1, 1 give
/// `a a b a c a a`: heavy endpoints' turns are spread out rather than bunched.
fn smooth_weighted<'a>(
    current: &Mutex<Vec<i64>>,
    endpoints: &'a [Arc<Endpoint>],
    eligible: &impl Fn(&Endpoint) -> bool,
) -> Option<&'a Arc<Endpoint>> {
    let best = {
        let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        let mut best_weight = i64::MIN;
        for (i, (e, cw)) in endpoints.iter().zip(current.iter_mut()).enumerate() {
            if !eligible(e) {
                continue;
            }
            let w = i64::from(e.weight());
            *cw += w;
            total += w;
            if best.is_none() || *cw > best_weight {
                best = Some(i);
                best_weight = *cw;
            }
        }
        let best = best?;
        if let Some(cw) = current.get_mut(best) {
            *cw -= total;
        }
        best
    };
    endpoints.get(best)
}

/// Power of two choices: of two distinct random endpoints, the one with fewer requests in
/// flight relative to its weight, i.e. the lower `(active + 1) / weight` (so that an idle
/// heavy endpoint beats an idle light one, and a heavy endpoint takes proportionally more).
/// Ties go to the first draw, itself random.
fn least_request<'a>(
    endpoints: &'a [Arc<Endpoint>],
    eligible: &impl Fn(&Endpoint) -> bool,
) -> Option<&'a Arc<Endpoint>> {
    let len = endpoints.len();
    if len < 2 {
        return endpoints.first().filter(|e| eligible(e));
    }
    let i = fastrand::usize(..len);
    let mut j = fastrand::usize(..len - 1);
    if j >= i {
        j += 1;
    }
    let a = endpoints.get(i).filter(|e| eligible(e));
    let b = endpoints.get(j).filter(|e| eligible(e));
    match (a, b) {
        (Some(a), Some(b)) => Some(if less_loaded(b, a) { b } else { a }),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => random_eligible(endpoints, eligible),
    }
}

/// Whether `x` carries strictly less load per unit of weight than `y`.
fn less_loaded(x: &Endpoint, y: &Endpoint) -> bool {
    let load = |e: &Endpoint| (e.active_requests() as u128).saturating_add(1);
    load(x) * u128::from(y.weight()) < load(y) * u128::from(x.weight())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use super::*;
    use crate::admin::metrics::OutlierCounters;
    use crate::config::{EndpointConfig, OutlierConfig};
    use crate::upstream::endpoint::Outlier;

    fn endpoints(weights: &[u32]) -> Vec<Arc<Endpoint>> {
        let outlier =
            Arc::new(Outlier::new("t", &OutlierConfig::default(), OutlierCounters::default()));
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| {
                let config = EndpointConfig {
                    address: SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16)),
                    weight,
                    metadata: BTreeMap::new(),
                };
                Arc::new(Endpoint::new(&config, Arc::clone(&outlier)))
            })
            .collect()
    }

    /// The index of the picked endpoint among the healthy ones, by port.
    fn pick_index(b: &Balancer, eps: &[Arc<Endpoint>]) -> Option<usize> {
        b.pick(eps, Endpoint::is_healthy).map(|e| usize::from(e.address().port() - 1000))
    }

    fn counts(b: &Balancer, eps: &[Arc<Endpoint>], n: usize) -> Vec<usize> {
        let mut out = vec![0; eps.len()];
        for _ in 0..n {
            out[pick_index(b, eps).unwrap()] += 1;
        }
        out
    }

    const ALL: [LbPolicy; 4] = [
        LbPolicy::RoundRobin,
        LbPolicy::Random,
        LbPolicy::WeightedRoundRobin,
        LbPolicy::LeastRequest,
    ];

    #[test]
    fn round_robin_cycles_in_order() {
        let eps = endpoints(&[1, 1, 1]);
        let b = Balancer::new(LbPolicy::RoundRobin, eps.len());
        let seq: Vec<_> = (0..6).map(|_| pick_index(&b, &eps).unwrap()).collect();
        assert_eq!(seq, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn round_robin_passes_unhealthy_turns_on() {
        let eps = endpoints(&[1, 1, 1]);
        eps[1].set_healthy(false);
        let b = Balancer::new(LbPolicy::RoundRobin, eps.len());
        let seq: Vec<_> = (0..6).map(|_| pick_index(&b, &eps).unwrap()).collect();
        assert_eq!(seq, [0, 2, 2, 0, 2, 2]);
    }

    #[test]
    fn smooth_weighted_sequence_matches_nginx() {
        let eps = endpoints(&[5, 1, 1]);
        let b = Balancer::new(LbPolicy::WeightedRoundRobin, eps.len());
        let seq: String =
            (0..14).map(|_| char::from(b'a' + pick_index(&b, &eps).unwrap() as u8)).collect();
        assert_eq!(seq, "aabacaaaabacaa");
    }

    #[test]
    fn smooth_weighted_skips_unhealthy_and_keeps_ratios() {
        let eps = endpoints(&[3, 100, 1]);
        eps[1].set_healthy(false);
        let b = Balancer::new(LbPolicy::WeightedRoundRobin, eps.len());
        assert_eq!(counts(&b, &eps, 400), [300, 0, 100]);
    }

    #[test]
    fn random_is_roughly_uniform_and_skips_unhealthy() {
        fastrand::seed(7);
        let eps = endpoints(&[1, 1, 1, 1]);
        eps[2].set_healthy(false);
        let b = Balancer::new(LbPolicy::Random, eps.len());
        let c = counts(&b, &eps, 30_000);
        assert_eq!(c[2], 0);
        for i in [0, 1, 3] {
            assert!((9_000..11_000).contains(&c[i]), "{c:?}");
        }
    }

    #[test]
    fn least_request_prefers_the_less_loaded() {
        fastrand::seed(11);
        let eps = endpoints(&[1, 1]);
        let _busy: Vec<_> = (0..5).map(|_| eps[0].track()).collect();
        let b = Balancer::new(LbPolicy::LeastRequest, eps.len());
        // With two endpoints both are always drawn, so the idle one always wins.
        assert_eq!(counts(&b, &eps, 100), [0, 100]);
    }

    #[test]
    fn least_request_with_three_spreads_away_from_the_loaded() {
        fastrand::seed(12);
        let eps = endpoints(&[1, 1, 1]);
        let _busy: Vec<_> = (0..3).map(|_| eps[0].track()).collect();
        let b = Balancer::new(LbPolicy::LeastRequest, eps.len());
        // The loaded endpoint is chosen only when drawn twice, which distinct draws forbid.
        let c = counts(&b, &eps, 3_000);
        assert_eq!(c[0], 0, "{c:?}");
        assert!(c[1] > 1_000 && c[2] > 1_000, "{c:?}");
    }

    #[test]
    fn least_request_weighs_load_by_weight() {
        fastrand::seed(13);
        let eps = endpoints(&[4, 1]);
        // (2+1)/4 < (0+1)/1: the heavy endpoint, though busier, has more room.
        let _busy: Vec<_> = (0..2).map(|_| eps[0].track()).collect();
        let b = Balancer::new(LbPolicy::LeastRequest, eps.len());
        assert_eq!(counts(&b, &eps, 50), [50, 0]);
        // Idle endpoints: the heavier wins the tie on raw counts.
        let idle = endpoints(&[1, 2]);
        assert_eq!(counts(&b, &idle, 50), [0, 50]);
    }

    #[test]
    fn least_request_skips_unhealthy() {
        fastrand::seed(14);
        let eps = endpoints(&[1, 1, 1, 1]);
        eps[0].set_healthy(false);
        eps[1].set_healthy(false);
        eps[2].set_healthy(false);
        let b = Balancer::new(LbPolicy::LeastRequest, eps.len());
        assert_eq!(counts(&b, &eps, 200), [0, 0, 0, 200]);
    }

    #[test]
    fn every_policy_returns_none_when_all_unhealthy_or_empty() {
        let eps = endpoints(&[1, 2, 3]);
        for e in &eps {
            e.set_healthy(false);
        }
        for policy in ALL {
            let b = Balancer::new(policy, eps.len());
            assert!(b.pick(&eps, Endpoint::is_healthy).is_none(), "{policy:?}");
            assert!(Balancer::new(policy, 0).pick(&[], |_| true).is_none(), "{policy:?}");
        }
        eps[1].set_healthy(true);
        for policy in ALL {
            let b = Balancer::new(policy, eps.len());
            for _ in 0..20 {
                assert_eq!(pick_index(&b, &eps), Some(1), "{policy:?}");
            }
        }
    }

    #[test]
    fn single_endpoint_is_always_chosen() {
        let eps = endpoints(&[1]);
        for policy in ALL {
            let b = Balancer::new(policy, eps.len());
            assert_eq!(pick_index(&b, &eps), Some(0), "{policy:?}");
        }
    }
}

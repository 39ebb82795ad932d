//! The gateway's [`RelayPolicy`]: route tables turned into ready-made forwarding plans.
//!
//! Everything a request needs is prepared once from configuration: each route's plan (its
//! upstream per target, deadline, retry plan, request header edits) and, per listener and
//! protocol, a metrics handle per plan. Per request the policy matches the route table, clones
//! a plan (reference-count increments) and, when the request ends, records into a handle found
//! by index.

use std::collections::HashMap;
use std::sync::Arc;

use xprotocol::relay::{
    Decision, ForwardPlan, HeaderEdits, RelayPolicy, RequestRecord, RetryPlan, Upstream,
};
use xprotocol::{Failure, Frame};

use super::{RetryCause, RetryPolicy, RouteAction, RouteTable, RouteTables, Target};
use crate::admin::{Metrics, RequestMetrics};
use crate::config::LimitsConfig;
use crate::upstream::RelayUpstream;

/// One forwarding target of one route, with its tag (index into the dispatch's plan list).
struct TargetPlan {
    subset: Arc<crate::upstream::Subset>,
    cluster: Arc<crate::upstream::Cluster>,
    plan: ForwardPlan,
}

enum PreparedAction {
    Forward(Vec<TargetPlan>),
    Direct { failure: Failure, message: Arc<str>, tag: usize },
}

struct PreparedRoute {
    action: PreparedAction,
}

struct PreparedTable {
    table: RouteTable,
    routes: Vec<PreparedRoute>,
}

/// What one plan (tag) stands for, so metrics handles can be made per listener.
#[derive(Clone, Debug)]
struct TagLabels {
    route: String,
    cluster: String,
}

/// The prepared route tables of every protocol, shared by all listeners.
pub struct Dispatch {
    tables: HashMap<String, PreparedTable>,
    labels: Vec<TagLabels>,
}

impl Dispatch {
    /// Prepares `tables` (already built against the cluster set) for relaying.
    pub fn new(tables: RouteTables, limits: &LimitsConfig, metrics: &Arc<Metrics>) -> Dispatch {
        let mut labels = Vec::new();
        let mut prepared = HashMap::new();
        for table in tables.into_tables() {
            let routes = table
                .routes()
                .iter()
                .map(|route| {
                    let name: Arc<str> = Arc::from(route.name());
                    let retry = route.retry().map(retry_plan).unwrap_or_default();
                    let headers = Arc::new(HeaderEdits {
                        add: route.headers_to_add().to_vec(),
                        remove: route.headers_to_remove().to_vec(),
                    });
                    let mut plan_for = |target: &Target| {
                        let tag = labels.len();
                        labels.push(TagLabels {
                            route: route.name().to_owned(),
                            cluster: target.cluster().name().to_owned(),
                        });
                        let upstream: Arc<dyn Upstream> = Arc::new(RelayUpstream::new(
                            Arc::clone(target.cluster()),
                            Arc::clone(target.subset()),
                            limits,
                            Arc::clone(metrics),
                        ));
                        TargetPlan {
                            subset: Arc::clone(target.subset()),
                            cluster: Arc::clone(target.cluster()),
                            plan: ForwardPlan {
                                route: Arc::clone(&name),
                                upstream,
                                timeout: route.timeout(),
                                retry: retry.clone(),
                                tag,
                                headers: Arc::clone(&headers),
                            },
                        }
                    };
                    let action = match route.action() {
                        RouteAction::Cluster(target) => {
                            PreparedAction::Forward(vec![plan_for(target)])
                        }
                        RouteAction::Weighted(weighted) => PreparedAction::Forward(
                            weighted.targets().map(|(_, target)| plan_for(target)).collect(),
                        ),
                        RouteAction::Direct { failure, message } => {
                            let tag = labels.len();
                            labels.push(TagLabels {
                                route: route.name().to_owned(),
                                cluster: String::new(),
                            });
                            PreparedAction::Direct {
                                failure: *failure,
                                message: Arc::from(message.as_str()),
                                tag,
                            }
                        }
                    };
                    PreparedRoute { action }
                })
                .collect();
            prepared.insert(table.protocol().to_owned(), PreparedTable { table, routes });
        }
        Dispatch { tables: prepared, labels }
    }

    /// The policy for connections of `protocol` accepted by `listener`, with its metrics
    /// handles resolved.
    pub fn policy(
        self: &Arc<Self>,
        listener: &str,
        protocol: &'static str,
        metrics: &Metrics,
    ) -> GatewayPolicy {
        let handles = self
            .labels
            .iter()
            .map(|l| metrics.requests(listener, protocol, &l.route, &l.cluster))
            .collect();
        GatewayPolicy {
            dispatch: Arc::clone(self),
            protocol,
            handles,
            unrouted: metrics.requests(listener, protocol, "", ""),
        }
    }
}

/// Converts a route's retry policy into the relay's flat plan.
fn retry_plan(policy: &RetryPolicy) -> RetryPlan {
    let on = |cause| policy.max_retries() > 0 && policy.should_retry(1, cause);
    RetryPlan {
        max_retries: policy.max_retries(),
        per_try_timeout: policy.per_try_timeout(),
        on_connect_failure: on(RetryCause::ConnectFailure),
        on_reset: on(RetryCause::Reset),
        on_per_try_timeout: on(RetryCause::PerTryTimeout),
        retriable_statuses: policy
            .retriable_statuses()
            .iter()
            .copied()
            .filter(|s| on(RetryCause::Status(*s)))
            .collect(),
    }
}

/// The policy of one listener and protocol.
pub struct GatewayPolicy {
    dispatch: Arc<Dispatch>,
    protocol: &'static str,
    handles: Vec<RequestMetrics>,
    unrouted: RequestMetrics,
}

/// Tag of decisions made without a route (no table, no match).
const UNROUTED: usize = usize::MAX;

impl RelayPolicy for GatewayPolicy {
    fn route(&self, request: &dyn Frame) -> Decision {
        let no_route = |why: &str| Decision::Reply {
            failure: Failure::NoRoute,
            message: Arc::from(why),
            route: None,
            tag: UNROUTED,
        };
        // A request whose routing fields do not read (a malformed Dubbo hessian2 body) is
        // refused here: routing it as if it had no service would forward bytes the upstream
        // cannot read either, or answer "no route" for what is really a bad request.
        if let Some(error) = request.routing_error() {
            return Decision::Reply {
                failure: Failure::BadRequest,
                message: Arc::from(format!("unreadable request: {error}")),
                route: None,
                tag: UNROUTED,
            };
        }
        let Some(prepared) = self.dispatch.tables.get(self.protocol) else {
            return no_route("no route table for this protocol");
        };
        let Some(index) = prepared.table.select_index(request) else {
            return no_route("no route matches the request");
        };
        let Some(route) = prepared.routes.get(index) else {
            return no_route("no route matches the request");
        };
        match &route.action {
            PreparedAction::Direct { failure, message, tag } => Decision::Reply {
                failure: *failure,
                message: Arc::clone(message),
                route: None,
                tag: *tag,
            },
            PreparedAction::Forward(targets) => {
                let chosen = match targets.as_slice() {
                    [only] => only,
                    many => {
                        let picked = match prepared.table.routes().get(index).map(|r| r.action()) {
                            Some(RouteAction::Weighted(w)) => w.pick(),
                            Some(RouteAction::Cluster(t)) => t,
                            _ => return no_route("no route matches the request"),
                        };
                        let same = |t: &&TargetPlan| {
                            Arc::ptr_eq(&t.subset, picked.subset())
                                && Arc::ptr_eq(&t.cluster, picked.cluster())
                        };
                        match many.iter().find(same).or(many.first()) {
                            Some(t) => t,
                            None => return no_route("the route has no cluster"),
                        }
                    }
                };
                Decision::Forward(chosen.plan.clone())
            }
        }
    }

    fn finished(&self, record: &RequestRecord<'_>) {
        let handle = self.handles.get(record.tag).unwrap_or(&self.unrouted);
        handle.record_tries(&record.outcome, record.latency, record.tries);
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::{LbPolicy, RouteActionConfig, RouteConfig};
    use crate::config::{RouteTableConfig, WeightedClusterConfig};
    use crate::route::table::tests::TestFrame;
    use crate::upstream::cluster::tests::cluster_config;
    use crate::upstream::ClusterSet;

    fn route(action: RouteActionConfig, add: &[(&str, &str)], remove: &[&str]) -> RouteConfig {
        RouteConfig {
            request_headers_to_add: add
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            request_headers_to_remove: remove.iter().map(|s| (*s).to_owned()).collect(),
            ..crate::route::table::tests::route(action)
        }
    }

    fn plans(routes: Vec<RouteConfig>) -> Vec<ForwardPlan> {
        let clusters = ClusterSet::build(&[
            cluster_config("a", LbPolicy::RoundRobin, &[(1, 1, &[])]),
            cluster_config("b", LbPolicy::RoundRobin, &[(2, 1, &[])]),
        ])
        .unwrap();
        let tables = [RouteTableConfig { protocol: "bolt".into(), routes }];
        let tables = RouteTables::build(&tables, &clusters).unwrap();
        let dispatch =
            Arc::new(Dispatch::new(tables, &LimitsConfig::default(), &Arc::new(Metrics::new())));
        let policy = dispatch.policy("l", "bolt", &Metrics::new());
        (0..64)
            .filter_map(|_| match policy.route(&TestFrame::default()) {
                Decision::Forward(plan) => Some(plan),
                Decision::Reply { .. } => None,
            })
            .collect()
    }

    #[test]
    fn every_plan_of_a_route_carries_its_header_edits() {
        let weighted = RouteActionConfig::WeightedClusters(vec![
            WeightedClusterConfig { cluster: "a".into(), weight: 1 },
            WeightedClusterConfig { cluster: "b".into(), weight: 1 },
        ]);
        let plans = plans(vec![route(weighted, &[("x-via", "xproxy")], &["secret"])]);
        assert_eq!(plans.len(), 64);
        let want = HeaderEdits {
            add: vec![("x-via".into(), "xproxy".into())],
            remove: vec!["secret".into()],
        };
        for plan in &plans {
            assert_eq!(*plan.headers, want);
            assert!(Arc::ptr_eq(&plan.headers, &plans[0].headers), "built once per route");
        }
        assert!(plans.iter().any(|p| p.upstream.name() == "b"), "both targets were picked");
        // A route without edits gets an empty set: the relay then does nothing per request.
        let plans = self::plans(vec![route(RouteActionConfig::Cluster("a".into()), &[], &[])]);
        assert!(plans[0].headers.is_empty());
    }
}

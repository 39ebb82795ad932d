//! Route tables: the routes of one protocol, tried in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use xprotocol::Frame;

use super::action::failure_of;
use super::{BuildError, RetryPolicy, RouteAction, RouteMatch, Target, WeightedClusters};
use crate::config::{RouteActionConfig, RouteConfig, RouteTableConfig};
use crate::upstream::{Cluster, ClusterSet};

/// One route: a match, what to do with matching requests, and how.
#[derive(Clone, Debug)]
pub struct Route {
    name: String,
    matcher: RouteMatch,
    action: RouteAction,
    timeout: Duration,
    retry: Option<RetryPolicy>,
    headers_to_add: Box<[(String, String)]>,
    headers_to_remove: Box<[String]>,
    metadata_match: BTreeMap<String, String>,
}

impl Route {
    /// The route's name for metrics and logs (configured, or `<protocol>-<index>` counting
    /// from 0).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its conditions.
    pub fn matcher(&self) -> &RouteMatch {
        &self.matcher
    }

    /// What to do with a matching request.
    pub fn action(&self) -> &RouteAction {
        &self.action
    }

    /// The whole-request deadline, retries included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The retry policy, if retries are configured.
    pub fn retry(&self) -> Option<&RetryPolicy> {
        self.retry.as_ref()
    }

    /// The deadline of one try: the retry policy's per-try timeout if set (capped by the
    /// route's timeout), else the route's timeout.
    pub fn per_try_timeout(&self) -> Duration {
        self.retry
            .as_ref()
            .and_then(RetryPolicy::per_try_timeout)
            .map_or(self.timeout, |t| t.min(self.timeout))
    }

    /// Headers to set on the forwarded request (replacing any of the same name), by name.
    pub fn headers_to_add(&self) -> &[(String, String)] {
        &self.headers_to_add
    }

    /// Headers to remove from the forwarded request.
    pub fn headers_to_remove(&self) -> &[String] {
        &self.headers_to_remove
    }

    /// The endpoint labels this route requires (already applied to its targets' subsets).
    pub fn metadata_match(&self) -> &BTreeMap<String, String> {
        &self.metadata_match
    }
}

/// The routes of one protocol, in match order.
#[derive(Clone, Debug)]
pub struct RouteTable {
    protocol: String,
    routes: Box<[Route]>,
}

impl RouteTable {
    /// Builds `table` against `clusters`: compiles every matcher, resolves every cluster and
    /// makes the metadata subsets the routes need.
    ///
    /// # Errors
    /// A [`BuildError`] naming the route and field: an unknown cluster, an invalid regex, an
    /// empty or zero-weight `weighted_clusters`, a `metadata_match` that selects no endpoint,
    /// or an inconsistent retry policy.
    pub fn build(
        table: &RouteTableConfig,
        clusters: &ClusterSet,
    ) -> Result<RouteTable, BuildError> {
        let protocol = table.protocol.as_str();
        let routes = table
            .routes
            .iter()
            .enumerate()
            .map(|(index, route)| build_route(protocol, index, route, clusters))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RouteTable { protocol: table.protocol.clone(), routes: routes.into_boxed_slice() })
    }

    /// The protocol this table serves.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// The routes, in match order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route whose match holds for `request`, or `None` (the caller answers with a
    /// no-route reply).
    pub fn select(&self, request: &dyn Frame) -> Option<&Route> {
        self.routes.iter().find(|r| r.matcher.matches(request))
    }

    /// The index (into [`routes`](Self::routes)) of the route [`select`](Self::select) picks.
    pub fn select_index(&self, request: &dyn Frame) -> Option<usize> {
        self.routes.iter().position(|r| r.matcher.matches(request))
    }
}

/// The route tables of every protocol that has one.
#[derive(Clone, Debug, Default)]
pub struct RouteTables {
    tables: Box<[RouteTable]>,
}

impl RouteTables {
    /// Builds every table.
    ///
    /// # Errors
    /// [`BuildError::DuplicateProtocol`] or the first table's [`BuildError`].
    pub fn build(
        tables: &[RouteTableConfig],
        clusters: &ClusterSet,
    ) -> Result<RouteTables, BuildError> {
        let mut built: Vec<RouteTable> = Vec::with_capacity(tables.len());
        for table in tables {
            if built.iter().any(|t| t.protocol == table.protocol) {
                return Err(BuildError::DuplicateProtocol { protocol: table.protocol.clone() });
            }
            built.push(RouteTable::build(table, clusters)?);
        }
        Ok(RouteTables { tables: built.into_boxed_slice() })
    }

    /// The table of `protocol` (a registered protocol name). A handful of tables are scanned;
    /// resolve it once per connection rather than per request where convenient.
    pub fn get(&self, protocol: &str) -> Option<&RouteTable> {
        self.tables.iter().find(|t| t.protocol == protocol)
    }

    /// Every table.
    pub fn iter(&self) -> impl Iterator<Item = &RouteTable> {
        self.tables.iter()
    }

    /// The tables, by value.
    pub fn into_tables(self) -> Vec<RouteTable> {
        self.tables.into_vec()
    }
}

fn build_route(
    protocol: &str,
    index: usize,
    route: &RouteConfig,
    clusters: &ClusterSet,
) -> Result<Route, BuildError> {
    let matcher = RouteMatch::build(protocol, index, &route.matches)?;
    let target = |name: &str| -> Result<Target, BuildError> {
        let cluster: &Arc<Cluster> =
            clusters.get(name).ok_or_else(|| BuildError::UnknownCluster {
                protocol: protocol.to_owned(),
                index,
                cluster: name.to_owned(),
            })?;
        // An empty subset is allowed (validation warns): its requests get a
        // no-healthy-upstream reply.
        let subset = cluster.subset(&route.metadata_match);
        Ok(Target::new(Arc::clone(cluster), subset))
    };
    let action = match &route.action {
        RouteActionConfig::Cluster(name) => RouteAction::Cluster(target(name)?),
        RouteActionConfig::WeightedClusters(choices) => {
            if choices.is_empty() {
                return Err(BuildError::NoWeightedClusters {
                    protocol: protocol.to_owned(),
                    index,
                });
            }
            let mut targets = Vec::with_capacity(choices.len());
            for choice in choices {
                if choice.weight == 0 {
                    return Err(BuildError::ZeroWeight {
                        protocol: protocol.to_owned(),
                        index,
                        cluster: choice.cluster.clone(),
                    });
                }
                targets.push((choice.weight, target(&choice.cluster)?));
            }
            let weighted = WeightedClusters::new(targets).ok_or_else(|| {
                BuildError::NoWeightedClusters { protocol: protocol.to_owned(), index }
            })?;
            RouteAction::Weighted(weighted)
        }
        RouteActionConfig::DirectResponse(direct) => RouteAction::Direct {
            failure: failure_of(direct.status),
            message: direct.message.clone(),
        },
    };
    // Statuses are retried only when `retry_on` lists `retriable_status` and statuses are
    // given; validation warns when one comes without the other.
    let retry = route.retry.as_ref().map(RetryPolicy::new);
    Ok(Route {
        name: route.name.clone().unwrap_or_else(|| format!("{protocol}-{index}")),
        matcher,
        action,
        timeout: route.timeout,
        retry,
        headers_to_add: route
            .request_headers_to_add
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        headers_to_remove: route.request_headers_to_remove.clone().into_boxed_slice(),
        metadata_match: route.metadata_match.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;
    use xprotocol::{EncodeError, Failure, RequestId, StreamKind};

    use super::*;
    use crate::config::{
        DirectResponseConfig, FailureClass, LbPolicy, RetryConfig, RetryOn, RouteMatchConfig,
        StringMatch, WeightedClusterConfig,
    };
    use crate::upstream::cluster::tests::cluster_config;

    /// A request with the routing fields a test sets.
    /// A request with just the routing fields a test sets.
    #[derive(Debug, Default)]
    pub(crate) struct TestFrame {
        service: Option<&'static str>,
        method: Option<&'static str>,
        version: Option<&'static str>,
        group: Option<&'static str>,
        headers: Vec<(&'static str, &'static str)>,
        body: Bytes,
    }

    impl TestFrame {
        fn service(s: &'static str) -> TestFrame {
            TestFrame { service: Some(s), ..TestFrame::default() }
        }
    }

    impl Frame for TestFrame {
        fn kind(&self) -> StreamKind {
            StreamKind::Request
        }
        fn request_id(&self) -> RequestId {
            RequestId(1)
        }
        fn set_request_id(&mut self, _: RequestId) -> Result<(), EncodeError> {
            Ok(())
        }
        fn service(&self) -> Option<&str> {
            self.service
        }
        fn method(&self) -> Option<&str> {
            self.method
        }
        fn version(&self) -> Option<&str> {
            self.version
        }
        fn group(&self) -> Option<&str> {
            self.group
        }
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        }
        fn body(&self) -> &Bytes {
            &self.body
        }
        fn wire_len(&self) -> usize {
            0
        }
    }

    fn clusters() -> ClusterSet {
        ClusterSet::build(&[
            cluster_config(
                "a",
                LbPolicy::RoundRobin,
                &[(1, 1, &[("zone", "x")]), (2, 1, &[("zone", "y")])],
            ),
            cluster_config("b", LbPolicy::RoundRobin, &[(3, 1, &[("zone", "x")])]),
        ])
        .unwrap()
    }

    /// A route with `action`, matching everything, every other field defaulted.
    pub(crate) fn route(action: RouteActionConfig) -> RouteConfig {
        RouteConfig {
            name: None,
            matches: RouteMatchConfig::default(),
            action,
            timeout: Duration::from_secs(10),
            retry: None,
            request_headers_to_add: BTreeMap::new(),
            request_headers_to_remove: Vec::new(),
            metadata_match: BTreeMap::new(),
        }
    }

    fn to(cluster: &str) -> RouteConfig {
        route(RouteActionConfig::Cluster(cluster.to_owned()))
    }

    fn table(routes: Vec<RouteConfig>) -> Result<RouteTable, BuildError> {
        RouteTable::build(&RouteTableConfig { protocol: "bolt".into(), routes }, &clusters())
    }

    fn selected<'t>(t: &'t RouteTable, f: &TestFrame) -> Option<&'t str> {
        t.select(f).map(Route::name)
    }

    fn exact(s: &str) -> Option<StringMatch> {
        Some(StringMatch::Exact(s.to_owned()))
    }

    #[test]
    fn first_match_wins_in_order() {
        let mut specific = to("a");
        specific.name = Some("specific".into());
        specific.matches.service = exact("Echo");
        specific.matches.method = exact("say");
        let mut by_service = to("b");
        by_service.matches.service = Some(StringMatch::Prefix("Ech".into()));
        let catch_all = to("a");
        let t = table(vec![specific, by_service, catch_all]).unwrap();

        let mut f = TestFrame::service("Echo");
        f.method = Some("say");
        assert_eq!(selected(&t, &f), Some("specific"));
        f.method = Some("shout");
        assert_eq!(selected(&t, &f), Some("bolt-1"));
        assert_eq!(selected(&t, &TestFrame::default()), Some("bolt-2"));
    }

    #[test]
    fn no_match_gives_none() {
        let mut r = to("a");
        r.matches.service = exact("Echo");
        let t = table(vec![r]).unwrap();
        assert!(t.select(&TestFrame::service("Other")).is_none());
        assert!(t.select(&TestFrame::default()).is_none());
        assert!(table(vec![]).unwrap().select(&TestFrame::service("Echo")).is_none());
    }

    #[test]
    fn every_field_and_headers_must_hold() {
        let mut r = to("a");
        r.matches.version = Some(StringMatch::Regex("^1\\.[0-9]+$".into()));
        r.matches.group = exact("blue");
        r.matches.headers.insert("tenant".into(), StringMatch::Prefix("acme-".into()));
        r.matches.headers.insert("debug".into(), StringMatch::Present(false));
        r.matches.headers.insert("trace".into(), StringMatch::Present(true));
        let t = table(vec![r]).unwrap();

        let good = TestFrame {
            version: Some("1.12"),
            group: Some("blue"),
            headers: vec![("tenant", "acme-eu"), ("trace", "")],
            ..TestFrame::default()
        };
        assert!(t.select(&good).is_some());
        let bad_version = TestFrame { version: Some("2.0"), ..clone(&good) };
        assert!(t.select(&bad_version).is_none());
        let bad_group = TestFrame { group: Some("green"), ..clone(&good) };
        assert!(t.select(&bad_group).is_none());
        let no_group = TestFrame { group: None, ..clone(&good) };
        assert!(t.select(&no_group).is_none());
        let bad_tenant =
            TestFrame { headers: vec![("tenant", "other"), ("trace", "1")], ..clone(&good) };
        assert!(t.select(&bad_tenant).is_none());
        let with_debug = TestFrame {
            headers: vec![("tenant", "acme-eu"), ("trace", "1"), ("debug", "1")],
            ..clone(&good)
        };
        assert!(t.select(&with_debug).is_none());
        let no_trace = TestFrame { headers: vec![("tenant", "acme-eu")], ..clone(&good) };
        assert!(t.select(&no_trace).is_none());
    }

    fn clone(f: &TestFrame) -> TestFrame {
        TestFrame {
            service: f.service,
            method: f.method,
            version: f.version,
            group: f.group,
            headers: f.headers.clone(),
            body: f.body.clone(),
        }
    }

    #[test]
    fn route_exposes_its_settings() {
        let mut r = to("a");
        r.name = Some("r".into());
        r.timeout = Duration::from_secs(2);
        r.retry = Some(RetryConfig {
            max_retries: 2,
            per_try_timeout: Some(Duration::from_secs(5)),
            retry_on: vec![RetryOn::Reset],
            retriable_statuses: vec![],
        });
        r.request_headers_to_add.insert("x-via".into(), "xproxy".into());
        r.request_headers_to_remove.push("secret".into());
        r.metadata_match.insert("zone".into(), "y".into());
        let t = table(vec![r]).unwrap();
        let route = t.select(&TestFrame::default()).unwrap();
        assert_eq!(route.name(), "r");
        assert_eq!(route.timeout(), Duration::from_secs(2));
        // The per-try timeout never exceeds the whole-request timeout.
        assert_eq!(route.per_try_timeout(), Duration::from_secs(2));
        assert_eq!(route.retry().unwrap().max_retries(), 2);
        assert_eq!(route.headers_to_add(), [("x-via".to_owned(), "xproxy".to_owned())]);
        assert_eq!(route.headers_to_remove(), ["secret".to_owned()]);
        assert_eq!(route.metadata_match().get("zone").map(String::as_str), Some("y"));
        let RouteAction::Cluster(target) = route.action() else { panic!("{:?}", route.action()) };
        assert_eq!(target.cluster().name(), "a");
        // The subset holds only zone=y, so every pick is endpoint 2.
        for _ in 0..3 {
            assert_eq!(target.pick().unwrap().address().port(), 2);
        }
    }

    #[test]
    fn weighted_route_picks_every_cluster_within_its_subset() {
        fastrand::seed(5);
        let mut r = route(RouteActionConfig::WeightedClusters(vec![
            WeightedClusterConfig { cluster: "a".into(), weight: 3 },
            WeightedClusterConfig { cluster: "b".into(), weight: 1 },
        ]));
        r.metadata_match.insert("zone".into(), "x".into());
        let t = table(vec![r]).unwrap();
        let RouteAction::Weighted(w) = t.routes()[0].action() else { panic!() };
        let mut ports = [0_usize; 4];
        for _ in 0..4_000 {
            ports[usize::from(w.pick().pick().unwrap().address().port())] += 1;
        }
        assert_eq!(ports[2], 0, "zone=y endpoint must never be picked");
        assert!((2_800..3_200).contains(&ports[1]), "{ports:?}");
        assert!((800..1_200).contains(&ports[3]), "{ports:?}");
    }

    #[test]
    fn direct_response_carries_failure_and_message() {
        let r = route(RouteActionConfig::DirectResponse(DirectResponseConfig {
            status: FailureClass::Overloaded,
            message: "maintenance".into(),
        }));
        let t = table(vec![r]).unwrap();
        match t.routes()[0].action() {
            RouteAction::Direct { failure, message } => {
                assert_eq!(*failure, Failure::Overloaded);
                assert_eq!(message, "maintenance");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn routes_share_subsets_of_the_same_metadata() {
        let mut r1 = to("a");
        r1.metadata_match.insert("zone".into(), "x".into());
        let r2 = RouteConfig { name: Some("two".into()), ..r1.clone() };
        let t = table(vec![r1, r2]).unwrap();
        let subset = |i: usize| match t.routes()[i].action() {
            RouteAction::Cluster(target) => Arc::clone(target.subset()),
            other => panic!("{other:?}"),
        };
        assert!(Arc::ptr_eq(&subset(0), &subset(1)));
    }

    #[test]
    fn build_errors_name_the_route() {
        let err = table(vec![to("a"), to("nope")]).unwrap_err();
        assert!(
            matches!(&err, BuildError::UnknownCluster { index: 1, cluster, .. } if cluster == "nope")
        );
        assert_eq!(err.to_string(), "routes[bolt][1].action: unknown cluster `nope`");

        let weighted = route(RouteActionConfig::WeightedClusters(vec![WeightedClusterConfig {
            cluster: "missing".into(),
            weight: 1,
        }]));
        assert!(matches!(table(vec![weighted]), Err(BuildError::UnknownCluster { .. })));

        let empty = route(RouteActionConfig::WeightedClusters(vec![]));
        assert!(matches!(table(vec![empty]), Err(BuildError::NoWeightedClusters { index: 0, .. })));

        let zero = route(RouteActionConfig::WeightedClusters(vec![WeightedClusterConfig {
            cluster: "a".into(),
            weight: 0,
        }]));
        assert!(matches!(table(vec![zero]), Err(BuildError::ZeroWeight { .. })));

        let mut regex = to("a");
        regex.matches.headers.insert("x".into(), StringMatch::Regex("(".into()));
        let err = table(vec![regex]).unwrap_err();
        assert!(
            err.to_string().starts_with("routes[bolt][0].match.headers.x: invalid regex"),
            "{err}"
        );
    }

    #[test]
    fn empty_subset_builds_and_picks_nothing() {
        // Validation warns about it; requests get a no-healthy-upstream reply.
        let mut r = to("b");
        r.metadata_match.insert("zone".into(), "y".into());
        let t = table(vec![r]).unwrap();
        let RouteAction::Cluster(target) = t.routes()[0].action() else { panic!() };
        assert!(target.subset().endpoints().is_empty());
        assert!(target.pick().is_none());
    }

    #[test]
    fn tables_are_per_protocol() {
        let cs = clusters();
        let cfg = |p: &str| RouteTableConfig { protocol: p.into(), routes: vec![to("a")] };
        let tables = RouteTables::build(&[cfg("bolt"), cfg("dubbo")], &cs).unwrap();
        assert_eq!(tables.get("dubbo").unwrap().protocol(), "dubbo");
        assert_eq!(tables.get("dubbo").unwrap().routes()[0].name(), "dubbo-0");
        assert!(tables.get("tars").is_none());
        let err = RouteTables::build(&[cfg("bolt"), cfg("bolt")], &cs).unwrap_err();
        assert!(matches!(err, BuildError::DuplicateProtocol { protocol } if protocol == "bolt"));
    }
}

//! Semantic checks on a parsed configuration: the rules serde's types cannot say.
//!
//! [`validate`] collects every problem, not just the first, so that one run of
//! `xproxy validate` lists all there is to fix. Each finding names the field path and, when the
//! source text is given, the line (see [`locate`](super::locate) for how, and its limits).
//! Errors make the configuration unusable; warnings point at something that parses and runs
//! but probably does not do what was meant.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use super::diagnostic::{did_you_mean, Diagnostic, FieldPath};
use super::locate::locate;
use super::schema::*;

/// The smallest `sniff.max_bytes`: the HTTP/2 connection preface and a Bolt v2 request's fixed
/// header, the longest openings a shipped detector needs to see whole, are 24 bytes (the other
/// RPC detectors decide within 22, HTTP/1.1's within 16).
pub const MIN_SNIFF_BYTES: usize = 24;

/// Protocols routed by `http.virtual_hosts` rather than by a `routes:` table.
pub const HTTP_PROTOCOLS: [&str; 2] = ["http1", "http2"];
/// The largest `sniff.max_bytes` (64 KiB): the sniff buffer is held per pending connection.
pub const MAX_SNIFF_BYTES: usize = 64 << 10;

/// What validation found. The configuration is usable when `errors` is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Problems that make the configuration unusable.
    pub errors: Vec<Diagnostic>,
    /// Things that work but are probably not what was meant.
    pub warnings: Vec<Diagnostic>,
}

impl Report {
    /// True when there is no error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks `config` against every rule, returning all errors and warnings.
///
/// `source` is the text the configuration was parsed from; when given, each finding carries
/// the line of its field (or of the nearest written parent, for a defaulted field).
/// `known_protocols` are the registered protocol names that listeners and route tables may
/// name (the proxy passes the registry's; tests pass a fixed list).
pub fn validate(config: &Config, source: Option<&str>, known_protocols: &[&str]) -> Report {
    let mut check = Checker { known_protocols, source, errors: Vec::new(), warnings: Vec::new() };
    let clusters = check.clusters(config);
    check.listeners(config, &clusters);
    check.route_tables(config, &clusters);
    check.unused_clusters(config);
    check.limits(&config.limits);
    let http = super::http::check(config);
    check.errors.extend(http.errors);
    check.warnings.extend(http.warnings);
    let locate_all = |findings: Vec<(FieldPath, String)>| {
        findings
            .into_iter()
            .map(|(path, message)| Diagnostic {
                path: path.to_string(),
                location: source.and_then(|text| locate(text, &path)),
                message,
            })
            .collect()
    };
    Report { errors: locate_all(check.errors), warnings: locate_all(check.warnings) }
}

struct Checker<'a> {
    known_protocols: &'a [&'a str],
    /// The source text, to name the line of the other party in a two-field finding.
    source: Option<&'a str>,
    errors: Vec<(FieldPath, String)>,
    warnings: Vec<(FieldPath, String)>,
}

/// Clusters by name (the first of each name).
type Clusters<'c> = HashMap<&'c str, &'c ClusterConfig>;

impl<'a> Checker<'a> {
    fn error(&mut self, path: FieldPath, message: impl Into<String>) {
        self.errors.push((path, message.into()));
    }

    fn warn(&mut self, path: FieldPath, message: impl Into<String>) {
        self.warnings.push((path, message.into()));
    }

    /// `, line N` for `path` when the source is known and the field written in it, else empty.
    fn line_of(&self, path: &FieldPath) -> String {
        self.source
            .and_then(|text| locate(text, path))
            .map_or_else(String::new, |at| format!(", line {}", at.line))
    }

    fn positive(&mut self, path: FieldPath, value: usize, why: &str) {
        if value == 0 {
            self.error(path, format!("must be greater than 0 ({why})"));
        }
    }

    fn nonzero_duration(&mut self, path: FieldPath, value: Duration, why: &str) {
        if value.is_zero() {
            self.error(path, format!("must be longer than 0s ({why})"));
        }
    }

    fn protocol(&mut self, path: FieldPath, name: &str) {
        if !self.known_protocols.contains(&name) {
            let known = self.known_protocols.join(", ");
            let hint = did_you_mean(name, self.known_protocols.iter().copied());
            self.error(path, format!("unknown protocol `{name}`{hint} (registered: {known})"));
        }
    }

    fn cluster_ref(&mut self, path: FieldPath, name: &str, clusters: &Clusters<'_>) {
        if !clusters.contains_key(name) {
            let hint = did_you_mean(name, clusters.keys().copied());
            self.error(path, format!("no cluster named `{name}`{hint}"));
        }
    }

    fn unique_name<'c>(
        &mut self,
        seen: &mut HashMap<&'c str, FieldPath>,
        path: FieldPath,
        name: &'c str,
        what: &str,
    ) {
        if name.is_empty() {
            self.error(path, format!("a {what} name must not be empty"));
        } else if let Some(first) = seen.get(name) {
            self.error(path, format!("duplicate {what} name `{name}` (first used at {first})"));
        } else {
            seen.insert(name, path);
        }
    }

    fn clusters<'c>(&mut self, config: &'c Config) -> Clusters<'c> {
        let mut seen = HashMap::new();
        let mut clusters = Clusters::new();
        let root = FieldPath::root().key("clusters");
        for (i, cluster) in config.clusters.iter().enumerate() {
            let at = root.index(i);
            self.unique_name(&mut seen, at.key("name"), &cluster.name, "cluster");
            clusters.entry(cluster.name.as_str()).or_insert(cluster);
            if cluster.endpoints.is_empty() {
                self.error(at.key("endpoints"), "a cluster needs at least one endpoint");
            }
            let mut addresses: HashMap<SocketAddr, usize> = HashMap::new();
            for (j, endpoint) in cluster.endpoints.iter().enumerate() {
                let ep = at.key("endpoints").index(j);
                if endpoint.weight == 0 {
                    self.error(ep.key("weight"), "must be greater than 0");
                }
                if let Some(first) = addresses.insert(endpoint.address, j) {
                    let msg = format!("endpoint listed twice (also endpoints[{first}])");
                    self.warn(ep.key("address"), msg);
                }
            }
            self.nonzero_duration(
                at.key("connect_timeout"),
                cluster.connect_timeout,
                "no connect could succeed",
            );
            self.positive(
                at.key("connections_per_endpoint"),
                cluster.connections_per_endpoint,
                "multiplexed protocols need a connection",
            );
            let hb = &cluster.heartbeat;
            if !hb.interval.is_zero() && hb.max_missed == 0 {
                self.error(
                    at.key("heartbeat").key("max_missed"),
                    "must be greater than 0 while heartbeats are on (set interval: 0s to turn them off)",
                );
            }
            let cb = at.key("circuit_breaker");
            let breaker = &cluster.circuit_breaker;
            self.positive(
                cb.key("max_connections"),
                breaker.max_connections,
                "no upstream connection could open",
            );
            self.positive(
                cb.key("max_requests"),
                breaker.max_requests,
                "every request would be refused",
            );
            self.outlier(&at.key("outlier"), &cluster.outlier);
        }
        clusters
    }

    fn listeners(&mut self, config: &Config, clusters: &Clusters<'_>) {
        let root = FieldPath::root().key("listeners");
        if config.listeners.is_empty() {
            self.error(root.clone(), "at least one listener is required");
        }
        let mut routed: HashSet<&str> = config.routes.iter().map(|t| t.protocol.as_str()).collect();
        if !config.http.virtual_hosts.is_empty() {
            routed.extend(HTTP_PROTOCOLS);
        }
        let mut names = HashMap::new();
        // Bound so far: (address, path of its field, whose it is).
        let mut bound: Vec<(SocketAddr, FieldPath, String)> = Vec::new();
        if let Some(admin) = config.admin.address {
            bound.push((
                admin,
                FieldPath::root().key("admin").key("address"),
                "the admin listener".into(),
            ));
        }
        for (i, listener) in config.listeners.iter().enumerate() {
            let at = root.index(i);
            self.unique_name(&mut names, at.key("name"), &listener.name, "listener");
            let address = listener.address;
            let clash = bound.iter().find(|(other, _, _)| overlaps(address, *other));
            if let Some((other, path, whose)) = clash {
                let line = self.line_of(path);
                let msg = format!(
                    "listener `{}` address {address} overlaps {other} of {whose} ({path}{line}): {}",
                    listener.name,
                    overlap_reason(address, *other),
                );
                self.error(at.key("address"), msg);
            } else {
                bound.push((address, at.key("address"), format!("listener `{}`", listener.name)));
            }
            if let Some(protocols) = &listener.protocols {
                self.listener_protocols(&at.key("protocols"), protocols, &routed);
            }
            let sniff = at.key("sniff");
            if !(MIN_SNIFF_BYTES..=MAX_SNIFF_BYTES).contains(&listener.sniff.max_bytes) {
                self.error(
                    sniff.key("max_bytes"),
                    format!("must be between {MIN_SNIFF_BYTES} and {MAX_SNIFF_BYTES} (64 KiB)"),
                );
            }
            self.nonzero_duration(
                sniff.key("timeout"),
                listener.sniff.timeout,
                "no connection could be recognised",
            );
            if let Some(max_pending) = listener.sniff.max_pending {
                self.positive(
                    sniff.key("max_pending"),
                    max_pending,
                    "no connection could be sniffed",
                );
            }
            self.positive(at.key("backlog"), listener.backlog as usize, "no connection could wait");
            if let Some(fallback) = &listener.fallback_cluster {
                self.cluster_ref(at.key("fallback_cluster"), fallback, clusters);
            }
        }
    }

    fn listener_protocols(&mut self, at: &FieldPath, protocols: &[String], routed: &HashSet<&str>) {
        if protocols.is_empty() {
            self.error(
                at.clone(),
                "an empty list accepts no protocol (leave the field out to accept every registered protocol)",
            );
        }
        let mut seen = HashSet::new();
        for (j, name) in protocols.iter().enumerate() {
            self.protocol(at.index(j), name);
            if !seen.insert(name.as_str()) {
                self.warn(at.index(j), format!("protocol `{name}` listed twice"));
            } else if self.known_protocols.contains(&name.as_str())
                && !routed.contains(name.as_str())
            {
                let msg = if HTTP_PROTOCOLS.contains(&name.as_str()) {
                    format!("protocol `{name}` has no virtual host (`http.virtual_hosts`): each of its requests gets a 404")
                } else {
                    format!("protocol `{name}` has no route table: each of its requests gets a no-route reply")
                };
                self.warn(at.index(j), msg);
            }
        }
    }

    fn route_tables(&mut self, config: &Config, clusters: &Clusters<'_>) {
        let root = FieldPath::root().key("routes");
        let mut tables: HashMap<&str, FieldPath> = HashMap::new();
        let mut names = HashMap::new();
        for (t, table) in config.routes.iter().enumerate() {
            let at = root.index(t);
            self.protocol(at.key("protocol"), &table.protocol);
            if HTTP_PROTOCOLS.contains(&table.protocol.as_str()) {
                let msg = "HTTP is routed by `http.virtual_hosts`, not by a `routes:` table";
                self.error(at.key("protocol"), msg);
            }
            if let Some(first) = tables.get(table.protocol.as_str()) {
                let msg = format!(
                    "a second route table for `{}` (the first is {first}); merge them",
                    table.protocol
                );
                self.error(at.key("protocol"), msg);
            } else {
                tables.insert(&table.protocol, at.clone());
            }
            if table.routes.is_empty() {
                self.warn(
                    at.key("routes"),
                    "no routes: every request of this protocol gets a no-route reply",
                );
            }
            for (r, route) in table.routes.iter().enumerate() {
                let rp = at.key("routes").index(r);
                match &route.name {
                    Some(name) => self.unique_name(&mut names, rp.key("name"), name, "route"),
                    // A defaulted name is `<protocol>-<index>`; an explicit one may collide.
                    None => {
                        let name = format!("{}-{r}", table.protocol);
                        if let Some(first) = names.get(name.as_str()) {
                            let msg = format!("the default name `{name}` is also used at {first}");
                            self.error(rp.clone(), msg);
                        }
                    }
                }
                self.route(&rp, route, clusters);
            }
        }
    }

    fn route(&mut self, at: &FieldPath, route: &RouteConfig, clusters: &Clusters<'_>) {
        let m = at.key("match");
        let fields = [
            ("service", &route.matches.service),
            ("method", &route.matches.method),
            ("version", &route.matches.version),
            ("group", &route.matches.group),
        ];
        for (field, matcher) in fields {
            if let Some(matcher) = matcher {
                self.string_match(m.key(field), matcher);
            }
        }
        for (name, matcher) in &route.matches.headers {
            if name.is_empty() {
                self.error(m.key("headers"), "a header name must not be empty");
            }
            self.string_match(m.key("headers").key(name), matcher);
        }

        let action = at.key("action");
        let targets: Vec<&str> = match &route.action {
            RouteActionConfig::Cluster(name) => {
                self.cluster_ref(action.key("cluster"), name, clusters);
                vec![name.as_str()]
            }
            RouteActionConfig::WeightedClusters(choices) => {
                let wc = action.key("weighted_clusters");
                if choices.is_empty() {
                    self.error(wc.clone(), "needs at least one cluster");
                }
                for (k, choice) in choices.iter().enumerate() {
                    self.cluster_ref(wc.index(k).key("cluster"), &choice.cluster, clusters);
                    if choice.weight == 0 {
                        self.error(wc.index(k).key("weight"), "must be greater than 0");
                    }
                }
                choices.iter().map(|c| c.cluster.as_str()).collect()
            }
            RouteActionConfig::DirectResponse(_) => {
                if route.retry.is_some() {
                    self.warn(at.key("retry"), "a direct response is never retried");
                }
                Vec::new()
            }
        };

        self.nonzero_duration(at.key("timeout"), route.timeout, "every request would time out");
        if let Some(retry) = &route.retry {
            self.retry(&at.key("retry"), retry, route.timeout);
        }
        for name in route.request_headers_to_add.keys() {
            if name.is_empty() {
                self.error(at.key("request_headers_to_add"), "a header name must not be empty");
            }
        }
        if !route.metadata_match.is_empty() {
            for name in targets {
                let Some(cluster) = clusters.get(name) else { continue };
                if !cluster.endpoints.iter().any(|e| satisfies(&e.metadata, &route.metadata_match))
                {
                    let msg = format!(
                        "no endpoint of cluster `{name}` has all these metadata: requests routed there get a no-healthy-upstream reply"
                    );
                    self.warn(at.key("metadata_match"), msg);
                }
            }
        }
    }

    fn string_match(&mut self, at: FieldPath, matcher: &StringMatch) {
        if let StringMatch::Regex(pattern) = matcher {
            if let Err(err) = regex::Regex::new(pattern) {
                // The regex error is multi-line (it draws the pattern); keep its last line.
                let text = err.to_string();
                let reason = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                let reason = reason.trim().trim_start_matches("error: ");
                self.error(at.key("regex"), format!("invalid regular expression: {reason}"));
            }
        }
    }

    fn retry(&mut self, at: &FieldPath, retry: &RetryConfig, route_timeout: Duration) {
        if let Some(per_try) = retry.per_try_timeout {
            self.nonzero_duration(at.key("per_try_timeout"), per_try, "every try would time out");
            if per_try > route_timeout {
                let msg = format!(
                    "{} is longer than the route timeout ({}), which bounds all tries together",
                    humantime_serde::re::humantime::format_duration(per_try),
                    humantime_serde::re::humantime::format_duration(route_timeout),
                );
                self.error(at.key("per_try_timeout"), msg);
            }
        }
        let on_status = retry.retry_on.contains(&RetryOn::RetriableStatus);
        if on_status && retry.retriable_statuses.is_empty() {
            self.warn(
                at.key("retry_on"),
                "retriable_status is listed but retriable_statuses is empty",
            );
        }
        if !on_status && !retry.retriable_statuses.is_empty() {
            self.warn(
                at.key("retriable_statuses"),
                "has no effect unless retry_on lists retriable_status",
            );
        }
    }

    fn outlier(&mut self, at: &FieldPath, outlier: &OutlierConfig) {
        if outlier.consecutive_failures == 0 {
            self.error(
                at.key("consecutive_failures"),
                "must be greater than 0 (every endpoint would be ejected before its first try)",
            );
        }
        self.nonzero_duration(
            at.key("base_ejection_time"),
            outlier.base_ejection_time,
            "an ejection would end as it began",
        );
        let format = humantime_serde::re::humantime::format_duration;
        if outlier.max_ejection_time < outlier.base_ejection_time {
            let msg = format!(
                "{} is shorter than base_ejection_time ({})",
                format(outlier.max_ejection_time),
                format(outlier.base_ejection_time),
            );
            self.error(at.key("max_ejection_time"), msg);
        }
        if outlier.min_ejection_time > outlier.base_ejection_time {
            let msg = format!(
                "{} is longer than base_ejection_time ({}): it is the part of an ejection that \
                 even panic mode and on-demand reconnects respect",
                format(outlier.min_ejection_time),
                format(outlier.base_ejection_time),
            );
            self.error(at.key("min_ejection_time"), msg);
        }
        if outlier.panic_threshold > 100 {
            self.error(at.key("panic_threshold"), "is a percentage: 0 to 100");
        }
    }

    fn unused_clusters(&mut self, config: &Config) {
        let mut used: HashSet<&str> = HashSet::new();
        for listener in &config.listeners {
            used.extend(listener.fallback_cluster.as_deref());
        }
        for route in config.routes.iter().flat_map(|t| &t.routes) {
            match &route.action {
                RouteActionConfig::Cluster(name) => {
                    used.insert(name);
                }
                RouteActionConfig::WeightedClusters(choices) => {
                    used.extend(choices.iter().map(|c| c.cluster.as_str()));
                }
                RouteActionConfig::DirectResponse(_) => {}
            }
        }
        used.extend(super::http::used_clusters(&config.http));
        for (i, cluster) in config.clusters.iter().enumerate() {
            if !used.contains(cluster.name.as_str()) {
                let path = FieldPath::root().key("clusters").index(i).key("name");
                self.warn(
                    path,
                    format!("cluster `{}` is not used by any route or listener", cluster.name),
                );
            }
        }
    }

    fn limits(&mut self, limits: &LimitsConfig) {
        let at = FieldPath::root().key("limits");
        self.positive(at.key("max_frame_bytes"), limits.max_frame_bytes, "no frame would fit");
        self.positive(at.key("max_header_bytes"), limits.max_header_bytes, "no header would fit");
        self.positive(
            at.key("max_nesting"),
            limits.max_nesting,
            "no structured header would decode",
        );
        self.positive(
            at.key("max_connections"),
            limits.max_connections,
            "no connection would be accepted",
        );
        self.positive(
            at.key("max_requests_per_connection"),
            limits.max_requests_per_connection,
            "no request would be accepted",
        );
        self.nonzero_duration(
            at.key("idle_timeout"),
            limits.idle_timeout,
            "every connection would close at once",
        );
        if limits.max_header_bytes > limits.max_frame_bytes && limits.max_frame_bytes > 0 {
            self.warn(
                at.key("max_header_bytes"),
                "is larger than max_frame_bytes, which also bounds headers",
            );
        }
    }
}

/// True when binding `a` and `b` both would fail with EADDRINUSE (or silently share a port).
///
/// Port 0 asks the system for a free port, so it never clashes. An unspecified address takes
/// the port on every address of its family: `0.0.0.0:P` overlaps every IPv4 `x:P`. `[::]:P`
/// overlaps every IPv6 `x:P` *and* every IPv4 one, because the gateway binds with the system's
/// default `IPV6_V6ONLY` = off (Linux `net.ipv6.bindv6only` = 0), which makes `[::]` a
/// dual-stack socket; on a host configured v6-only that rule is stricter than needed, never
/// looser. Specific addresses overlap only when equal (an IPv4-mapped IPv6 address is compared
/// as its IPv4 address, since that is what it binds).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() == 0 || a.port() != b.port() {
        return false;
    }
    let (a, b) = (a.ip().to_canonical(), b.ip().to_canonical());
    let wildcard_covers = |wild: std::net::IpAddr, other: std::net::IpAddr| {
        wild.is_unspecified() && (wild.is_ipv6() || other.is_ipv4())
    };
    a == b || wildcard_covers(a, b) || wildcard_covers(b, a)
}

/// Why [`overlaps`] said yes, in words for the error message.
fn overlap_reason(a: SocketAddr, b: SocketAddr) -> &'static str {
    let (a, b) = (a.ip().to_canonical(), b.ip().to_canonical());
    if a == b {
        "the same address and port"
    } else if a.is_ipv6() && a.is_unspecified() || b.is_ipv6() && b.is_unspecified() {
        "[::] takes the port on every IPv6 and (dual-stack, IPV6_V6ONLY off) every IPv4 address"
    } else {
        "0.0.0.0 takes the port on every IPv4 address"
    }
}

/// True when `metadata` holds every pair of `wanted`.
fn satisfies(metadata: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| metadata.get(k) == Some(v))
}

#[cfg(test)]
mod tests;

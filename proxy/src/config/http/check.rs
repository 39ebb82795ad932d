//! Semantic checks on the `http` section: the rules its types cannot say.
//!
//! Every problem is collected with its field path, like the rest of
//! [`validate`](crate::config::validate()). The checks call the same parsing functions as the
//! router builder, so a configuration that validates builds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::{HttpActionConfig, HttpConfig, HttpRetryConfig, HttpRetryOn, HttpRouteConfig};
use crate::config::diagnostic::{did_you_mean, FieldPath};
use crate::config::schema::{Config, StringMatch};
use crate::http::route::{self as http_route, DomainPattern};
use crate::route::StringMatcher;

/// What the checks found: errors and warnings, each with its field path.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) errors: Vec<(FieldPath, String)>,
    pub(crate) warnings: Vec<(FieldPath, String)>,
}

impl Findings {
    fn error(&mut self, path: FieldPath, message: impl Into<String>) {
        self.errors.push((path, message.into()));
    }

    fn warn(&mut self, path: FieldPath, message: impl Into<String>) {
        self.warnings.push((path, message.into()));
    }
}

/// The clusters the `http` section sends requests to.
pub(crate) fn used_clusters(http: &HttpConfig) -> impl Iterator<Item = &str> {
    let routes = http.virtual_hosts.iter().flat_map(|v| &v.routes);
    routes.flat_map(|r| -> Box<dyn Iterator<Item = &str> + '_> {
        match &r.action {
            HttpActionConfig::Cluster(name) => Box::new(std::iter::once(name.as_str())),
            HttpActionConfig::WeightedClusters(choices) => {
                Box::new(choices.iter().map(|c| c.cluster.as_str()))
            }
            HttpActionConfig::Redirect(_) | HttpActionConfig::DirectResponse(_) => {
                Box::new(std::iter::empty())
            }
        }
    })
}

/// Checks `config.http` (the clusters it names are looked up in `config.clusters`).
pub(crate) fn check(config: &Config) -> Findings {
    let mut f = Findings::default();
    let root = FieldPath::root().key("http");
    limits(&mut f, &root.key("limits"), config);
    let clusters: HashMap<&str, &crate::config::ClusterConfig> =
        config.clusters.iter().map(|c| (c.name.as_str(), c)).collect();
    let vh_root = root.key("virtual_hosts");
    let mut vhost_names: HashMap<&str, FieldPath> = HashMap::new();
    let mut route_names: HashMap<String, FieldPath> = HashMap::new();
    // Each parsed domain, with the virtual host that claimed it first.
    let mut domains: Vec<(DomainPattern, usize)> = Vec::new();
    for (v, vhost) in config.http.virtual_hosts.iter().enumerate() {
        let at = vh_root.index(v);
        if vhost.name.is_empty() {
            f.error(at.key("name"), "a virtual host name must not be empty");
        } else if let Some(first) = vhost_names.get(vhost.name.as_str()) {
            f.error(
                at.key("name"),
                format!("duplicate virtual host name `{}` (first used at {first})", vhost.name),
            );
        } else {
            vhost_names.insert(&vhost.name, at.key("name"));
        }
        if vhost.domains.is_empty() {
            f.error(at.key("domains"), "a virtual host needs at least one domain");
        }
        for (d, domain) in vhost.domains.iter().enumerate() {
            let path = at.key("domains").index(d);
            let pattern = match DomainPattern::parse(domain) {
                Ok(pattern) => pattern,
                Err(message) => {
                    f.error(path, message);
                    continue;
                }
            };
            match domains.iter().find(|(p, _)| *p == pattern) {
                Some(&(_, first)) if first == v => {
                    f.warn(path, format!("domain `{domain}` is listed twice in this virtual host"));
                }
                Some(&(_, first)) => {
                    let name = config.http.virtual_hosts.get(first).map_or("", |h| &h.name);
                    f.error(path, format!("domain `{domain}` is also served by virtual host `{name}` (virtual_hosts[{first}])"));
                }
                None => domains.push((pattern, v)),
            }
        }
        header_edits(
            &mut f,
            &at,
            "request",
            &vhost.request_headers_to_remove,
            &vhost.request_headers_to_add,
        );
        header_edits(
            &mut f,
            &at,
            "response",
            &vhost.response_headers_to_remove,
            &vhost.response_headers_to_add,
        );
        if vhost.routes.is_empty() {
            f.warn(at.key("routes"), "no routes: every request to this host gets a 404");
        }
        let mut catch_all: Option<usize> = None;
        for (r, route) in vhost.routes.iter().enumerate() {
            let rp = at.key("routes").index(r);
            let name = route.name.clone().unwrap_or_else(|| format!("{}-{r}", vhost.name));
            if name.is_empty() {
                f.error(rp.key("name"), "a route name must not be empty");
            } else if let Some(first) = route_names.get(&name) {
                let msg = format!("duplicate HTTP route name `{name}` (first used at {first})");
                f.error(if route.name.is_some() { rp.key("name") } else { rp.clone() }, msg);
            } else {
                route_names.insert(name, rp.key("name"));
            }
            if let Some(first) = catch_all {
                f.warn(rp.clone(), format!("never reached: routes[{first}] matches every request"));
            }
            if route.matches == Default::default() {
                catch_all = catch_all.or(Some(r));
            }
            self::route(&mut f, &rp, route, &clusters);
        }
    }
    f
}

fn limits(f: &mut Findings, at: &FieldPath, config: &Config) {
    let limits = &config.http.limits;
    if limits.max_header_bytes == 0 {
        f.error(at.key("max_header_bytes"), "must be greater than 0 (no request head would fit)");
    }
    if limits.max_headers == 0 {
        f.error(at.key("max_headers"), "must be greater than 0 (every request has headers)");
    }
    if limits.max_concurrent_streams == 0 {
        f.error(
            at.key("max_concurrent_streams"),
            "must be greater than 0 (no HTTP/2 request could be made)",
        );
    }
}

fn route(
    f: &mut Findings,
    at: &FieldPath,
    route: &HttpRouteConfig,
    clusters: &HashMap<&str, &crate::config::ClusterConfig>,
) {
    let m = at.key("match");
    let matches = &route.matches;
    if let Some(path) = &matches.path {
        string_match(f, m.key("path"), path);
        if let StringMatch::Exact(p) | StringMatch::Prefix(p) = path {
            if !p.starts_with('/') {
                f.warn(
                    m.key("path"),
                    format!("`{p}` does not start with `/`: no request path does"),
                );
            }
        }
    }
    for (i, method) in matches.methods.iter().enumerate() {
        match http_route::parse_method(method) {
            Err(message) => f.error(m.key("methods").index(i), message),
            Ok(parsed) if parsed.as_str() != method.to_ascii_uppercase() => {
                let msg = format!(
                    "methods are case-sensitive: `{method}` is not `{}`",
                    method.to_ascii_uppercase()
                );
                f.warn(m.key("methods").index(i), msg);
            }
            Ok(_) => {}
        }
    }
    for (name, matcher) in &matches.headers {
        if let Err(message) = http_route::parse_name(name) {
            f.error(m.key("headers").key(name), message);
        }
        string_match(f, m.key("headers").key(name), matcher);
    }
    for (name, matcher) in &matches.query {
        if name.is_empty() {
            f.error(m.key("query"), "a query parameter name must not be empty");
        }
        string_match(f, m.key("query").key(name), matcher);
    }
    if let Some(grpc) = &matches.grpc {
        let g = m.key("grpc");
        for (field, matcher) in [("service", &grpc.service), ("method", &grpc.method)] {
            if let Some(matcher) = matcher {
                string_match(f, g.key(field), matcher);
            }
        }
    }
    // The literal a rewrite replaces (mirrors HttpRouteMatch::path_prefix).
    let route_prefix = match &matches.path {
        Some(StringMatch::Exact(p) | StringMatch::Prefix(p)) => Some(p.as_str()),
        _ => None,
    };

    let action = at.key("action");
    let forwards = match &route.action {
        HttpActionConfig::Cluster(name) => {
            cluster_ref(f, action.key("cluster"), name, clusters);
            metadata(f, at, route, &[name.as_str()], clusters);
            true
        }
        HttpActionConfig::WeightedClusters(choices) => {
            let wc = action.key("weighted_clusters");
            if choices.is_empty() {
                f.error(wc.clone(), "needs at least one cluster");
            }
            for (k, choice) in choices.iter().enumerate() {
                cluster_ref(f, wc.index(k).key("cluster"), &choice.cluster, clusters);
                if choice.weight == 0 {
                    f.error(wc.index(k).key("weight"), "must be greater than 0");
                }
            }
            let names: Vec<&str> = choices.iter().map(|c| c.cluster.as_str()).collect();
            metadata(f, at, route, &names, clusters);
            true
        }
        HttpActionConfig::Redirect(redirect) => {
            if let Err((field, message)) = http_route::redirect(redirect, route_prefix) {
                f.error(action.key("redirect").key(field), message);
            }
            false
        }
        HttpActionConfig::DirectResponse(direct) => {
            match http_route::direct(direct) {
                Err((field, message)) => f.error(action.key("direct_response").key(field), message),
                Ok(d) if d.status.is_informational() => f.warn(
                    action.key("direct_response").key("status"),
                    "an informational (1xx) status cannot end a response",
                ),
                Ok(_) => {}
            }
            false
        }
    };
    if let Some(replacement) = &route.prefix_rewrite {
        if let Err(message) = http_route::prefix_rewrite(replacement, route_prefix) {
            f.error(at.key("prefix_rewrite"), message);
        }
    }
    if let Some(host) = &route.host_rewrite {
        if let Err(message) = http_route::host_rewrite(host) {
            f.error(at.key("host_rewrite"), message);
        }
    }
    if !forwards {
        let unused = [
            ("prefix_rewrite", route.prefix_rewrite.is_some()),
            ("host_rewrite", route.host_rewrite.is_some()),
            ("retry", route.retry.is_some()),
            ("request_headers_to_add", !route.request_headers_to_add.is_empty()),
            ("request_headers_to_remove", !route.request_headers_to_remove.is_empty()),
            ("metadata_match", !route.metadata_match.is_empty()),
        ];
        for (field, set) in unused {
            if set {
                f.warn(at.key(field), "has no effect: this route answers without forwarding");
            }
        }
    }
    if let Some(retry) = &route.retry {
        self::retry(f, &at.key("retry"), retry, route.timeout);
    }
    header_edits(f, at, "request", &route.request_headers_to_remove, &route.request_headers_to_add);
    header_edits(
        f,
        at,
        "response",
        &route.response_headers_to_remove,
        &route.response_headers_to_add,
    );
}

fn string_match(f: &mut Findings, at: FieldPath, matcher: &StringMatch) {
    if let Err(err) = StringMatcher::compile(matcher) {
        // The regex error is multi-line (it draws the pattern); keep its last line.
        let text = err.to_string();
        let reason = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        let reason = reason.trim().trim_start_matches("error: ");
        f.error(at.key("regex"), format!("invalid regular expression: {reason}"));
    }
}

fn cluster_ref(
    f: &mut Findings,
    at: FieldPath,
    name: &str,
    clusters: &HashMap<&str, &crate::config::ClusterConfig>,
) {
    if !clusters.contains_key(name) {
        let hint = did_you_mean(name, clusters.keys().copied());
        f.error(at, format!("no cluster named `{name}`{hint}"));
    }
}

fn metadata(
    f: &mut Findings,
    at: &FieldPath,
    route: &HttpRouteConfig,
    targets: &[&str],
    clusters: &HashMap<&str, &crate::config::ClusterConfig>,
) {
    if route.metadata_match.is_empty() {
        return;
    }
    let satisfies = |md: &BTreeMap<String, String>| {
        route.metadata_match.iter().all(|(k, v)| md.get(k) == Some(v))
    };
    let mut seen = HashSet::new();
    for &name in targets {
        let Some(cluster) = clusters.get(name) else { continue };
        if seen.insert(name) && !cluster.endpoints.iter().any(|e| satisfies(&e.metadata)) {
            let msg = format!("no endpoint of cluster `{name}` has all these metadata: requests routed there get a 503");
            f.warn(at.key("metadata_match"), msg);
        }
    }
}

fn retry(f: &mut Findings, at: &FieldPath, retry: &HttpRetryConfig, route_timeout: Duration) {
    if let Some(per_try) = retry.per_try_timeout {
        if per_try.is_zero() {
            f.error(at.key("per_try_timeout"), "must be longer than 0s (every try would time out)");
        } else if !route_timeout.is_zero() && per_try > route_timeout {
            let fmt = humantime_serde::re::humantime::format_duration;
            let msg = format!(
                "{} is longer than the route timeout ({}), which bounds all tries together",
                fmt(per_try),
                fmt(route_timeout),
            );
            f.error(at.key("per_try_timeout"), msg);
        }
    }
    let on_codes = retry.retry_on.contains(&HttpRetryOn::RetriableStatusCodes);
    if on_codes && retry.retriable_status_codes.is_empty() {
        f.warn(at.key("retry_on"), "retriable_status_codes is listed but no code is given");
    }
    if !on_codes && !retry.retriable_status_codes.is_empty() {
        f.warn(
            at.key("retriable_status_codes"),
            "has no effect unless retry_on lists retriable_status_codes",
        );
    }
    for (i, &code) in retry.retriable_status_codes.iter().enumerate() {
        if !(100..=599).contains(&code) {
            f.error(
                at.key("retriable_status_codes").index(i),
                format!("{code} is not an HTTP status (100–599)"),
            );
        }
    }
    if retry.retry_on.is_empty() {
        f.warn(at.key("retry_on"), "empty: nothing is retried");
    }
}

/// The header edits of one level (a virtual host or a route) in one direction.
fn header_edits(
    f: &mut Findings,
    at: &FieldPath,
    direction: &str,
    remove: &[String],
    add: &BTreeMap<String, String>,
) {
    let remove_at = at.key(&format!("{direction}_headers_to_remove"));
    for (i, name) in remove.iter().enumerate() {
        if let Err(message) = http_route::parse_name(name) {
            f.error(remove_at.index(i), message);
        }
    }
    let add_at = at.key(&format!("{direction}_headers_to_add"));
    for (name, value) in add {
        match http_route::parse_addition(name, value) {
            Err(message) => f.error(add_at.key(name), message),
            Ok((parsed, _)) if direction == "request" && parsed == ::http::header::HOST => {
                f.warn(
                    add_at.key(name),
                    "set the authority with host_rewrite instead (HTTP/2 has no Host header)",
                );
            }
            Ok(_) => {}
        }
    }
}

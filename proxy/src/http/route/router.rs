//! The HTTP router: virtual hosts chosen by authority, then their routes in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use http::uri::Authority;

use super::action::{ForwardTarget, HttpAction, PrefixRewrite};
use super::compile;
use super::domain::{DomainPattern, DomainTable};
use super::headers::{HeaderEdits, HeaderEditsBuilder};
use super::matcher::HttpRouteMatch;
use super::request::RequestView;
use super::retry::HttpRetryPolicy;
use super::HttpBuildError;
use crate::config::{FieldPath, HttpActionConfig, HttpConfig, HttpRouteConfig, VirtualHostConfig};
use crate::route::{Target, WeightedClusters};
use crate::upstream::ClusterSet;

/// The routes of HTTP, HTTP/2 and gRPC requests, built once from configuration and then only
/// read.
#[derive(Clone, Debug, Default)]
pub struct HttpRouter {
    vhosts: Box<[VirtualHost]>,
    domains: DomainTable,
    route_count: usize,
}

/// A virtual host: its domains and its routes, in match order.
#[derive(Clone, Debug)]
pub struct VirtualHost {
    name: Arc<str>,
    domains: Box<[Box<str>]>,
    routes: Box<[HttpRoute]>,
}

impl VirtualHost {
    /// Its configured name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Its domains, as configured.
    pub fn domains(&self) -> &[Box<str>] {
        &self.domains
    }

    /// Its routes, in match order.
    pub fn routes(&self) -> &[HttpRoute] {
        &self.routes
    }

    /// The first route whose match holds for `req`.
    pub fn select(&self, req: &RequestView<'_>) -> Option<&HttpRoute> {
        self.routes.iter().find(|r| r.matcher.matches(req))
    }
}

/// One HTTP route: its match, its action and how requests are forwarded.
#[derive(Clone, Debug)]
pub struct HttpRoute {
    name: Arc<str>,
    index: usize,
    matcher: HttpRouteMatch,
    action: HttpAction,
    prefix_rewrite: Option<PrefixRewrite>,
    host_rewrite: Option<(Authority, HeaderValue)>,
    timeout: Option<Duration>,
    retry: Option<HttpRetryPolicy>,
    request_headers: HeaderEdits,
    response_headers: HeaderEdits,
    metadata_match: BTreeMap<String, String>,
}

impl HttpRoute {
    /// The name for metrics and logs (configured, or `<virtual host>-<index>` counting from 0).
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// A number unique across the router (0, 1, … in configuration order over all virtual
    /// hosts), to index per-route metrics without hashing names.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its conditions.
    pub fn matcher(&self) -> &HttpRouteMatch {
        &self.matcher
    }

    /// What to do with a matching request.
    pub fn action(&self) -> &HttpAction {
        &self.action
    }

    /// The whole-request deadline, retries included; `None` when configured as `0s`.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The retry policy, if retries are configured.
    pub fn retry(&self) -> Option<&HttpRetryPolicy> {
        self.retry.as_ref()
    }

    /// The deadline of one try: the retry policy's per-try timeout if set, capped by the
    /// route's timeout; else the route's timeout.
    pub fn per_try_timeout(&self) -> Option<Duration> {
        let per_try = self.retry.as_ref().and_then(HttpRetryPolicy::per_try_timeout);
        match (per_try, self.timeout) {
            (Some(p), Some(t)) => Some(p.min(t)),
            (p, t) => p.or(t),
        }
    }

    /// What replaces the matched path prefix before forwarding, if configured (see
    /// [`rewrite_path`](super::rewrite_path)).
    pub fn prefix_rewrite(&self) -> Option<&str> {
        self.prefix_rewrite.as_ref().map(|r| &*r.replacement)
    }

    pub(crate) fn prefix_rewrite_rule(&self) -> Option<&PrefixRewrite> {
        self.prefix_rewrite.as_ref()
    }

    /// The authority to forward with instead of the request's, if configured.
    pub fn host_rewrite(&self) -> Option<&Authority> {
        self.host_rewrite.as_ref().map(|(a, _)| a)
    }

    /// [`host_rewrite`](Self::host_rewrite) as a ready `Host` header value.
    pub fn host_rewrite_value(&self) -> Option<&HeaderValue> {
        self.host_rewrite.as_ref().map(|(_, v)| v)
    }

    /// Edits of the forwarded request's headers: the virtual host's, then the route's.
    pub fn request_headers(&self) -> &HeaderEdits {
        &self.request_headers
    }

    /// Edits of the response's headers (upstream or direct): the virtual host's, then the
    /// route's.
    pub fn response_headers(&self) -> &HeaderEdits {
        &self.response_headers
    }

    /// The endpoint labels this route requires (already applied to its targets' subsets).
    pub fn metadata_match(&self) -> &BTreeMap<String, String> {
        &self.metadata_match
    }
}

impl HttpRouter {
    /// Builds the router: parses every domain, compiles every match, resolves every cluster
    /// (making the metadata subsets routes need) and parses every header edit.
    ///
    /// # Errors
    /// The first problem found, located by field path. [`crate::config::validate`] reports
    /// all of them; a validated configuration always builds.
    pub fn build(config: &HttpConfig, clusters: &ClusterSet) -> Result<HttpRouter, HttpBuildError> {
        let root = FieldPath::root().key("http").key("virtual_hosts");
        let mut domains = DomainTable::default();
        let mut vhosts = Vec::with_capacity(config.virtual_hosts.len());
        let mut next_index = 0;
        for (v, vhost) in config.virtual_hosts.iter().enumerate() {
            let at = root.index(v);
            for (d, domain) in vhost.domains.iter().enumerate() {
                let path = at.key("domains").index(d);
                let pattern = DomainPattern::parse(domain).map_err(|m| invalid(&path, m))?;
                // The same domain twice in one host is harmless (validation warns).
                match domains.insert(pattern, v) {
                    Err(first) if first != v => {
                        let first = config.virtual_hosts.get(first).map_or("", |f| &f.name);
                        return Err(HttpBuildError::DuplicateDomain {
                            path: path.to_string(),
                            domain: domain.clone(),
                            first: first.to_owned(),
                        });
                    }
                    _ => {}
                }
            }
            if vhost.domains.is_empty() {
                return Err(invalid(
                    &at.key("domains"),
                    "a virtual host needs at least one domain",
                ));
            }
            let mut routes = Vec::with_capacity(vhost.routes.len());
            for (r, route) in vhost.routes.iter().enumerate() {
                let path = at.key("routes").index(r);
                routes.push(build_route(&path, &at, vhost, r, route, next_index, clusters)?);
                next_index += 1;
            }
            vhosts.push(VirtualHost {
                name: vhost.name.as_str().into(),
                domains: vhost.domains.iter().map(|d| d.as_str().into()).collect(),
                routes: routes.into_boxed_slice(),
            });
        }
        Ok(HttpRouter { vhosts: vhosts.into_boxed_slice(), domains, route_count: next_index })
    }

    /// The virtual host and route for `req`: the virtual host serving its authority (see
    /// [`RequestView::authority`]), then that host's first matching route. `None` when no
    /// host serves the authority or none of its routes matches (answer 404).
    pub fn select(&self, req: &RequestView<'_>) -> Option<(&VirtualHost, &HttpRoute)> {
        let vhost = self.virtual_host(req.authority())?;
        Some((vhost, vhost.select(req)?))
    }

    /// The virtual host serving `authority` (`host[:port]`), by domain precedence: exact,
    /// then `*.suffix` (longest first), then `prefix.*` (longest first), then `*`.
    pub fn virtual_host(&self, authority: &str) -> Option<&VirtualHost> {
        self.vhosts.get(self.domains.lookup(authority)?)
    }

    /// Every virtual host, in configuration order.
    pub fn virtual_hosts(&self) -> &[VirtualHost] {
        &self.vhosts
    }

    /// Every route with its virtual host, in [`HttpRoute::index`] order.
    pub fn routes(&self) -> impl Iterator<Item = (&VirtualHost, &HttpRoute)> {
        self.vhosts.iter().flat_map(|v| v.routes.iter().map(move |r| (v, r)))
    }

    /// The number of routes (one more than the largest [`HttpRoute::index`]).
    pub fn route_count(&self) -> usize {
        self.route_count
    }

    /// True when there is no virtual host (every request gets a 404).
    pub fn is_empty(&self) -> bool {
        self.vhosts.is_empty()
    }
}

fn invalid(path: &FieldPath, message: impl Into<String>) -> HttpBuildError {
    HttpBuildError::Invalid { path: path.to_string(), message: message.into() }
}

/// Header edits of one direction (`request` or `response`): the virtual host's level, then
/// the route's, each with the path of the struct holding its fields.
fn header_edits(
    direction: &str,
    levels: [(&FieldPath, &Vec<String>, &BTreeMap<String, String>); 2],
) -> Result<HeaderEdits, HttpBuildError> {
    let mut builder = HeaderEditsBuilder::default();
    for (at, remove, add) in levels {
        builder.level(remove, add).map_err(|(which, m)| {
            invalid(&at.key(&format!("{direction}_headers_to_{which}")), m)
        })?;
    }
    Ok(builder.finish())
}

fn build_route(
    at: &FieldPath,
    vhost_at: &FieldPath,
    vhost: &VirtualHostConfig,
    position: usize,
    route: &HttpRouteConfig,
    index: usize,
    clusters: &ClusterSet,
) -> Result<HttpRoute, HttpBuildError> {
    let matcher = HttpRouteMatch::build(&route.matches)
        .map_err(|(field, message)| invalid(&at.key("match").key(&field), message))?;
    let action_at = at.key("action");
    let target = |path: FieldPath, name: &str| -> Result<Target, HttpBuildError> {
        let cluster = clusters.get(name).ok_or_else(|| HttpBuildError::UnknownCluster {
            path: path.to_string(),
            cluster: name.to_owned(),
        })?;
        Ok(Target::new(Arc::clone(cluster), cluster.subset(&route.metadata_match)))
    };
    let action = match &route.action {
        HttpActionConfig::Cluster(name) => {
            HttpAction::Forward(ForwardTarget::Cluster(target(action_at.key("cluster"), name)?))
        }
        HttpActionConfig::WeightedClusters(choices) => {
            let wc = action_at.key("weighted_clusters");
            let mut targets = Vec::with_capacity(choices.len());
            for (k, choice) in choices.iter().enumerate() {
                if choice.weight == 0 {
                    return Err(invalid(&wc.index(k).key("weight"), "must be greater than 0"));
                }
                targets.push((choice.weight, target(wc.index(k).key("cluster"), &choice.cluster)?));
            }
            let weighted = WeightedClusters::new(targets)
                .ok_or_else(|| invalid(&wc, "needs at least one cluster"))?;
            HttpAction::Forward(ForwardTarget::Weighted(weighted))
        }
        HttpActionConfig::Redirect(redirect) => HttpAction::Redirect(
            compile::redirect(redirect, matcher.path_prefix())
                .map_err(|(f, m)| invalid(&action_at.key("redirect").key(f), m))?,
        ),
        HttpActionConfig::DirectResponse(direct) => HttpAction::Direct(
            compile::direct(direct)
                .map_err(|(f, m)| invalid(&action_at.key("direct_response").key(f), m))?,
        ),
    };
    let prefix_rewrite = route
        .prefix_rewrite
        .as_deref()
        .map(|r| compile::prefix_rewrite(r, matcher.path_prefix()))
        .transpose()
        .map_err(|m| invalid(&at.key("prefix_rewrite"), m))?;
    let host_rewrite = route
        .host_rewrite
        .as_deref()
        .map(compile::host_rewrite)
        .transpose()
        .map_err(|m| invalid(&at.key("host_rewrite"), m))?;
    let request_headers = header_edits(
        "request",
        [
            (vhost_at, &vhost.request_headers_to_remove, &vhost.request_headers_to_add),
            (at, &route.request_headers_to_remove, &route.request_headers_to_add),
        ],
    )?;
    let response_headers = header_edits(
        "response",
        [
            (vhost_at, &vhost.response_headers_to_remove, &vhost.response_headers_to_add),
            (at, &route.response_headers_to_remove, &route.response_headers_to_add),
        ],
    )?;
    Ok(HttpRoute {
        name: route.name.clone().unwrap_or_else(|| format!("{}-{position}", vhost.name)).into(),
        index,
        matcher,
        action,
        prefix_rewrite,
        host_rewrite,
        timeout: Some(route.timeout).filter(|t| !t.is_zero()),
        retry: route.retry.as_ref().map(HttpRetryPolicy::new),
        request_headers,
        response_headers,
        metadata_match: route.metadata_match.clone(),
    })
}

#[cfg(test)]
mod tests;

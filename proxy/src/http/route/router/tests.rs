use http::header::HOST;
use http::{HeaderMap, Method, StatusCode, Uri};

use super::*;
use crate::config::LbPolicy;
use crate::http::route::{rewrite_path, HttpRetryCause};
use crate::upstream::cluster::tests::cluster_config;

fn clusters() -> ClusterSet {
    ClusterSet::build(&[
        cluster_config(
            "users",
            LbPolicy::RoundRobin,
            &[(1, 1, &[("zone", "a")]), (2, 1, &[("zone", "b")])],
        ),
        cluster_config("web", LbPolicy::RoundRobin, &[(3, 1, &[])]),
        cluster_config("canary", LbPolicy::RoundRobin, &[(4, 1, &[])]),
    ])
    .unwrap()
}

fn router(yaml: &str) -> Result<HttpRouter, HttpBuildError> {
    let config: HttpConfig = crate::http::route::from_yaml(yaml);
    HttpRouter::build(&config, &clusters())
}

struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    grpc: bool,
}

/// A GET of `target` with `Host: host` (none if empty).
fn req(host: &str, target: &str) -> Req {
    let mut headers = HeaderMap::new();
    if !host.is_empty() {
        headers.insert(HOST, host.parse().unwrap());
    }
    Req { method: Method::GET, uri: target.parse().unwrap(), headers, grpc: false }
}

impl Req {
    fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            grpc: self.grpc,
        }
    }
}

/// `virtual host/route` selected for `r`, or `none`.
fn selected(router: &HttpRouter, r: &Req) -> String {
    router.select(&r.view()).map_or("none".into(), |(v, r)| format!("{}/{}", v.name(), r.name()))
}

const HOSTS: &str = "
virtual_hosts:
  - name: exact
    domains: [api.example.com, 'api.example.com:8443']
    routes:
      - {name: e, action: {cluster: users}}
  - name: suffix
    domains: ['*.example.com']
    routes:
      - {name: s, action: {cluster: web}}
  - name: longer-suffix
    domains: ['*.eu.example.com']
    routes:
      - {name: ls, action: {cluster: web}}
  - name: prefix
    domains: ['www.*']
    routes:
      - {name: p, action: {cluster: web}}
  - name: any
    domains: ['*']
    routes:
      - {name: a, action: {cluster: web}}
";

#[test]
fn domain_precedence() {
    let r = router(HOSTS).unwrap();
    assert_eq!(selected(&r, &req("api.example.com", "/")), "exact/e");
    assert_eq!(selected(&r, &req("API.EXAMPLE.COM:80", "/")), "exact/e");
    assert_eq!(selected(&r, &req("api.example.com:8443", "/")), "exact/e");
    assert_eq!(selected(&r, &req("shop.eu.example.com", "/")), "longer-suffix/ls");
    assert_eq!(selected(&r, &req("shop.example.com", "/")), "suffix/s");
    assert_eq!(selected(&r, &req("www.example.com", "/")), "suffix/s");
    assert_eq!(selected(&r, &req("www.example.org:8080", "/")), "prefix/p");
    assert_eq!(selected(&r, &req("example.org", "/")), "any/a");
    assert_eq!(selected(&r, &req("", "/")), "any/a");
    // HTTP/2 and absolute-form carry the authority in the URI; it wins over Host.
    assert_eq!(selected(&r, &req("other.org", "http://api.example.com/x")), "exact/e");
    assert_eq!(r.virtual_host("www.x").map(|v| &**v.name()), Some("prefix"));
    assert_eq!(r.virtual_hosts().len(), 5);
    assert_eq!(&*r.virtual_hosts()[0].domains()[1], "api.example.com:8443");
}

#[test]
fn a_port_in_a_domain_is_matched_exactly() {
    let r = router(
        "
virtual_hosts:
  - {name: plain, domains: [h.com], routes: [{action: {cluster: web}}]}
  - {name: tls, domains: ['h.com:8443'], routes: [{action: {cluster: web}}]}
",
    )
    .unwrap();
    assert_eq!(selected(&r, &req("h.com:8443", "/")), "tls/tls-0");
    assert_eq!(selected(&r, &req("h.com:8080", "/")), "plain/plain-0");
    assert_eq!(selected(&r, &req("h.com", "/")), "plain/plain-0");
    assert_eq!(selected(&r, &req("x.com", "/")), "none");
}

#[test]
fn routes_in_order_first_match_wins() {
    let r = router(
        "
virtual_hosts:
  - name: api
    domains: ['*']
    routes:
      - {name: users-post, match: {path: {prefix: /users}, methods: [POST]}, action: {cluster: users}}
      - {match: {path: {prefix: /users}}, action: {cluster: web}}
      - {name: grpc, match: {grpc: {service: {exact: pkg.Echo}}}, action: {cluster: canary}}
      - {name: health, match: {path: {exact: /healthz}}, action: {direct_response: {status: 200, body: ok}}}
",
    )
    .unwrap();
    let mut post = req("h", "/users/1");
    post.method = Method::POST;
    assert_eq!(selected(&r, &post), "api/users-post");
    assert_eq!(selected(&r, &req("h", "/users/1")), "api/api-1");
    let mut grpc = req("h", "/pkg.Echo/Say");
    assert_eq!(selected(&r, &grpc), "none");
    grpc.grpc = true;
    assert_eq!(selected(&r, &grpc), "api/grpc");
    assert_eq!(selected(&r, &req("h", "/healthz")), "api/health");
    assert_eq!(selected(&r, &req("h", "/other")), "none");
}

#[test]
fn indexes_are_unique_across_the_router() {
    let r = router(HOSTS).unwrap();
    let indexes: Vec<usize> = r.routes().map(|(_, route)| route.index()).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    assert_eq!(r.route_count(), 5);
    let (vhost, route) = r.routes().nth(3).unwrap();
    assert_eq!((&**vhost.name(), &**route.name()), ("prefix", "p"));
    assert!(!r.is_empty());
    assert!(router("{}").unwrap().is_empty());
    assert_eq!(selected(&router("{}").unwrap(), &req("h", "/")), "none");
}

const FULL: &str = "
virtual_hosts:
  - name: api
    domains: [api.example.com]
    request_headers_to_add: {x-gw: xproxy, x-tier: host}
    request_headers_to_remove: [x-forwarded-secret]
    response_headers_to_add: {x-host: api}
    routes:
      - name: users
        match: {path: {prefix: /users}}
        action: {cluster: users}
        prefix_rewrite: /v2/users
        host_rewrite: users.internal:8080
        timeout: 3s
        retry: {max_retries: 2, per_try_timeout: 1s, retry_on: [connect_failure, 5xx]}
        request_headers_to_add: {x-route: users, x-tier: route}
        request_headers_to_remove: [x-gw]
        response_headers_to_remove: [server]
        metadata_match: {zone: b}
      - name: no-deadline
        match: {path: {prefix: /stream}}
        action: {weighted_clusters: [{cluster: web, weight: 3}, {cluster: canary, weight: 1}]}
        timeout: 0s
      - name: old
        match: {path: {prefix: /old}}
        action: {redirect: {scheme: https, prefix_rewrite: /new, code: 308}}
      - name: health
        action: {direct_response: {status: 200, body: \"ok\\n\", content_type: text/plain}}
";

#[test]
fn forward_route_settings() {
    let r = router(FULL).unwrap();
    let request = req("api.example.com", "/users/7?expand=1&x=%20");
    let (_, route) = r.select(&request.view()).unwrap();
    assert_eq!(&**route.name(), "users");
    assert_eq!(route.timeout(), Some(Duration::from_secs(3)));
    assert_eq!(route.per_try_timeout(), Some(Duration::from_secs(1)));
    let retry = route.retry().unwrap();
    assert_eq!(retry.max_retries(), 2);
    assert!(retry.should_retry(1, HttpRetryCause::Status(500), &Method::GET, false));
    assert!(!retry.should_retry(1, HttpRetryCause::Reset, &Method::GET, false));
    assert_eq!(route.prefix_rewrite(), Some("/v2/users"));
    assert_eq!(route.host_rewrite().unwrap().as_str(), "users.internal:8080");
    assert_eq!(route.host_rewrite_value().unwrap(), "users.internal:8080");
    assert_eq!(route.metadata_match().get("zone").map(String::as_str), Some("b"));
    // The prefix is replaced and the query kept, byte for byte.
    let rewritten = rewrite_path(route, &request.uri).unwrap();
    assert_eq!(rewritten.as_str(), "/v2/users/7?expand=1&x=%20");
    let HttpAction::Forward(target) = route.action() else { panic!("{:?}", route.action()) };
    assert_eq!(target.pick().cluster().name(), "users");
    // The metadata subset holds only zone=b, endpoint port 2.
    for _ in 0..3 {
        assert_eq!(target.pick().pick().unwrap().address().port(), 2);
    }
}

#[test]
fn header_edits_apply_host_then_route() {
    let r = router(FULL).unwrap();
    let request = req("api.example.com", "/users");
    let (_, route) = r.select(&request.view()).unwrap();
    let mut h = HeaderMap::new();
    h.insert("x-forwarded-secret", "s".parse().unwrap());
    h.insert("x-gw", "client".parse().unwrap());
    h.insert("x-tier", "client".parse().unwrap());
    route.request_headers().apply(&mut h);
    assert!(h.get("x-forwarded-secret").is_none());
    // The host added x-gw; the route removed it.
    assert!(h.get("x-gw").is_none());
    assert_eq!(h.get("x-tier").unwrap(), "route");
    assert_eq!(h.get("x-route").unwrap(), "users");
    let mut resp = HeaderMap::new();
    resp.insert("server", "upstream".parse().unwrap());
    route.response_headers().apply(&mut resp);
    assert!(resp.get("server").is_none());
    assert_eq!(resp.get("x-host").unwrap(), "api");

    // Another route of the host still gets the host's edits only.
    let other = req("api.example.com", "/stream");
    let (_, route) = r.select(&other.view()).unwrap();
    let mut h = HeaderMap::new();
    route.request_headers().apply(&mut h);
    assert_eq!(h.get("x-gw").unwrap(), "xproxy");
    assert_eq!(h.get("x-tier").unwrap(), "host");
    assert!(rewrite_path(route, &other.uri).is_none());
}

#[test]
fn weighted_zero_timeout_redirect_and_direct() {
    let r = router(FULL).unwrap();
    let stream = req("api.example.com", "/stream");
    let (_, route) = r.select(&stream.view()).unwrap();
    assert_eq!(route.timeout(), None);
    assert_eq!(route.per_try_timeout(), None);
    assert!(route.retry().is_none());
    let HttpAction::Forward(ForwardTarget::Weighted(w)) = route.action() else { panic!() };
    let weights: Vec<_> = w.targets().map(|(wt, t)| (wt, t.cluster().name().to_owned())).collect();
    assert_eq!(weights, [(3, "web".to_owned()), (1, "canary".to_owned())]);

    let old = req("api.example.com:8080", "/old/page?a=1");
    let (_, route) = r.select(&old.view()).unwrap();
    let HttpAction::Redirect(redirect) = route.action() else { panic!() };
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.location(&old.view()), "https://api.example.com/new/page?a=1");

    let health = req("api.example.com", "/anything");
    let (_, route) = r.select(&health.view()).unwrap();
    let HttpAction::Direct(direct) = route.action() else { panic!() };
    assert_eq!(direct.status, StatusCode::OK);
    assert_eq!(&direct.body[..], b"ok\n");
    assert_eq!(direct.content_type.as_ref().unwrap(), "text/plain");
    assert_eq!(route.timeout(), Some(Duration::from_secs(15)), "the default timeout");
}

/// The build error of a one-route host (`ROUTE` replaced by `route`).
fn build_error(route: &str) -> String {
    let yaml = format!(
        "virtual_hosts:\n  - name: h\n    domains: [h.com]\n    routes:\n      - {route}\n"
    );
    router(&yaml).unwrap_err().to_string()
}

#[test]
fn build_errors_are_located() {
    let at = "http.virtual_hosts[0].routes[0]";
    assert_eq!(
        build_error("{action: {cluster: nope}}"),
        format!("{at}.action.cluster: no cluster named `nope`")
    );
    assert_eq!(
        build_error("{action: {weighted_clusters: [{cluster: web, weight: 0}]}}"),
        format!("{at}.action.weighted_clusters[0].weight: must be greater than 0")
    );
    assert_eq!(
        build_error("{action: {weighted_clusters: []}}"),
        format!("{at}.action.weighted_clusters: needs at least one cluster")
    );
    assert!(build_error("{match: {path: {regex: '('}}, action: {cluster: web}}")
        .starts_with(&format!("{at}.match.path.regex: invalid regular expression")));
    assert!(build_error("{action: {redirect: {code: 200}}}")
        .starts_with(&format!("{at}.action.redirect.code: 200 is not a redirect status")));
    assert!(build_error("{action: {direct_response: {status: 600}}}")
        .starts_with(&format!("{at}.action.direct_response.status:")));
    assert!(build_error("{action: {cluster: web}, prefix_rewrite: /x}")
        .starts_with(&format!("{at}.prefix_rewrite: needs the route to match")));
    assert!(build_error("{action: {cluster: web}, host_rewrite: 'a b'}")
        .starts_with(&format!("{at}.host_rewrite:")));
    assert!(build_error("{action: {cluster: web}, request_headers_to_add: {'a b': x}}")
        .starts_with(&format!("{at}.request_headers_to_add:")));
    assert!(build_error("{action: {cluster: web}, response_headers_to_remove: ['a b']}")
        .starts_with(&format!("{at}.response_headers_to_remove:")));
}

#[test]
fn domain_errors() {
    let err = router(
        "
virtual_hosts:
  - {name: a, domains: ['*.x.com']}
  - {name: b, domains: [y.com, '*.X.com']}
",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "http.virtual_hosts[1].domains[1]: domain `*.X.com` is also served by virtual host `a`"
    );
    let err = router("virtual_hosts: [{name: a, domains: ['a.*.com']}]").unwrap_err();
    assert!(err.to_string().starts_with("http.virtual_hosts[0].domains[0]: `a.*.com`"), "{err}");
    let err = router("virtual_hosts: [{name: a, domains: []}]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "http.virtual_hosts[0].domains: a virtual host needs at least one domain"
    );
    // The same domain twice in one host builds (validation warns).
    assert!(router("virtual_hosts: [{name: a, domains: [a.com, A.com]}]").is_ok());
    let err =
        router("virtual_hosts: [{name: a, domains: [a.com]}, {name: b, domains: [b.com, a.com]}]")
            .unwrap_err();
    assert!(
        matches!(err, HttpBuildError::DuplicateDomain { ref first, .. } if first == "a"),
        "{err}"
    );
}

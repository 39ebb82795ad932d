use super::*;
use crate::config::{parse, validate, Config, Format, Report};

/// The documented example: every field of the `http` section.
const EXAMPLE: &str = r#"
listeners:
  - name: main
    address: 127.0.0.1:8080
clusters:
  - name: users
    http_protocol: http2
    endpoints:
      - address: 127.0.0.1:9001
        metadata: {zone: a}
  - name: users-canary
    http_protocol: http1
    endpoints:
      - address: 127.0.0.1:9002
http:
  limits:
    max_header_bytes: 65536
    max_headers: 100
    max_body_bytes: 16777216
    max_grpc_message_bytes: 4194304
    header_read_timeout: 10s
    max_concurrent_streams: 1024
  virtual_hosts:
    - name: api
      domains: ["api.example.com", "*.example.com", "www.*", "*"]
      request_headers_to_add: {x-gw: xproxy}
      request_headers_to_remove: [x-debug-token]
      response_headers_to_add: {x-served-by: xproxy}
      response_headers_to_remove: [x-powered-by]
      routes:
        - name: users
          match:
            path: {prefix: "/users"}
            methods: [GET, POST]
            headers: {x-canary: {exact: "1"}}
            query: {debug: {present: true}}
          action:
            cluster: users
          prefix_rewrite: /v2/users
          host_rewrite: users.internal
          timeout: 15s
          retry: {max_retries: 2, per_try_timeout: 1s, retry_on: [connect_failure, reset, 5xx, gateway_error, retriable_status_codes, unavailable, per_try_timeout], retriable_status_codes: [503]}
          request_headers_to_add: {x-route: users}
          request_headers_to_remove: [x-internal]
          response_headers_to_add: {x-served-by: xproxy}
          response_headers_to_remove: [server]
          metadata_match: {zone: a}
        - name: echo
          match:
            grpc: {service: {exact: "pkg.Echo"}, method: {prefix: "Un"}}
          action:
            weighted_clusters: [{cluster: users, weight: 90}, {cluster: users-canary, weight: 10}]
        - name: old
          match: {path: {prefix: /old}}
          action:
            redirect: {scheme: https, host: h.example.com, port: 8443, prefix_rewrite: /y, strip_query: false, code: 301}
        - name: moved
          match: {path: {exact: /moved}}
          action:
            redirect: {path: /x, code: 308}
        - name: health
          action:
            direct_response: {status: 200, body: "ok\n", content_type: "text/plain"}
"#;

fn check(text: &str) -> Report {
    let config = parse(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    validate(&config, Some(text), &["bolt"])
}

/// `EXAMPLE` with exactly one occurrence of `from` replaced by `to`.
fn with(from: &str, to: &str) -> String {
    assert_eq!(EXAMPLE.matches(from).count(), 1, "`{from}` must occur once in EXAMPLE");
    EXAMPLE.replacen(from, to, 1)
}

/// The errors of `text`, as `path: message`.
fn errors(text: &str) -> Vec<String> {
    check(text).errors.iter().map(|d| format!("{}: {}", d.path, d.message)).collect()
}

fn warnings(text: &str) -> Vec<String> {
    check(text).warnings.iter().map(|d| format!("{}: {}", d.path, d.message)).collect()
}

/// Asserts that `text` has exactly one error, at `path`, whose message contains `part`.
fn assert_error(text: &str, path: &str, part: &str) {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let prefix = format!("{path}: ");
    assert!(errors[0].starts_with(&prefix) && errors[0].contains(part), "{errors:#?}");
}

const VH: &str = "http.virtual_hosts[0]";
const R0: &str = "http.virtual_hosts[0].routes[0]";

#[test]
fn the_example_deserializes_and_validates() {
    let config = parse(EXAMPLE, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let report = validate(&config, Some(EXAMPLE), &["bolt"]);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let http = &config.http;
    assert_eq!(http.limits, HttpLimitsConfig::default());
    let vh = &http.virtual_hosts[0];
    assert_eq!(vh.domains.len(), 4);
    let users = &vh.routes[0];
    assert_eq!(users.action, HttpActionConfig::Cluster("users".into()));
    assert_eq!(users.matches.methods, ["GET", "POST"]);
    assert_eq!(users.prefix_rewrite.as_deref(), Some("/v2/users"));
    let retry = users.retry.as_ref().unwrap();
    assert_eq!(retry.retry_on.len(), 7);
    assert!(retry.retry_on.contains(&HttpRetryOn::ServerError));
    assert_eq!(retry.retriable_status_codes, [503]);
    assert_eq!(config.clusters[0].http_protocol, Some(HttpUpstreamProtocol::Http2));
    assert_eq!(config.clusters[1].http_protocol, Some(HttpUpstreamProtocol::Http1));
    let HttpActionConfig::Redirect(redirect) = &vh.routes[2].action else { panic!() };
    assert_eq!(redirect.port, Some(8443));
    let HttpActionConfig::DirectResponse(direct) = &vh.routes[4].action else { panic!() };
    assert_eq!(direct.body, "ok\n");
    // And it builds.
    let clusters = crate::upstream::ClusterSet::build(&config.clusters).unwrap();
    let router = crate::http::route::HttpRouter::build(http, &clusters).unwrap();
    assert_eq!(router.route_count(), 5);
}

#[test]
fn defaults() {
    let config: Config = parse(
        "listeners: [{name: m, address: '127.0.0.1:1'}]\n\
         clusters: [{name: c, endpoints: [{address: '127.0.0.1:2'}]}]\n\
         http:\n  virtual_hosts:\n    - name: v\n      domains: ['*']\n      routes:\n        - action: {cluster: c}\n          retry: {}\n        - action: {redirect: {}}\n",
        Format::Yaml,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.clusters[0].http_protocol, None);
    let limits = config.http.limits;
    assert_eq!(limits.max_header_bytes, 65_536);
    assert_eq!(limits.max_headers, 100);
    assert_eq!(limits.max_body_bytes, 16 << 20);
    assert_eq!(limits.max_grpc_message_bytes, 4 << 20);
    assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
    assert_eq!(limits.max_concurrent_streams, 1024);
    let route = &config.http.virtual_hosts[0].routes[0];
    assert_eq!(route.name, None);
    assert_eq!(route.timeout, Duration::from_secs(15));
    let retry = route.retry.as_ref().unwrap();
    assert_eq!(retry.max_retries, 1);
    assert_eq!(retry.per_try_timeout, None);
    assert_eq!(retry.retry_on, [HttpRetryOn::ConnectFailure, HttpRetryOn::Reset]);
    let HttpActionConfig::Redirect(r) = &config.http.virtual_hosts[0].routes[1].action else {
        panic!()
    };
    assert_eq!((r.code, r.strip_query, r.scheme.as_deref()), (301, false, None));
    // No http section at all: empty.
    let bare = parse("listeners: [{name: m, address: '127.0.0.1:1'}]", Format::Yaml).unwrap();
    assert_eq!(bare.http, HttpConfig::default());
    assert!(bare.http.virtual_hosts.is_empty());
}

#[test]
fn unknown_fields_and_values_are_parse_errors() {
    for (from, to) in [
        ("max_headers: 100", "max_header: 100"),
        ("strip_query: false", "strip_querry: false"),
        ("unavailable, per_try_timeout]", "unavailable, sometimes]"),
        ("http_protocol: http2", "http_protocol: http3"),
    ] {
        let text = with(from, to);
        assert!(parse(&text, Format::Yaml).is_err(), "{to}");
    }
}

#[test]
fn unknown_clusters_and_weights() {
    assert_error(
        &with("cluster: users\n", "cluster: nope\n"),
        &format!("{R0}.action.cluster"),
        "no cluster named `nope`",
    );
    assert_error(
        &with("{cluster: users-canary, weight: 10}", "{cluster: users-canary, weight: 0}"),
        "http.virtual_hosts[0].routes[1].action.weighted_clusters[1].weight",
        "must be greater than 0",
    );
    assert_error(
        &with("{cluster: users-canary, weight: 10}", "{cluster: ghost, weight: 10}"),
        "http.virtual_hosts[0].routes[1].action.weighted_clusters[1].cluster",
        "no cluster named `ghost`",
    );
    assert_error(
        &with("cluster: users\n", "cluster: user\n"),
        &format!("{R0}.action.cluster"),
        "no cluster named `user` (did you mean `users`?)",
    );
    assert_error(
        &with("{cluster: users-canary, weight: 10}", "{cluster: users-canery, weight: 10}"),
        "http.virtual_hosts[0].routes[1].action.weighted_clusters[1].cluster",
        "no cluster named `users-canery` (did you mean `users-canary`?)",
    );
}

#[test]
fn domains() {
    assert_error(
        &with(r#"domains: ["api.example.com", "*.example.com", "www.*", "*"]"#, "domains: []"),
        &format!("{VH}.domains"),
        "at least one domain",
    );
    assert_error(
        &with(r#""www.*""#, r#""w*w""#),
        &format!("{VH}.domains[2]"),
        "a wildcard is only allowed",
    );
    assert_error(&with(r#""www.*""#, r#""*.a.*""#), &format!("{VH}.domains[2]"), "a wildcard");
    assert_error(&with(r#""www.*""#, r#""a/b""#), &format!("{VH}.domains[2]"), "not a host name");
    assert_error(&with(r#""www.*""#, r#""""#), &format!("{VH}.domains[2]"), "must not be empty");
    // Another host claiming one of the domains (case-insensitively).
    let text = format!("{EXAMPLE}    - name: other\n      domains: [API.example.com]\n      routes: [{{action: {{cluster: users}}}}]\n");
    assert_error(&text, "http.virtual_hosts[1].domains[0]", "also served by virtual host `api`");
    let text = format!("{EXAMPLE}    - name: api\n      domains: [x.com]\n      routes: [{{action: {{cluster: users}}}}]\n");
    assert_error(&text, "http.virtual_hosts[1].name", "duplicate virtual host name `api`");
    // Twice in one host: a warning.
    let text = with(r#""www.*", "*"]"#, r#""www.*", "*", "WWW.*"]"#);
    assert!(errors(&text).is_empty());
    assert_eq!(
        warnings(&text),
        [format!("{VH}.domains[4]: domain `WWW.*` is listed twice in this virtual host")]
    );
}

#[test]
fn header_names_and_values() {
    assert_error(
        &with("{x-gw: xproxy}", "{'x gw': xproxy}"),
        &format!("{VH}.request_headers_to_add.x gw"),
        "not a valid HTTP header name",
    );
    assert_error(
        &with("{x-route: users}", "{x-route: \"a\\nb\"}"),
        &format!("{R0}.request_headers_to_add.x-route"),
        "not a valid HTTP header value",
    );
    assert_error(
        &with("{x-route: users}", "{transfer-encoding: chunked}"),
        &format!("{R0}.request_headers_to_add.transfer-encoding"),
        "connection-specific",
    );
    assert_error(
        &with("[x-internal]", "['x internal']"),
        &format!("{R0}.request_headers_to_remove[0]"),
        "not a valid",
    );
    assert_error(
        &with("[server]", "[ok, 'bad:']"),
        &format!("{R0}.response_headers_to_remove[1]"),
        "not a valid",
    );
    assert_error(
        &with("[x-powered-by]", "['(']"),
        &format!("{VH}.response_headers_to_remove[0]"),
        "not a valid",
    );
    assert_error(
        &with("headers: {x-canary:", "headers: {'x canary':"),
        &format!("{R0}.match.headers.x canary"),
        "not a valid HTTP header name",
    );
    let text = with("{x-route: users}", "{host: other}");
    assert_eq!(warnings(&text), [format!("{R0}.request_headers_to_add.host: set the authority with host_rewrite instead (HTTP/2 has no Host header)")]);
}

#[test]
fn regexes_methods_and_paths() {
    assert_error(
        &with("path: {exact: /moved}", "path: {regex: '(/moved'}"),
        "http.virtual_hosts[0].routes[3].match.path.regex",
        "invalid regular expression: unclosed group",
    );
    assert_error(
        &with(r#"{exact: "1"}"#, r#"{regex: "["}"#),
        &format!("{R0}.match.headers.x-canary.regex"),
        "invalid regular expression",
    );
    assert_error(
        &with("{debug: {present: true}}", "{debug: {regex: '+'}}"),
        &format!("{R0}.match.query.debug.regex"),
        "invalid regular expression",
    );
    assert_error(
        &with(r#"method: {prefix: "Un"}"#, r#"method: {regex: "(Un"}"#),
        "http.virtual_hosts[0].routes[1].match.grpc.method.regex",
        "invalid",
    );
    assert_error(
        &with("methods: [GET, POST]", "methods: [GET, 'P OST']"),
        &format!("{R0}.match.methods[1]"),
        "not a valid HTTP method",
    );
    let text = with("methods: [GET, POST]", "methods: [get]");
    assert!(errors(&text).is_empty());
    assert_eq!(
        warnings(&text),
        [format!("{R0}.match.methods[0]: methods are case-sensitive: `get` is not `GET`")]
    );
    let text = with(r#"path: {prefix: "/users"}"#, r#"path: {prefix: "users"}"#);
    assert!(warnings(&text)[0].contains("does not start with `/`"), "{:?}", warnings(&text));
}

#[test]
fn redirects_and_direct_responses() {
    let at = "http.virtual_hosts[0].routes[2].action.redirect";
    assert_error(
        &with("strip_query: false, code: 301", "code: 200"),
        &format!("{at}.code"),
        "200 is not a redirect status",
    );
    assert_error(
        &with("scheme: https, host", "scheme: ftp, host"),
        &format!("{at}.scheme"),
        "`ftp`",
    );
    assert_error(
        &with("host: h.example.com", "host: 'h.example.com:1'"),
        &format!("{at}.host"),
        "give a port in `port`",
    );
    assert_error(
        &with("redirect: {path: /x, code: 308}", "redirect: {path: x}"),
        "http.virtual_hosts[0].routes[3].action.redirect.path",
        "not an absolute path",
    );
    assert_error(
        &with("redirect: {path: /x, code: 308}", "redirect: {path: /x, prefix_rewrite: /y}"),
        "http.virtual_hosts[0].routes[3].action.redirect.prefix_rewrite",
        "either `path` or `prefix_rewrite`",
    );
    assert_error(
        &with("match: {path: {prefix: /old}}", "match: {path: {regex: ^/old}}"),
        &format!("{at}.prefix_rewrite"),
        "needs the route to match the path by `prefix`",
    );
    let at = "http.virtual_hosts[0].routes[4].action.direct_response";
    assert_error(
        &with("status: 200, body", "status: 600, body"),
        &format!("{at}.status"),
        "600 is not an HTTP status (100–599)",
    );
    assert_error(
        &with("status: 200, body", "status: 99, body"),
        &format!("{at}.status"),
        "(100–599)",
    );
    assert_error(
        &with(r#"content_type: "text/plain""#, r#"content_type: "a\nb""#),
        &format!("{at}.content_type"),
        "not a valid HTTP header value",
    );
    let text = with("status: 200, body", "status: 103, body");
    assert!(warnings(&text)[0].contains("informational"), "{:?}", warnings(&text));
}

#[test]
fn rewrites() {
    assert_error(
        &with(r#"path: {prefix: "/users"}"#, r#"path: {regex: "^/users"}"#),
        &format!("{R0}.prefix_rewrite"),
        "needs the route to match the path by `prefix`",
    );
    assert_error(
        &with("prefix_rewrite: /v2/users", "prefix_rewrite: v2"),
        &format!("{R0}.prefix_rewrite"),
        "not a path",
    );
    assert_error(
        &with("host_rewrite: users.internal", "host_rewrite: 'u@h'"),
        &format!("{R0}.host_rewrite"),
        "not a host",
    );
    // Rewrites, retries and request edits on a route that does not forward: warnings.
    let text = with("          action:\n            direct_response:", "          prefix_rewrite: /z\n          retry: {}\n          request_headers_to_add: {a: b}\n          action:\n            direct_response:");
    let warnings = warnings(&text);
    let at = "http.virtual_hosts[0].routes[4]";
    for field in ["retry", "request_headers_to_add"] {
        assert!(
            warnings.contains(&format!(
                "{at}.{field}: has no effect: this route answers without forwarding"
            )),
            "{warnings:#?}"
        );
    }
    // The direct response matches every path: prefix_rewrite has no prefix to replace.
    assert_eq!(errors(&text), [format!("{at}.prefix_rewrite: needs the route to match the path by `prefix` (or `exact`): that is the part replaced")]);
}

#[test]
fn retries() {
    let at = format!("{R0}.retry");
    assert_error(
        &with("per_try_timeout: 1s", "per_try_timeout: 0s"),
        &format!("{at}.per_try_timeout"),
        "longer than 0s",
    );
    assert_error(
        &with("per_try_timeout: 1s", "per_try_timeout: 20s"),
        &format!("{at}.per_try_timeout"),
        "longer than the route timeout (15s)",
    );
    // No route timeout: any per-try timeout goes.
    let text = with("per_try_timeout: 1s", "per_try_timeout: 20s").replacen(
        "timeout: 15s",
        "timeout: 0s",
        1,
    );
    assert!(errors(&text).is_empty(), "{:?}", errors(&text));
    assert_error(
        &with("retriable_status_codes: [503]", "retriable_status_codes: [503, 700]"),
        &format!("{at}.retriable_status_codes[1]"),
        "700 is not an HTTP status",
    );
    let text = with("retriable_status_codes: [503]", "retriable_status_codes: []");
    assert_eq!(
        warnings(&text),
        [format!("{at}.retry_on: retriable_status_codes is listed but no code is given")]
    );
    let text = with(", retriable_status_codes, unavailable", ", unavailable");
    assert_eq!(warnings(&text), [format!("{at}.retriable_status_codes: has no effect unless retry_on lists retriable_status_codes")]);
}

#[test]
fn limits() {
    let at = "http.limits";
    assert_error(
        &with("max_header_bytes: 65536", "max_header_bytes: 0"),
        &format!("{at}.max_header_bytes"),
        "greater than 0",
    );
    assert_error(
        &with("max_headers: 100", "max_headers: 0"),
        &format!("{at}.max_headers"),
        "greater than 0",
    );
    // 0s turns the head timeout off.
    assert!(errors(&with("header_read_timeout: 10s", "header_read_timeout: 0s")).is_empty());
    assert_error(
        &with("max_concurrent_streams: 1024", "max_concurrent_streams: 0"),
        &format!("{at}.max_concurrent_streams"),
        "greater than 0",
    );
    // Unlimited bodies are allowed.
    assert!(errors(&with("max_body_bytes: 16777216", "max_body_bytes: 0")).is_empty());
    assert!(
        errors(&with("max_grpc_message_bytes: 4194304", "max_grpc_message_bytes: 0")).is_empty()
    );
}

#[test]
fn route_names_reachability_and_metadata() {
    let text = with("- name: echo\n", "- name: users\n");
    assert_error(
        &text,
        "http.virtual_hosts[0].routes[1].name",
        "duplicate HTTP route name `users`",
    );
    // A route after a catch-all is never reached.
    let text = format!("{EXAMPLE}        - name: after\n          action: {{cluster: users}}\n");
    assert_eq!(
        warnings(&text),
        ["http.virtual_hosts[0].routes[5]: never reached: routes[4] matches every request"]
    );
    let text = with("metadata_match: {zone: a}", "metadata_match: {zone: z}");
    assert_eq!(warnings(&text), [format!("{R0}.metadata_match: no endpoint of cluster `users` has all these metadata: requests routed there get a 503")]);
    let text = format!("{EXAMPLE}    - name: empty\n      domains: [e.com]\n");
    assert_eq!(
        warnings(&text),
        ["http.virtual_hosts[1].routes: no routes: every request to this host gets a 404"]
    );
}

#[test]
fn http_routes_count_as_cluster_uses_and_errors_carry_lines() {
    // users-canary is only used by the weighted HTTP route: no "unused cluster" warning (the
    // example validates without warnings). Removing that route makes it unused.
    let text = with(
        "{cluster: users, weight: 90}, {cluster: users-canary, weight: 10}",
        "{cluster: users, weight: 1}",
    );
    assert_eq!(
        warnings(&text),
        ["clusters[1].name: cluster `users-canary` is not used by any route or listener"]
    );
    let report = check(&with("cluster: users\n", "cluster: nope\n"));
    let line = report.errors[0].location.unwrap().line;
    assert_eq!(EXAMPLE.lines().nth(line - 1).unwrap().trim(), "cluster: users");
}

#[test]
fn the_documented_http_example_validates_without_warnings() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc.split("## HTTP, HTTP/2 and gRPC").nth(1).unwrap();
    let example = section.split("### Example").nth(1).unwrap();
    let yaml = example.split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
    let cluster = |name: &str, port: u16| {
        format!("  - name: {name}\n    endpoints: [{{address: '127.0.0.1:{port}'}}]\n")
    };
    let text = format!(
        "listeners: [{{name: m, address: '127.0.0.1:8080'}}]\nclusters:\n{}{}{}{yaml}",
        cluster("users", 1),
        cluster("echo", 2),
        cluster("echo-canary", 3),
    );
    let report = check(&text);
    assert!(report.errors.is_empty() && report.warnings.is_empty(), "{report:#?}");
}

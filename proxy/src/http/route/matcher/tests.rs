use http::header::HeaderValue;
use http::{HeaderMap, Uri};

use super::*;

/// A match compiled from its YAML form.
fn compiled(yaml: &str) -> HttpRouteMatch {
    let config: HttpRouteMatchConfig = crate::http::route::from_yaml(yaml);
    HttpRouteMatch::build(&config).unwrap()
}

/// A request: method, target, headers, gRPC flag.
struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    grpc: bool,
}

fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Req {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    Req { method: method.parse().unwrap(), uri: target.parse().unwrap(), headers: map, grpc: false }
}

fn get(target: &str) -> Req {
    req("GET", target, &[])
}

impl Req {
    fn grpc(mut self) -> Req {
        self.grpc = true;
        self
    }
}

fn hits(m: &HttpRouteMatch, r: &Req) -> bool {
    m.matches(&RequestView { method: &r.method, uri: &r.uri, headers: &r.headers, grpc: r.grpc })
}

#[test]
fn empty_match_matches_everything() {
    let m = compiled("{}");
    assert!(hits(&m, &get("/")));
    assert!(hits(&m, &req("DELETE", "/x?y", &[("a", "b")]).grpc()));
    assert_eq!(m.path_prefix(), None);
}

#[test]
fn path_forms() {
    let prefix = compiled("path: {prefix: /users}");
    assert!(hits(&prefix, &get("/users")));
    assert!(hits(&prefix, &get("/users/7?x=1")));
    assert!(hits(&prefix, &get("/usersx")));
    assert!(!hits(&prefix, &get("/Users")));
    assert!(!hits(&prefix, &get("/api/users")));
    assert_eq!(prefix.path_prefix(), Some("/users"));

    let exact = compiled("path: {exact: /healthz}");
    assert!(hits(&exact, &get("/healthz")));
    // The query is not part of the path.
    assert!(hits(&exact, &get("/healthz?verbose=1")));
    assert!(!hits(&exact, &get("/healthz/")));
    assert_eq!(exact.path_prefix(), Some("/healthz"));

    let regex = compiled(r"path: {regex: '^/items/[0-9]+$'}");
    assert!(hits(&regex, &get("/items/42")));
    assert!(!hits(&regex, &get("/items/x")));
    assert_eq!(regex.path_prefix(), None);

    // The path is matched as received, not percent-decoded.
    let raw = compiled("path: {prefix: /a%20b}");
    assert!(hits(&raw, &get("/a%20b/c")));
    assert!(compiled("path: {present: true}").matches(&RequestView {
        method: &Method::GET,
        uri: &get("/").uri,
        headers: &HeaderMap::new(),
        grpc: false,
    }));
}

#[test]
fn methods() {
    let m = compiled("methods: [GET, POST]");
    assert!(hits(&m, &get("/")));
    assert!(hits(&m, &req("POST", "/", &[])));
    assert!(!hits(&m, &req("PUT", "/", &[])));
    let ext = compiled("methods: [PURGE]");
    assert!(hits(&ext, &req("PURGE", "/", &[])));
    assert!(!hits(&ext, &get("/")));
    let bad: HttpRouteMatchConfig = crate::http::route::from_yaml("methods: ['GE T']");
    let (field, msg) = HttpRouteMatch::build(&bad).unwrap_err();
    assert_eq!(field, "methods[0]");
    assert!(msg.contains("not a valid HTTP method"), "{msg}");
}

#[test]
fn headers() {
    let m = compiled("headers: {X-Canary: {exact: '1'}, x-debug: {present: false}}");
    assert!(hits(&m, &req("GET", "/", &[("x-canary", "1")])));
    assert!(!hits(&m, &req("GET", "/", &[("x-canary", "2")])));
    assert!(!hits(&m, &get("/")));
    assert!(!hits(&m, &req("GET", "/", &[("x-canary", "1"), ("x-debug", "")])));
    // Any of several values may satisfy the condition.
    assert!(hits(&m, &req("GET", "/", &[("x-canary", "0"), ("x-canary", "1")])));

    let present = compiled("headers: {authorization: {present: true}}");
    assert!(hits(&present, &req("GET", "/", &[("authorization", "")])));
    assert!(!hits(&present, &get("/")));

    let prefix = compiled("headers: {user-agent: {prefix: curl/}}");
    assert!(hits(&prefix, &req("GET", "/", &[("user-agent", "curl/8.0")])));
    let regex = compiled("headers: {x-v: {regex: '^v[0-9]$'}}");
    assert!(hits(&regex, &req("GET", "/", &[("x-v", "v2")])));
    assert!(!hits(&regex, &req("GET", "/", &[("x-v", "v22")])));

    // A non-UTF-8 value is present but never equal to anything.
    let mut r = get("/");
    r.headers.insert("x-canary", HeaderValue::from_bytes(b"\xff").unwrap());
    assert!(!hits(&m, &r));
    assert!(hits(&compiled("headers: {x-canary: {present: true}}"), &r));

    let bad: HttpRouteMatchConfig =
        crate::http::route::from_yaml("headers: {'bad name': {present: true}}");
    assert_eq!(HttpRouteMatch::build(&bad).unwrap_err().0, "headers.bad name");
}

#[test]
fn query_present_absent_exact() {
    let present = compiled("query: {debug: {present: true}}");
    assert!(hits(&present, &get("/?debug")));
    assert!(hits(&present, &get("/?a=1&debug=&b")));
    assert!(hits(&present, &get("/?debug=0")));
    assert!(!hits(&present, &get("/")));
    assert!(!hits(&present, &get("/?debugger=1")));
    assert!(!hits(&present, &get("/?")));

    let absent = compiled("query: {debug: {present: false}}");
    assert!(hits(&absent, &get("/?a=1")));
    assert!(hits(&absent, &get("/")));
    assert!(!hits(&absent, &get("/?debug")));

    let exact = compiled("query: {user: {exact: bob}, v: {prefix: '2'}}");
    assert!(hits(&exact, &get("/?user=bob&v=2.1")));
    assert!(hits(&exact, &get("/?v=2&user=bob")));
    assert!(!hits(&exact, &get("/?user=bobby&v=2")));
    assert!(!hits(&exact, &get("/?user=bob")));
    // The first occurrence of a name decides.
    assert!(!hits(&exact, &get("/?user=alice&user=bob&v=2")));
    // The empty value of a bare name.
    assert!(hits(&compiled("query: {flag: {exact: ''}}"), &get("/?flag")));
}

#[test]
fn query_is_percent_decoded() {
    let m = compiled("query: {'first name': {exact: 'Jo Ann&Co'}}");
    assert!(hits(&m, &get("/?first+name=Jo+Ann%26Co")));
    assert!(hits(&m, &get("/?first%20name=Jo%20Ann%26Co")));
    assert!(!hits(&m, &get("/?first+name=Jo+Ann&Co")));
    let utf8 = compiled("query: {city: {exact: 'Zürich'}}");
    assert!(hits(&utf8, &get("/?city=Z%C3%BCrich")));
    assert!(hits(&utf8, &get("/?city=Z%c3%bcrich")));
    // Decoded bytes that are not UTF-8: present, but equal to nothing.
    assert!(!hits(&utf8, &get("/?city=%FF")));
    assert!(hits(&compiled("query: {city: {present: true}}"), &get("/?city=%FF")));
}

#[test]
fn decoding() {
    assert!(matches!(decode("plain"), Some(Cow::Borrowed("plain"))));
    assert_eq!(decode("a+b%20c").as_deref(), Some("a b c"));
    assert_eq!(decode("%41%4a%4A").as_deref(), Some("AJJ"));
    // Malformed escapes stay as they are.
    assert_eq!(decode("100%").as_deref(), Some("100%"));
    assert_eq!(decode("%zz%4").as_deref(), Some("%zz%4"));
    assert_eq!(decode("%2B").as_deref(), Some("+"));
    assert_eq!(decode("%e2%82%ac").as_deref(), Some("€"));
    assert_eq!(decode("%ff"), None);
}

#[test]
fn grpc_matches_only_grpc_requests() {
    let any = compiled("grpc: {}");
    assert!(!hits(&any, &req("POST", "/pkg.Echo/UnaryEcho", &[])));
    assert!(hits(&any, &req("POST", "/pkg.Echo/UnaryEcho", &[]).grpc()));

    let m = compiled("grpc: {service: {exact: pkg.Echo}, method: {prefix: Un}}");
    assert!(hits(&m, &req("POST", "/pkg.Echo/UnaryEcho", &[]).grpc()));
    assert!(!hits(&m, &req("POST", "/pkg.Echo/UnaryEcho", &[])));
    assert!(!hits(&m, &req("POST", "/pkg.Echo/StreamEcho", &[]).grpc()));
    assert!(!hits(&m, &req("POST", "/pkg.Other/UnaryEcho", &[]).grpc()));
    // Not a /service/method path: no service, no method.
    assert!(!hits(&m, &req("POST", "/pkg.Echo/UnaryEcho/x", &[]).grpc()));
    assert!(!hits(&m, &req("POST", "/pkg.Echo", &[]).grpc()));
    let absent = compiled("grpc: {service: {present: false}}");
    assert!(hits(&absent, &req("POST", "/not-grpc-shaped", &[]).grpc()));
    assert!(!hits(&absent, &req("POST", "/a/b", &[]).grpc()));
    assert_eq!(grpc_parts("/a.B/C"), (Some("a.B"), Some("C")));
    assert_eq!(grpc_parts("//C"), (None, None));
}

#[test]
fn every_condition_must_hold() {
    let m = compiled(
        "{path: {prefix: /users}, methods: [GET], headers: {x-canary: {exact: '1'}}, \
         query: {debug: {present: true}}}",
    );
    let good = req("GET", "/users/1?debug", &[("x-canary", "1")]);
    assert!(hits(&m, &good));
    assert!(!hits(&m, &req("POST", "/users/1?debug", &[("x-canary", "1")])));
    assert!(!hits(&m, &req("GET", "/other?debug", &[("x-canary", "1")])));
    assert!(!hits(&m, &req("GET", "/users/1", &[("x-canary", "1")])));
    assert!(!hits(&m, &req("GET", "/users/1?debug", &[])));
}

#[test]
fn invalid_regexes_name_their_field() {
    for (yaml, field) in [
        ("path: {regex: '('}", "path.regex"),
        ("headers: {x: {regex: '('}}", "headers.x.regex"),
        ("query: {q: {regex: '('}}", "query.q.regex"),
        ("grpc: {service: {regex: '('}}", "grpc.service.regex"),
        ("grpc: {method: {regex: '('}}", "grpc.method.regex"),
    ] {
        let config: HttpRouteMatchConfig = crate::http::route::from_yaml(yaml);
        let (got, msg) = HttpRouteMatch::build(&config).unwrap_err();
        assert_eq!(got, field);
        assert!(msg.starts_with("invalid regular expression"), "{msg}");
    }
}

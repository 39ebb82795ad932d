use super::*;
use crate::config::{parse, Format};

const KNOWN: &[&str] = &["bolt", "boltv2", "dubbo", "tars", "echo", "http1", "http2"];

/// A valid configuration; each test breaks one thing by text replacement.
const BASE: &str = "\
listeners:
  - name: main
    address: 127.0.0.1:12200
    protocols: [bolt, dubbo]
    fallback_cluster: raw
routes:
  - protocol: bolt
    routes:
      - name: orders
        match:
          service: {regex: '^com\\.shop\\..*$'}
        action: {cluster: orders}
        timeout: 2s
        retry: {per_try_timeout: 500ms}
        metadata_match: {zone: a}
      - name: split
        action:
          weighted_clusters:
            - {cluster: orders, weight: 90}
            - {cluster: raw, weight: 10}
  - protocol: dubbo
    routes:
      - action: {direct_response: {status: no_route, message: gone}}
clusters:
  - name: orders
    endpoints:
      - address: 127.0.0.1:20880
        metadata: {zone: a}
  - name: raw
    endpoints:
      - address: 127.0.0.1:20881
";

fn check(text: &str) -> Report {
    let config = parse(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    validate(&config, Some(text), KNOWN)
}

/// Replaces exactly one occurrence, so that a test cannot silently stop breaking anything.
fn with(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "`{from}` must occur once in BASE");
    BASE.replacen(from, to, 1)
}

/// The one error of `report`, as (path, line, message).
fn only_error(report: &Report) -> (String, Option<usize>, String) {
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    let e = &report.errors[0];
    (e.path.clone(), e.location.map(|l| l.line), e.message.clone())
}

/// Asserts that `text` has an error at `path`, on `line`, whose message has `message_part`.
fn assert_error(text: &str, path: &str, line: usize, message_part: &str) {
    let report = check(text);
    let Some(e) = report.errors.iter().find(|e| e.path == path) else {
        panic!("no error at {path}: {:#?}", report.errors);
    };
    assert_eq!(e.location.map(|l| l.line), Some(line), "{e}");
    assert!(e.message.contains(message_part), "`{}` lacks `{message_part}`", e.message);
}

#[test]
fn the_base_config_is_valid_without_warnings() {
    let report = check(BASE);
    assert_eq!(report, Report::default());
    assert!(report.is_ok());
}

#[test]
fn at_least_one_listener() {
    let text = "listeners: []\nclusters: [{name: c, endpoints: [{address: 127.0.0.1:1}]}]\n";
    let report = check(text);
    assert!(!report.is_ok());
    assert_eq!(report.errors[0].path, "listeners");
    assert_eq!(report.errors[0].location.map(|l| l.line), Some(1));
}

#[test]
fn names_are_unique() {
    let dup_listener = with(
        "    fallback_cluster: raw\n",
        "    fallback_cluster: raw\n  - name: main\n    address: 127.0.0.1:12300\n    protocols: [bolt]\n",
    );
    assert_error(&dup_listener, "listeners[1].name", 6, "duplicate listener name `main`");
    assert_error(
        &with("  - name: raw", "  - name: orders"),
        "clusters[1].name",
        29,
        "duplicate cluster",
    );
    assert_error(
        &with("      - name: split", "      - name: orders"),
        "routes[0].routes[1].name",
        16,
        "duplicate route",
    );
    // A defaulted route name is `<protocol>-<index>`; an explicit name may take it first.
    let clash = with("      - name: split", "      - name: dubbo-0");
    assert_error(&clash, "routes[1].routes[0]", 23, "default name `dubbo-0`");
    assert_error(
        &with("  - name: raw", "  - name: ''"),
        "clusters[1].name",
        29,
        "must not be empty",
    );
}

#[test]
fn protocols_are_registered_names() {
    assert_error(
        &with("[bolt, dubbo]", "[bolt, dubbo, thrift]"),
        "listeners[0].protocols[2]",
        4,
        "unknown protocol `thrift`",
    );
    assert_error(
        &with("  - protocol: dubbo", "  - protocol: hessian"),
        "routes[1].protocol",
        21,
        "registered: bolt, boltv2",
    );
    assert_error(
        &with("  - protocol: dubbo", "  - protocol: bolt"),
        "routes[1].protocol",
        21,
        "second route table",
    );
    assert_error(&with("[bolt, dubbo]", "[]"), "listeners[0].protocols", 4, "accepts no protocol");
    // Listed but without a route table: legal, but every request fails.
    let report = check(&with("[bolt, dubbo]", "[bolt, dubbo, tars]"));
    assert!(report.is_ok());
    assert_eq!(report.warnings[0].path, "listeners[0].protocols[2]");
}

#[test]
fn routes_name_existing_clusters_with_positive_weights() {
    assert_error(
        &with("{cluster: orders}", "{cluster: ordrs}"),
        "routes[0].routes[0].action.cluster",
        12,
        "no cluster named `ordrs` (did you mean `orders`?)",
    );
    assert_error(
        &with("{cluster: raw, weight: 10}", "{cluster: rw, weight: 10}"),
        "routes[0].routes[1].action.weighted_clusters[1].cluster",
        20,
        "no cluster named `rw` (did you mean `raw`?)",
    );
    assert_error(
        &with("{cluster: raw, weight: 10}", "{cluster: raw, weight: 0}"),
        "routes[0].routes[1].action.weighted_clusters[1].weight",
        20,
        "greater than 0",
    );
    let empty = with(
        "          weighted_clusters:\n            - {cluster: orders, weight: 90}\n            - {cluster: raw, weight: 10}\n",
        "          weighted_clusters: []\n",
    );
    let report = check(&empty);
    assert_eq!(report.errors[0].path, "routes[0].routes[1].action.weighted_clusters");
}

#[test]
fn the_fallback_cluster_exists() {
    assert_error(
        &with("fallback_cluster: raw", "fallback_cluster: tcp"),
        "listeners[0].fallback_cluster",
        5,
        "no cluster named `tcp`",
    );
    let (_, _, message) =
        only_error(&check(&with("fallback_cluster: raw", "fallback_cluster: tcp")));
    assert!(!message.contains("did you mean"), "nothing is near `tcp`: {message}");
    assert_error(
        &with("fallback_cluster: raw", "fallback_cluster: raws"),
        "listeners[0].fallback_cluster",
        5,
        "no cluster named `raws` (did you mean `raw`?)",
    );
}

#[test]
fn an_unknown_protocol_suggests_the_nearest() {
    assert_error(
        &with("protocols: [bolt, dubbo]", "protocols: [bolt, dubo]"),
        "listeners[0].protocols[1]",
        4,
        "unknown protocol `dubo` (did you mean `dubbo`?) (registered:",
    );
}

#[test]
fn regexes_compile() {
    let (p, l, m) = only_error(&check(&with("{regex: '^com\\.shop\\..*$'}", "{regex: 'a(b'}")));
    assert_eq!((p.as_str(), l), ("routes[0].routes[0].match.service.regex", Some(11)));
    assert_eq!(m, "invalid regular expression: unclosed group");
    let header =
        with("        match:\n", "        match:\n          headers: {x-env: {regex: '['}}\n");
    assert_error(
        &header,
        "routes[0].routes[0].match.headers.x-env.regex",
        11,
        "invalid regular expression",
    );
}

#[test]
fn clusters_have_endpoints_with_positive_weights() {
    let no_endpoints =
        with("    endpoints:\n      - address: 127.0.0.1:20881\n", "    endpoints: []\n");
    assert_error(&no_endpoints, "clusters[1].endpoints", 30, "at least one endpoint");
    let zero = with(
        "      - address: 127.0.0.1:20881\n",
        "      - address: 127.0.0.1:20881\n        weight: 0\n",
    );
    assert_error(&zero, "clusters[1].endpoints[0].weight", 32, "greater than 0");
}

#[test]
fn limits_that_cannot_be_zero() {
    let limits = "limits:\n  max_frame_bytes: 0\n  max_nesting: 0\n  idle_timeout: 0s\n  drain_timeout: 0s\n";
    let report = check(&format!("{BASE}{limits}"));
    let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["limits.max_frame_bytes", "limits.max_nesting", "limits.idle_timeout"]);
    assert_eq!(report.errors[0].location.map(|l| l.line), Some(33));

    let cluster = "    connect_timeout: 0s\n    connections_per_endpoint: 0\n    circuit_breaker: {max_requests: 0, max_pending_requests: 0}\n    heartbeat: {max_missed: 0}\n";
    let report = check(&format!("{BASE}{cluster}"));
    let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "clusters[1].connect_timeout",
            "clusters[1].connections_per_endpoint",
            "clusters[1].heartbeat.max_missed",
            "clusters[1].circuit_breaker.max_requests",
        ]
    );
    // Heartbeats off: max_missed is not used, so 0 is fine.
    assert!(check(&format!("{BASE}    heartbeat: {{interval: 0s, max_missed: 0}}\n")).is_ok());
    assert_error(
        &with("timeout: 2s", "timeout: 0s"),
        "routes[0].routes[0].timeout",
        13,
        "longer than 0s",
    );
}

#[test]
fn sniff_max_bytes_is_between_24_and_64_kib() {
    for (bytes, ok) in [(4, false), (23, false), (24, true), (65536, true), (65537, false)] {
        let text = with(
            "    fallback_cluster: raw\n",
            &format!("    fallback_cluster: raw\n    sniff: {{max_bytes: {bytes}}}\n"),
        );
        let report = check(&text);
        assert_eq!(report.is_ok(), ok, "{bytes}: {:?}", report.errors);
        if !ok {
            assert_eq!(only_error(&report).0, "listeners[0].sniff.max_bytes");
        }
    }
}

#[test]
fn http_is_routed_by_virtual_hosts_not_route_tables() {
    let text = with("protocols: [bolt, dubbo]", "protocols: [bolt, dubbo, http1]");
    let report = check(&text);
    let warned: Vec<&str> = report.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(warned.iter().any(|m| m.contains("`http1` has no virtual host")), "{warned:?}");
    let table = text.replacen("routes:\n", "routes:\n  - protocol: http1\n    routes: []\n", 1);
    let report = check(&table);
    assert!(
        report.errors.iter().any(|e| e.message.contains("routed by `http.virtual_hosts`")),
        "{:?}",
        report.errors
    );
}

#[test]
fn per_try_timeout_fits_in_the_route_timeout() {
    let (p, l, m) = only_error(&check(&with("per_try_timeout: 500ms", "per_try_timeout: 3s")));
    assert_eq!((p.as_str(), l), ("routes[0].routes[0].retry.per_try_timeout", Some(14)));
    assert_eq!(m, "3s is longer than the route timeout (2s), which bounds all tries together");
    assert!(check(&with("per_try_timeout: 500ms", "per_try_timeout: 2s")).is_ok());
}

#[test]
fn listener_addresses_are_not_shared() {
    let dup = with(
        "    fallback_cluster: raw\n",
        "    fallback_cluster: raw\n  - name: second\n    address: 127.0.0.1:12200\n    protocols: [bolt]\n",
    );
    assert_error(&dup, "listeners[1].address", 7, "overlaps 127.0.0.1:12200 of listener `main`");
    assert_error(&dup, "listeners[1].address", 7, "(listeners[0].address, line 3)");
    let admin = format!("{BASE}admin: {{address: 127.0.0.1:12200}}\n");
    assert_error(&admin, "listeners[0].address", 3, "of the admin listener (admin.address");
}

/// A second listener on `address`, after `main` (127.0.0.1:12200).
fn second_listener(address: &str) -> String {
    with(
        "    fallback_cluster: raw\n",
        &format!("    fallback_cluster: raw\n  - name: second\n    address: {address}\n    protocols: [bolt]\n"),
    )
}

#[test]
fn a_wildcard_address_overlaps_every_address_of_its_port() {
    // The operator trial: `0.0.0.0:P` beside `127.0.0.1:P` passed validation, then `run` failed
    // with EADDRINUSE.
    let text = second_listener("0.0.0.0:12200");
    assert_error(&text, "listeners[1].address", 7, "listener `second` address 0.0.0.0:12200");
    assert_error(
        &text,
        "listeners[1].address",
        7,
        "of listener `main` (listeners[0].address, line 3)",
    );
    assert_error(&text, "listeners[1].address", 7, "0.0.0.0 takes the port on every IPv4 address");
    // `[::]` is dual-stack (IPV6_V6ONLY off): it overlaps IPv4 addresses too, and IPv6 ones.
    assert_error(&second_listener("\"[::]:12200\""), "listeners[1].address", 7, "every IPv6 and");
    let v6 = BASE.replace("127.0.0.1:12200", "\"[::1]:12200\"");
    let v6 = v6.replacen(
        "    fallback_cluster: raw\n",
        "    fallback_cluster: raw\n  - name: second\n    address: \"[::]:12200\"\n    protocols: [bolt]\n",
        1,
    );
    assert_eq!(check(&v6).errors.len(), 1, "{:#?}", check(&v6).errors);
    // An IPv4-mapped IPv6 address binds its IPv4 address.
    assert!(!check(&second_listener("\"[::ffff:127.0.0.1]:12200\"")).is_ok());
    // 0.0.0.0 does not cover IPv6 addresses.
    let apart = BASE.replace("127.0.0.1:12200", "\"[::1]:12200\"");
    let apart = apart.replacen(
        "    fallback_cluster: raw\n",
        "    fallback_cluster: raw\n  - name: second\n    address: 0.0.0.0:12200\n    protocols: [bolt]\n",
        1,
    );
    assert!(check(&apart).is_ok(), "{:#?}", check(&apart).errors);
    // Other ports, other specific addresses and port 0 never clash.
    assert!(check(&second_listener("0.0.0.0:12201")).is_ok());
    assert!(check(&second_listener("127.0.0.2:12200")).is_ok());
    let zero = BASE.replace("127.0.0.1:12200", "127.0.0.1:0");
    let zero = zero.replacen(
        "    fallback_cluster: raw\n",
        "    fallback_cluster: raw\n  - name: second\n    address: 0.0.0.0:0\n    protocols: [bolt]\n",
        1,
    );
    assert!(check(&zero).is_ok(), "{:#?}", check(&zero).errors);
}

#[test]
fn a_wildcard_admin_address_overlaps_a_listener() {
    let text = format!("{BASE}admin: {{address: 0.0.0.0:12200}}\n");
    let (path, line, message) = only_error(&check(&text));
    assert_eq!((path.as_str(), line), ("listeners[0].address", Some(3)));
    assert!(message.contains("of the admin listener (admin.address, line 32)"), "{message}");
}

#[test]
fn unsatisfiable_metadata_match_is_a_warning() {
    let report = check(&with("metadata_match: {zone: a}", "metadata_match: {zone: b}"));
    assert!(report.is_ok());
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let w = &report.warnings[0];
    assert_eq!(
        (w.path.as_str(), w.location.map(|l| l.line)),
        ("routes[0].routes[0].metadata_match", Some(15))
    );
    assert!(w.message.contains("no endpoint of cluster `orders`"), "{}", w.message);
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = with("{cluster: orders}", "{cluster: nope}").replace("weight: 90", "weight: 0");
    let text = text.replace("[bolt, dubbo]", "[bolt, smtp]");
    assert_eq!(check(&text).errors.len(), 3);
}

#[test]
fn without_source_findings_have_no_line() {
    let text = with("{cluster: orders}", "{cluster: nope}");
    let config = parse(&text, Format::Yaml).unwrap();
    let report = validate(&config, None, KNOWN);
    assert_eq!(report.errors[0].location, None);
    assert_eq!(report.errors[0].path, "routes[0].routes[0].action.cluster");
}

#[test]
fn unused_clusters_and_idle_retry_settings_are_warnings() {
    let text = format!("{BASE}  - name: spare\n    endpoints: [{{address: 127.0.0.1:1}}]\n");
    let report = check(&text);
    assert!(report.is_ok());
    assert_eq!(report.warnings[0].path, "clusters[2].name");
    let retry = with("{per_try_timeout: 500ms}", "{retriable_statuses: [500]}");
    assert_eq!(check(&retry).warnings[0].path, "routes[0].routes[0].retry.retriable_statuses");
}

#[test]
fn sniff_max_pending_and_backlog_are_positive() {
    for (field, value, path) in [
        ("sniff: {max_pending: 0}", false, "listeners[0].sniff.max_pending"),
        ("backlog: 0", false, "listeners[0].backlog"),
        ("sniff: {max_pending: 1}", true, ""),
        ("backlog: 4096", true, ""),
    ] {
        let text = with(
            "    fallback_cluster: raw\n",
            &format!("    fallback_cluster: raw\n    {field}\n"),
        );
        let report = check(&text);
        assert_eq!(report.is_ok(), value, "{field}: {:?}", report.errors);
        if !value {
            assert_eq!(only_error(&report).0, path);
        }
    }
}

#[test]
fn outlier_settings_parse_and_are_checked() {
    let outlier = "    outlier: {consecutive_failures: 3, base_ejection_time: 250ms, max_ejection_time: 2s, min_ejection_time: 20ms, panic_threshold: 30}\n";
    let text = format!("{BASE}{outlier}");
    assert!(check(&text).is_ok());
    let config = parse(&text, Format::Yaml).unwrap();
    let parsed = config.clusters[1].outlier;
    assert_eq!(parsed.consecutive_failures, 3);
    assert_eq!(parsed.base_ejection_time, Duration::from_millis(250));
    assert_eq!(parsed.max_ejection_time, Duration::from_secs(2));
    assert_eq!(parsed.min_ejection_time, Duration::from_millis(20));
    assert_eq!(parsed.panic_threshold, 30);
    assert_eq!(config.clusters[0].outlier, OutlierConfig::default());

    let bad = "    outlier: {consecutive_failures: 0, base_ejection_time: 1s, max_ejection_time: 500ms, min_ejection_time: 2s, panic_threshold: 101}\n";
    let report = check(&format!("{BASE}{bad}"));
    let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "clusters[1].outlier.consecutive_failures",
            "clusters[1].outlier.max_ejection_time",
            "clusters[1].outlier.min_ejection_time",
            "clusters[1].outlier.panic_threshold",
        ]
    );
    assert_eq!(report.errors[0].location.map(|l| l.line), Some(32));
    let zero = "    outlier: {base_ejection_time: 0s, min_ejection_time: 0s}\n";
    let report = check(&format!("{BASE}{zero}"));
    let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["clusters[1].outlier.base_ejection_time"]);
}

use std::collections::{BTreeMap, HashSet};

use super::*;

/// One sample line of the exposition text: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the sample lines of OpenMetrics text (label values here hold no `"`, `,` or `=`).
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF: {text}");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels close");
                    let labels = body
                        .split(',')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label has a value");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, BTreeMap::new()),
            };
            Sample { name: name.to_owned(), labels, value: value.parse().expect("numeric value") }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include all of `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches several samples: {found:?}");
    found.first().map(|s| s.value)
}

const ROUTE: [(&str, &str); 4] =
    [("listener", "main"), ("protocol", "bolt"), ("route", "users"), ("cluster", "users-v1")];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    ROUTE.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn every_failure_has_its_own_error_class() {
    let classes: HashSet<usize> = Failure::ALL.iter().map(|f| failure_class(*f)).collect();
    assert_eq!(classes.len(), Failure::ALL.len(), "two failures share an error class");
    assert!(!classes.contains(&UPSTREAM_5XX) && !classes.contains(&UPSTREAM_4XX));
    assert_eq!(ERROR_CLASSES[failure_class(Failure::NoHealthyUpstream)], "no_healthy_upstream");
}

#[test]
fn recording_outcomes_of_each_kind_renders_the_right_series() {
    let metrics = Metrics::new();
    let handle = metrics.requests("main", "bolt", "users", "users-v1");
    handle.record(&Outcome::Replied(200), Duration::from_micros(80));
    handle.record(&Outcome::Forwarded, Duration::from_millis(2));
    handle.record(&Outcome::Replied(503), Duration::from_millis(20));
    handle.record(&Outcome::Replied(404), Duration::from_millis(20));
    handle.record_tries(&Outcome::Replied(200), Duration::from_millis(200), 3);
    for failure in Failure::ALL {
        handle.clone().record(&Outcome::Failed(failure), Duration::from_secs(20));
    }

    let samples = parse(&metrics.render());
    let total = 5.0 + Failure::ALL.len() as f64;
    assert_eq!(value(&samples, "xproxy_requests_total", &ROUTE), Some(total));
    assert_eq!(value(&samples, "xproxy_request_retries_total", &ROUTE), Some(2.0));
    for class in ERROR_CLASSES {
        let errors = value(&samples, "xproxy_request_errors_total", &with(&[("class", class)]));
        assert_eq!(errors, Some(1.0), "class {class}");
    }
    let errors: f64 =
        samples.iter().filter(|s| s.name == "xproxy_request_errors_total").map(|s| s.value).sum();
    assert_eq!(errors, ERROR_CLASSES.len() as f64, "200s and one-way requests are no errors");

    let bucket =
        |le: &str| value(&samples, "xproxy_request_duration_seconds_bucket", &with(&[("le", le)]));
    assert_eq!(bucket("0.0001"), Some(1.0), "80µs");
    assert_eq!(bucket("0.0025"), Some(2.0), "cumulative: 80µs, 2ms");
    assert_eq!(bucket("0.025"), Some(4.0));
    assert_eq!(bucket("0.25"), Some(5.0));
    assert_eq!(bucket("10.0"), Some(5.0));
    assert_eq!(bucket("+Inf"), Some(total));
    assert_eq!(value(&samples, "xproxy_request_duration_seconds_count", &ROUTE), Some(total));
    let sum = value(&samples, "xproxy_request_duration_seconds_sum", &ROUTE).expect("sum");
    let expected = 0.000080 + 0.002 + 0.020 + 0.020 + 0.200 + 20.0 * Failure::ALL.len() as f64;
    assert!((sum - expected).abs() < 1e-9, "sum {sum} vs {expected}");
}

#[test]
fn label_sets_are_kept_apart_and_resolved_once() {
    let metrics = Metrics::new();
    let a = metrics.requests("main", "bolt", "users", "users-v1");
    let b = metrics.requests("main", "dubbo", "users", "users-v1");
    let a_again = metrics.requests("main", "bolt", "users", "users-v1");
    a.record(&Outcome::Replied(200), Duration::ZERO);
    a_again.record(&Outcome::Replied(200), Duration::ZERO);
    b.record(&Outcome::Failed(Failure::NoRoute), Duration::ZERO);
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "xproxy_requests_total", &ROUTE), Some(2.0));
    let dubbo = [("protocol", "dubbo")];
    assert_eq!(value(&samples, "xproxy_requests_total", &dubbo), Some(1.0));
    let no_route = [("protocol", "dubbo"), ("class", "no_route")];
    assert_eq!(value(&samples, "xproxy_request_errors_total", &no_route), Some(1.0));
    let bolt_no_route = [("protocol", "bolt"), ("class", "no_route")];
    assert_eq!(value(&samples, "xproxy_request_errors_total", &bolt_no_route), Some(0.0));
}

#[test]
fn scope_records_request_records_with_empty_labels_for_missing_route() {
    let metrics = Arc::new(Metrics::new());
    let scope = metrics.scope("main", "bolt");
    let record = |route, cluster, outcome, tries| RequestRecord {
        route,
        cluster,
        outcome,
        latency: Duration::from_millis(1),
        tries,
        tag: 0,
    };
    scope.record(&record(Some("users"), Some("users-v1"), Outcome::Replied(200), 2));
    scope.record(&record(Some("users"), Some("users-v1"), Outcome::Replied(200), 1));
    scope.record(&record(None, None, Outcome::Failed(Failure::NoRoute), 0));
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "xproxy_requests_total", &ROUTE), Some(2.0));
    assert_eq!(value(&samples, "xproxy_request_retries_total", &ROUTE), Some(1.0));
    let unrouted = [("route", ""), ("cluster", ""), ("class", "no_route")];
    assert_eq!(value(&samples, "xproxy_request_errors_total", &unrouted), Some(1.0));
    let cache = scope.cache.lock().expect("cache");
    assert_eq!(cache.len(), 2, "one handle per (route, cluster)");
}

#[test]
fn connection_gauges_go_up_and_down() {
    let metrics = Metrics::new();
    let labels = [("listener", "main"), ("protocol", "bolt")];
    let active =
        |m: &Metrics| value(&parse(&m.render()), "xproxy_downstream_connections_active", &labels);
    let first = metrics.connection_opened("main", "bolt");
    let second = metrics.connection_opened("main", "bolt");
    assert_eq!(active(&metrics), Some(2.0));
    drop(first);
    assert_eq!(active(&metrics), Some(1.0));
    drop(second);
    assert_eq!(active(&metrics), Some(0.0));
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "xproxy_downstream_connections_total", &labels), Some(2.0));

    let upstream = metrics.upstream_connection_opened("users-v1");
    let cluster = [("cluster", "users-v1")];
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "xproxy_upstream_connections_active", &cluster), Some(1.0));
    drop(upstream);
    let samples = parse(&metrics.render());
    assert_eq!(value(&samples, "xproxy_upstream_connections_active", &cluster), Some(0.0));
    assert_eq!(value(&samples, "xproxy_upstream_connections_total", &cluster), Some(1.0));
}

#[test]
fn outlier_counters_are_series_of_their_cluster() {
    let metrics = Metrics::new();
    let counters = metrics.outlier_counters("orders");
    counters.ejections.inc();
    counters.ejections.inc();
    counters.panics.inc();
    // Resolving again shares the same series.
    metrics.outlier_counters("orders").panics.inc();
    let samples = parse(&metrics.render());
    let cluster = [("cluster", "orders")];
    assert_eq!(value(&samples, "xproxy_upstream_ejections_total", &cluster), Some(2.0));
    assert_eq!(value(&samples, "xproxy_upstream_panics_total", &cluster), Some(2.0));
}

#[test]
fn sniff_failures_and_decode_errors_are_counted_by_reason() {
    let metrics = Metrics::new();
    metrics.sniff_failed("main", SniffFailure::Timeout);
    metrics.sniff_failed("main", SniffFailure::Timeout);
    metrics.sniff_failed("main", SniffFailure::TooLarge);
    metrics.sniff_failed("main", SniffFailure::Unrecognized);
    metrics.sniff_failed("main", SniffFailure::Closed);
    metrics.decode_error("main", "dubbo");
    let samples = parse(&metrics.render());
    let sniff = |reason| {
        value(&samples, "xproxy_sniff_failures_total", &[("listener", "main"), ("reason", reason)])
    };
    assert_eq!(sniff("timeout"), Some(2.0));
    assert_eq!(sniff("too_large"), Some(1.0));
    assert_eq!(sniff("unrecognized"), Some(1.0));
    assert_eq!(sniff("closed"), Some(1.0));
    let decode = [("listener", "main"), ("protocol", "dubbo")];
    assert_eq!(value(&samples, "xproxy_decode_errors_total", &decode), Some(1.0));
}

#[test]
fn families_carry_type_and_help_lines() {
    let text = Metrics::new().render();
    assert!(text.contains("# TYPE xproxy_requests counter\n"), "{text}");
    assert!(text.contains("# TYPE xproxy_request_duration_seconds histogram\n"), "{text}");
    assert!(text.contains("# UNIT xproxy_request_duration_seconds seconds\n"), "{text}");
    assert!(text.contains("# TYPE xproxy_downstream_connections_active gauge\n"), "{text}");
    assert!(text.contains("# HELP xproxy_sniff_failures "), "{text}");
}

#[test]
fn sniffing_gauge_and_refusals_are_counted_by_listener_and_reason() {
    let metrics = Metrics::new();
    let sniffing = |m: &Metrics| {
        value(
            &parse(&m.render()),
            "xproxy_downstream_connections_sniffing",
            &[("listener", "main")],
        )
    };
    let first = metrics.sniffing_started("main");
    let second = metrics.sniffing_started("main");
    assert_eq!(sniffing(&metrics), Some(2.0));
    drop(first);
    drop(second);
    assert_eq!(sniffing(&metrics), Some(0.0));

    metrics.connection_refused("main", Refusal::MaxConnections);
    metrics.connection_refused("main", Refusal::SniffEvicted);
    metrics.connection_refused("main", Refusal::SniffEvicted);
    metrics.admin_connection_refused(AdminRefusal::Evicted);
    let samples = parse(&metrics.render());
    let refused = |reason| {
        let labels = [("listener", "main"), ("reason", reason)];
        value(&samples, "xproxy_downstream_connections_refused_total", &labels)
    };
    assert_eq!(refused("max_connections"), Some(1.0));
    assert_eq!(refused("sniff_evicted"), Some(2.0));
    let admin = [("reason", "evicted")];
    assert_eq!(value(&samples, "xproxy_admin_connections_refused_total", &admin), Some(1.0));
}

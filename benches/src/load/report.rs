//! The run's summary: an h2load-like text report and one flat line of JSON for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use super::stats::{ErrorClass, Recorder};

/// The percentiles reported, with their labels (text) and JSON key suffixes.
pub const PERCENTILES: [(f64, &str, &str); 4] =
    [(50.0, "p50", "p50"), (90.0, "p90", "p90"), (99.0, "p99", "p99"), (99.9, "p99.9", "p999")];

/// What was run and what it gave.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The protocol's name.
    pub protocol: &'static str,
    /// The target, as given.
    pub target: String,
    /// Connections opened.
    pub connections: u64,
    /// Requests in flight at most per connection.
    pub concurrency: u64,
    /// The fixed total rate, or `None` for a closed loop.
    pub rate: Option<f64>,
    /// The request payload in bytes.
    pub payload: usize,
    /// From the end of the warm-up to the last measured reply.
    pub elapsed: Duration,
    /// The merged results of every connection.
    pub results: Recorder,
}

impl Summary {
    /// Measured requests (successful or not) per second of `elapsed`.
    pub fn requests_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.results.ok() + self.results.failed()) as f64 / secs
        } else {
            0.0
        }
    }

    /// The text report.
    pub fn text(&self) -> String {
        let r = &self.results;
        let total = r.ok() + r.failed();
        let mode = match self.rate {
            Some(rate) => format!("fixed rate {rate:.0} req/s"),
            None => "closed loop".to_owned(),
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "xload: {} to {}, {} connections x {} in flight, {mode}, {} B payload",
            self.protocol, self.target, self.connections, self.concurrency, self.payload
        );
        let _ = writeln!(
            out,
            "finished in {:.2}s, {:.2} req/s",
            self.elapsed.as_secs_f64(),
            self.requests_per_second()
        );
        let _ = writeln!(
            out,
            "requests: {total} total, {} succeeded, {} failed ({} more during warm-up)",
            r.ok(),
            r.failed(),
            r.warmup()
        );
        let errors: Vec<String> = reported(r).map(|(c, n)| format!("{} {n}", c.name())).collect();
        let _ = writeln!(out, "errors: {}", errors.join(", "));
        if let Some((first, last)) = r.error_window() {
            let _ = writeln!(
                out,
                "error window: {} (first error at {}, last at {}, from the end of the warm-up)",
                human(last - first),
                human(first),
                human(last)
            );
        }
        let (min, max, mean) = r.min_max_mean();
        let mut head = format!("{:<9}{:>10}", "latency", "min");
        let mut row = format!("{:<9}{:>10}", "", human(min));
        for (p, label, _) in PERCENTILES {
            let _ = write!(head, "{label:>10}");
            let _ = write!(row, "{:>10}", human(r.percentile(p)));
        }
        let _ = write!(head, "{:>10}{:>10}", "max", "mean");
        let _ = write!(row, "{:>10}{:>10}", human(max), human(mean));
        let _ = writeln!(out, "{head}");
        let _ = writeln!(out, "{row}");
        out
    }

    /// One flat JSON object on one line; latencies in microseconds (3 decimals).
    pub fn json(&self) -> String {
        let r = &self.results;
        let us = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e6);
        let mut out = String::from("{");
        let _ = write!(out, "\"protocol\":\"{}\"", escape(self.protocol));
        let _ = write!(out, ",\"target\":\"{}\"", escape(&self.target));
        let _ = write!(out, ",\"connections\":{}", self.connections);
        let _ = write!(out, ",\"concurrency\":{}", self.concurrency);
        match self.rate {
            Some(rate) => write!(out, ",\"rate\":{rate}"),
            None => write!(out, ",\"rate\":null"),
        }
        .unwrap_or_default();
        let _ = write!(out, ",\"payload\":{}", self.payload);
        let _ = write!(out, ",\"elapsed_s\":{:.6}", self.elapsed.as_secs_f64());
        let _ = write!(out, ",\"requests\":{}", r.ok() + r.failed());
        let _ = write!(out, ",\"ok\":{}", r.ok());
        let _ = write!(out, ",\"failed\":{}", r.failed());
        let _ = write!(out, ",\"warmup_requests\":{}", r.warmup());
        let _ = write!(out, ",\"rps\":{:.2}", self.requests_per_second());
        let (min, max, mean) = r.min_max_mean();
        let _ = write!(out, ",\"min_us\":{}", us(min));
        for (p, _, key) in PERCENTILES {
            let _ = write!(out, ",\"{key}_us\":{}", us(r.percentile(p)));
        }
        let _ = write!(out, ",\"max_us\":{},\"mean_us\":{}", us(max), us(mean));
        for (class, n) in reported(r) {
            let _ = write!(out, ",\"errors_{}\":{n}", class.name());
        }
        let secs = |d: Duration| format!("{:.6}", d.as_secs_f64());
        match r.error_window() {
            Some((first, last)) => write!(
                out,
                ",\"first_error_s\":{},\"last_error_s\":{},\"error_window_s\":{}",
                secs(first),
                secs(last),
                secs(last - first)
            ),
            None => {
                write!(out, ",\"first_error_s\":null,\"last_error_s\":null,\"error_window_s\":null")
            }
        }
        .unwrap_or_default();
        out.push('}');
        out
    }
}

/// The error classes a report lists and their counts: the general classes always, the
/// HTTP status and gRPC code classes when they occurred (there are 22 of them).
fn reported(r: &Recorder) -> impl Iterator<Item = (ErrorClass, u64)> + '_ {
    ErrorClass::all().map(|c| (c, r.errors(c))).filter(|(c, n)| c.is_general() || *n > 0)
}

/// A latency with a unit that keeps 3–4 significant digits: `87.3us`, `1.25ms`, `2.00s`.
pub fn human(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::grpc::GrpcCode;
    use crate::load::stats::StatusClass;

    fn summary() -> Summary {
        let mut results = Recorder::new();
        for us in 1..=100 {
            results.record(Ok(()), Duration::from_micros(us * 10));
        }
        results.record(Err(ErrorClass::Closed), Duration::ZERO);
        results.record(Err(ErrorClass::Http(StatusClass::ServerError)), Duration::ZERO);
        results.record(Err(ErrorClass::Grpc(GrpcCode::Unavailable)), Duration::ZERO);
        results.record_warmup();
        results.note_error_at(Duration::from_millis(1200));
        let mut other = Recorder::new();
        other.note_error_at(Duration::from_millis(1500));
        other.note_error_at(Duration::from_millis(1000));
        results.merge(&other);
        Summary {
            protocol: "bolt",
            target: "127.0.0.1:1\"x".into(),
            connections: 4,
            concurrency: 16,
            rate: None,
            payload: 1024,
            elapsed: Duration::from_millis(500),
            results,
        }
    }

    #[test]
    fn text_and_json_give_the_error_window_when_there_were_errors() {
        let text = summary().text();
        assert!(
            text.contains("error window: 500.00ms (first error at 1.00s, last at 1.50s"),
            "{text}"
        );
        let mut clean = summary();
        clean.results = Recorder::new();
        assert!(!clean.text().contains("error window"));
        assert!(clean.json().contains("\"error_window_s\":null"));
    }

    #[test]
    fn human_units_keep_three_or_four_digits() {
        assert_eq!(human(Duration::from_nanos(999)), "999ns");
        assert_eq!(human(Duration::from_nanos(87_349)), "87.3us");
        assert_eq!(human(Duration::from_micros(1250)), "1.25ms");
        assert_eq!(human(Duration::from_secs(2)), "2.00s");
    }

    #[test]
    fn json_is_one_flat_line_with_every_field() {
        let json = summary().json();
        assert!(!json.contains('\n'));
        assert!(json.starts_with("{\"protocol\":\"bolt\",\"target\":\"127.0.0.1:1\\\"x\""));
        for field in [
            "\"rate\":null",
            "\"requests\":103",
            "\"ok\":100",
            "\"failed\":3",
            "\"warmup_requests\":1",
            "\"rps\":206.00",
            "\"p50_us\":500.",
            "\"p999_us\":1000.",
            "\"errors_closed\":1",
            "\"errors_timeout\":0",
            "\"errors_connect\":0",
            "\"errors_http_5xx\":1",
            "\"errors_grpc_unavailable\":1",
            "\"first_error_s\":1.000000",
            "\"last_error_s\":1.500000",
            "\"error_window_s\":0.500000",
        ] {
            assert!(json.contains(field), "{field} missing from {json}");
        }
        assert!(!json.contains("errors_http_4xx"), "classes that did not occur are left out");
        assert!(!json.contains("errors_grpc_ok"));
        assert!(json.ends_with('}'));
    }

    #[test]
    fn text_names_the_run_rate_errors_and_percentiles() {
        let text = summary().text();
        assert!(text.contains("4 connections x 16 in flight, closed loop, 1024 B payload"));
        assert!(text.contains("206.00 req/s"), "{text}");
        assert!(text.contains("103 total, 100 succeeded, 3 failed (1 more during warm-up)"));
        assert!(
            text.contains(
                "errors: timeout 0, connect 0, closed 1, reset 0, status 0, decode 0, other 0, \
                 http_5xx 1, grpc_unavailable 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("p99.9") && text.contains("10.0us"), "{text}");
    }
}

//! The report: a table for people, JSON for scripts.

use std::fmt::Write;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::result::RunResult;
use crate::verify::Verification;
use crate::Args;

pub struct Report {
    pub mode: crate::Mode,
    pub url: String,
    pub concurrency: usize,
    pub timeout: f64,
    pub result: RunResult,
    pub created_ids: Vec<String>,
    pub verification: Option<Verification>,
}

const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("max", 1.0),
];

/// Latency percentiles in milliseconds (empty when nothing was recorded).
pub fn percentiles(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({});
    }
    let mut out = serde_json::Map::new();
    for (name, q) in QUANTILES {
        let micros = if q >= 1.0 {
            h.max()
        } else {
            h.value_at_quantile(q)
        };
        out.insert(name.into(), json!((micros as f64 / 10.0).round() / 100.0));
    }
    Value::Object(out)
}

impl Report {
    pub fn new(args: &Args, mut result: RunResult) -> Self {
        let created_ids = std::mem::take(&mut result.created_ids);
        Report {
            mode: args.mode,
            url: args.url.clone(),
            concurrency: args.concurrency,
            timeout: args.timeout,
            result,
            created_ids,
            verification: None,
        }
    }

    pub fn rate(&self) -> f64 {
        self.result.sent as f64 / self.result.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn to_json(&self) -> Value {
        let r = &self.result;
        json!({
            "mode": format!("{:?}", self.mode).to_lowercase(),
            "url": self.url,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout,
            "requests": r.sent,
            "elapsed_s": r.elapsed.as_secs_f64(),
            "requests_per_s": self.rate(),
            "latency_ms": percentiles(&r.all),
            "latency_ms_2xx": percentiles(&r.ok),
            "latency_ms_503": percentiles(&r.refused),
            "statuses": r.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "transport_errors": r.errors,
            "transport_errors_total": r.errors.values().sum::<u64>(),
            "retries": r.retries,
            "retried_errors": r.retried_errors,
            "retried_statuses": r.retried_statuses,
            // Successes per second: 201s of sign-ups, 200s of logins and refreshes.
            "created_per_second": r.timeline,
            "verify": self.verification.as_ref().map(Verification::to_json),
        })
    }

    /// When every answer was one 4xx, the run measured nothing but a mistake (a
    /// wrong URL, a wrong body): said loudly, since the rate alone looks fine.
    pub fn same_client_error(&self) -> Option<String> {
        let r = &self.result;
        let (&status, &count) = r.statuses.iter().next()?;
        let only = r.statuses.len() == 1 && r.errors.is_empty();
        (only && (400..500).contains(&status) && count == r.sent).then(|| {
            format!("every one of the {count} answers was {status}: check the URL and the mode")
        })
    }

    pub fn table(&self) -> String {
        let r = &self.result;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "target        {}  ({:?}, concurrency {}, timeout {} s)",
            self.url, self.mode, self.concurrency, self.timeout
        );
        let _ = writeln!(
            out,
            "requests      {} in {:.2} s = {:.1} req/s",
            r.sent,
            r.elapsed.as_secs_f64(),
            self.rate()
        );
        for (label, h) in [("latency", &r.all), ("  2xx", &r.ok), ("  503", &r.refused)] {
            if h.is_empty() {
                continue;
            }
            let p = percentiles(h);
            let cells: Vec<String> = QUANTILES
                .iter()
                .map(|(n, _)| format!("{n} {} ms", p[*n]))
                .collect();
            let _ = writeln!(out, "{label:<13} {}", cells.join("  "));
        }
        let statuses: Vec<String> = r.statuses.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "statuses      {}", statuses.join(" "));
        let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let total: u64 = r.errors.values().sum();
        let _ = writeln!(out, "transport     errors={total} {}", errors.join(" "));
        if r.retries > 0 {
            let errors: Vec<String> = r
                .retried_errors
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(
                out,
                "retries       {} (503 and in-progress 409 after Retry-After; errors sent again: {})",
                r.retries,
                if errors.is_empty() { "none".into() } else { errors.join(" ") }
            );
        }
        if let Some(v) = &self.verification {
            let _ = writeln!(out, "{}", v.line());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::histogram;

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut h = histogram();
        for micros in 1..=1000u64 {
            h.record(micros * 1000).unwrap(); // 1..1000 ms
        }
        let p = percentiles(&h);
        assert!((p["p50"].as_f64().unwrap() - 500.0).abs() < 1.0, "{p}");
        assert!((p["p99"].as_f64().unwrap() - 990.0).abs() < 1.5, "{p}");
        assert!((p["max"].as_f64().unwrap() - 1000.0).abs() < 1.0, "{p}");
        assert_eq!(percentiles(&histogram()), json!({}));
    }
}

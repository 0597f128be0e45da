//! Counts of the HTTP requests served, by method, route and status, and
//! their durations: what `prism_http_requests_total` and
//! `prism_http_request_duration_seconds` show.
//!
//! Labels are bounded: a route is the template it matched
//! (`/api/v1/plugins/{id}`), every path that matched none is `unmatched`,
//! and a method outside the few the API serves is `other`.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds of the duration buckets, seconds.
pub(crate) const BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// One series' counts.
#[derive(Debug, Default, Clone)]
pub(crate) struct Series {
    /// Requests per status code.
    pub(crate) statuses: HashMap<u16, u64>,
    /// Requests at or under each bucket's bound (not cumulative here).
    pub(crate) buckets: [u64; BUCKETS.len()],
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
}

/// The counts by (method, route).
#[derive(Debug, Default)]
pub(crate) struct Requests {
    series: Mutex<HashMap<(&'static str, String), Series>>,
}

impl Requests {
    fn note(&self, method: &'static str, route: String, status: u16, seconds: f64) {
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = series.entry((method, route)).or_default();
        *s.statuses.entry(status).or_default() += 1;
        if let Some(at) = BUCKETS.iter().position(|b| seconds <= *b) {
            s.buckets[at] += 1;
        }
        s.count += 1;
        s.sum_seconds += seconds;
    }

    /// A copy of every series, sorted by method and route.
    pub(crate) fn snapshot(&self) -> Vec<((&'static str, String), Series)> {
        let series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<_> = series.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The middleware: times the request and counts it under its route.
pub(crate) async fn count(
    axum::extract::State(requests): axum::extract::State<std::sync::Arc<Requests>>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    requests.note(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_status_and_duration_bucket() {
        let r = Requests::default();
        r.note("GET", "/health".into(), 200, 0.0004);
        r.note("GET", "/health".into(), 200, 0.003);
        r.note("GET", "/health".into(), 503, 7.0);
        let all = r.snapshot();
        assert_eq!(all.len(), 1);
        let s = &all[0].1;
        assert_eq!(s.count, 3);
        assert_eq!(s.statuses[&200], 2);
        assert_eq!(s.statuses[&503], 1);
        // 0.0004 in the first bucket, 0.003 in the 0.005 one; 7 s past all.
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[3], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), 2);
        assert!((s.sum_seconds - 7.0034).abs() < 1e-9);
    }
}

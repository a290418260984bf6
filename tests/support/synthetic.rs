//! Seeded request counters with the things that break naive SLO maths:
//! diurnal traffic, incidents, a scrape outage, counter resets, a series
//! that appears late, and instances scraped at different offsets. Plus the
//! exact truth to compare against.

use super::remote_write::Series;

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// A span with an elevated error ratio on some routes.
#[derive(Debug, Clone)]
pub struct Incident {
    pub from: i64,
    pub to: i64,
    pub route: &'static str,
    pub error_ratio: f64,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub start: i64,
    pub end: i64,
    pub scrape: i64,
    pub incidents: Vec<Incident>,
    /// (instance, from, to): no samples at all, then the process restarts (counters reset).
    pub outages: Vec<(&'static str, i64, i64)>,
    /// (instance, at): the process restarts without a gap.
    pub restarts: Vec<(&'static str, i64)>,
    /// (route, first sample): the route's series only exist from then on.
    pub late_routes: Vec<(&'static str, i64)>,
}

pub const ROUTES: [&str; 3] = ["/cart", "/pay", "/new"];
pub const INSTANCES: [(&str, i64); 2] = [("i1", 0), ("i2", 7_300)];

/// Small deterministic generator (xorshift), enough for jitter.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Scenario {
    /// Requests per second for a route at `t`: a daily cycle between 5% and 100% of peak.
    fn rate(&self, route: &str, t: i64) -> f64 {
        let peak = match route {
            "/cart" => 40.0,
            "/pay" => 6.0,
            _ => 2.0,
        };
        let phase = (t.rem_euclid(DAY)) as f64 / DAY as f64;
        peak * (0.525 + 0.475 * (2.0 * std::f64::consts::PI * phase).sin())
    }

    fn error_ratio(&self, route: &str, t: i64) -> f64 {
        self.incidents
            .iter()
            .filter(|i| i.route == route && t > i.from && t <= i.to)
            .map(|i| i.error_ratio)
            .fold(0.0003, f64::max)
    }

    /// Every series (`http_requests_total{route, code, instance}`) with its samples.
    pub fn series(&self) -> Vec<Series> {
        let mut out = Vec::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (instance, offset) in INSTANCES {
            for route in ROUTES {
                let first = self
                    .late_routes
                    .iter()
                    .find(|(r, _)| *r == route)
                    .map_or(self.start, |(_, t)| *t);
                let (mut ok, mut err) = (0.0f64, 0.0f64);
                let mut ok_series = Vec::new();
                let mut err_series = Vec::new();
                let mut t = self.start + offset;
                let mut last = t;
                while t <= self.end {
                    let down = self
                        .outages
                        .iter()
                        .any(|(i, from, to)| *i == instance && t > *from && t <= *to);
                    let restarted = self
                        .outages
                        .iter()
                        .any(|(i, _, to)| *i == instance && last <= *to && t > *to)
                        || self
                            .restarts
                            .iter()
                            .any(|(i, at)| *i == instance && last <= *at && t > *at);
                    if restarted {
                        ok = 0.0;
                        err = 0.0;
                    }
                    let dt = (t - last) as f64 / 1000.0;
                    let requests = self.rate(route, t) * dt * (0.9 + 0.2 * rng.next());
                    let errors = requests * self.error_ratio(route, t);
                    if !down {
                        ok += (requests - errors).round();
                        err += errors.round();
                        if t >= first {
                            // Scrape timestamps jitter by up to a second, as real scrapes do.
                            let ts = t + (rng.next() * 1000.0) as i64;
                            ok_series.push((ts, ok));
                            err_series.push((ts, err));
                        }
                    }
                    last = t;
                    t += self.scrape;
                }
                out.push(Series::new(
                    "http_requests_total",
                    &[("route", route), ("code", "200"), ("instance", instance)],
                    ok_series,
                ));
                out.push(Series::new(
                    "http_requests_total",
                    &[("route", route), ("code", "500"), ("instance", instance)],
                    err_series,
                ));
            }
        }
        out
    }
}

fn label<'a>(s: &'a Series, name: &str) -> &'a str {
    s.labels
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Exact events in `(from, to]`: per series, the increase between consecutive
/// samples (the new value after a reset) stamped at the later sample.
pub fn exact_increase(
    series: &[Series],
    keep: impl Fn(&dyn Fn(&str) -> String) -> bool,
    from: i64,
    to: i64,
) -> f64 {
    let mut total = 0.0;
    for s in series {
        if !keep(&|name: &str| label(s, name).to_string()) {
            continue;
        }
        for pair in s.samples.windows(2) {
            let ((_, prev), (ts, value)) = (pair[0], pair[1]);
            if ts > from && ts <= to {
                total += if value >= prev { value - prev } else { value };
            }
        }
    }
    total
}

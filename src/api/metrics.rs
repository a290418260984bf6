//! `GET /metrics`: every instance's status and burnrate's own health in the
//! Prometheus text exposition format (0.0.4). The per-instance part is
//! rendered once per snapshot.

use std::fmt::Write;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Api;
use super::params::{NO_PARAMETERS, Params};
use super::view::{AlertState, DataState, View};
use crate::alerting::{AlertSender, DeliveryStats};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics: SLO status and burnrate's health.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        (status = 400, description = "A bad parameter", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn metrics(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    if let Err(p) = Params::from_uri(&uri).only(NO_PARAMETERS) {
        return p.into_response();
    }
    let view = api.view();
    let per_instance = view.metrics(render_instances);
    let mut text = String::with_capacity(per_instance.len() + 1024);
    text.push_str(std::str::from_utf8(&per_instance).unwrap_or_default());
    render_health(
        &mut text,
        &view,
        api.app.reloader.current().slos.len(),
        api.app.alert_sender.as_ref(),
    );
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &str, value: f64) {
        if !value.is_finite() {
            return;
        }
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
    }
}

fn render_instances(view: &View) -> Bytes {
    let mut out = String::new();
    let base: Vec<String> = view
        .entries
        .iter()
        .map(|e| {
            let s = &e.status;
            format!(
                "id=\"{}\",service=\"{}\",slo=\"{}\"",
                escape(&s.id),
                escape(&s.service),
                escape(&s.name)
            )
        })
        .collect();
    let statuses = || view.entries.iter().map(|e| &e.status).zip(base.iter());

    type Getter = fn(&super::view::SloStatus) -> Option<f64>;
    let simple: [(&str, &str, Getter); 8] = [
        (
            "burnrate_slo_objective_ratio",
            "The objective as a ratio (0.999 for 99.9%).",
            |s| Some(s.objective),
        ),
        (
            "burnrate_slo_sli_ratio",
            "Good events / total events over the SLO window.",
            |s| s.sli,
        ),
        (
            "burnrate_slo_window_good_events",
            "Good events over the SLO window.",
            |s| Some(s.events.good),
        ),
        (
            "burnrate_slo_window_events",
            "All events over the SLO window.",
            |s| Some(s.events.total),
        ),
        (
            "burnrate_slo_error_budget_remaining_ratio",
            "Ratio of the error budget left: 1 untouched, 0 spent, negative overspent.",
            |s| s.error_budget.remaining,
        ),
        (
            "burnrate_slo_error_budget_remaining_events",
            "Bad events left before the budget is spent.",
            |s| s.error_budget.remaining_events,
        ),
        (
            "burnrate_slo_error_budget_remaining_seconds",
            "Seconds of total outage left before the budget is spent.",
            |s| s.error_budget.remaining_minutes.map(|m| m * 60.0),
        ),
        (
            "burnrate_slo_error_budget_exhaustion_timestamp_seconds",
            "When the budget runs out at the current (1h) burn rate, as Unix seconds.",
            |s| {
                s.error_budget
                    .exhaustion_at
                    .map(|t| t.timestamp_millis() as f64 / 1000.0)
            },
        ),
    ];
    for (name, help, get) in simple {
        let mut f = Family::header(&mut out, name, "gauge", help);
        for (s, labels) in statuses() {
            if let Some(v) = get(s) {
                f.sample(name, labels, v);
            }
        }
    }

    let name = "burnrate_slo_burn_rate";
    let mut f = Family::header(
        &mut out,
        name,
        "gauge",
        "Burn rate per window: the error ratio over the window divided by the error budget ratio (1 spends the budget exactly over the SLO window).",
    );
    for (s, labels) in statuses() {
        for (window, rate) in &s.burn_rates {
            if let Some(rate) = rate {
                f.sample(
                    name,
                    &format!("{labels},window=\"{}\"", escape(window)),
                    *rate,
                );
            }
        }
    }

    let name = "burnrate_slo_alert_state";
    let mut f = Family::header(
        &mut out,
        name,
        "gauge",
        "1 for the current state of each alert tier (inactive, pending, firing), 0 for the others; tier=\"budget_exhausted\" is the budget-exhausted alert, tier=\"absent\" the absent alert.",
    );
    for (s, labels) in statuses() {
        let tiers = s
            .alerts
            .iter()
            .map(|a| (a.tier.as_str(), a.severity, a.state))
            .chain(
                s.budget_exhausted
                    .as_ref()
                    .map(|e| ("budget_exhausted", e.severity, e.state)),
            )
            .chain(s.absent.as_ref().map(|a| ("absent", a.severity, a.state)));
        for (tier, severity, state) in tiers {
            for candidate in AlertState::ALL {
                f.sample(
                    name,
                    &format!(
                        "{labels},tier=\"{}\",severity=\"{}\",state=\"{}\"",
                        escape(tier),
                        severity.as_str(),
                        candidate.as_str()
                    ),
                    if candidate == state { 1.0 } else { 0.0 },
                );
            }
        }
    }

    let name = "burnrate_slo_firing_alerts";
    let mut f = Family::header(
        &mut out,
        name,
        "gauge",
        "Alerts of the instance firing now.",
    );
    for (s, labels) in statuses() {
        let firing = s
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .count()
            + usize::from(
                s.budget_exhausted
                    .as_ref()
                    .is_some_and(|e| e.state == AlertState::Firing),
            )
            + usize::from(
                s.absent
                    .as_ref()
                    .is_some_and(|a| a.state == AlertState::Firing),
            );
        f.sample(name, labels, firing as f64);
    }

    let name = "burnrate_slo_data_state";
    let mut f = Family::header(
        &mut out,
        name,
        "gauge",
        "1 for the instance's data state (pending, backfilling, ok, no_data, low_traffic, absent, stale), 0 for the others.",
    );
    for (s, labels) in statuses() {
        for candidate in DataState::ALL {
            f.sample(
                name,
                &format!("{labels},state=\"{}\"", candidate.as_str()),
                if candidate == s.data_state { 1.0 } else { 0.0 },
            );
        }
    }

    let name = "burnrate_slo_evaluation_timestamp_seconds";
    let mut f = Family::header(
        &mut out,
        name,
        "gauge",
        "When the instance was last evaluated, as Unix seconds.",
    );
    for (s, labels) in statuses() {
        if let Some(t) = s.evaluated_at {
            f.sample(name, labels, t.timestamp_millis() as f64 / 1000.0);
        }
    }
    Bytes::from(out)
}

/// What kind of failure made an instance stale, from its error message.
fn failure_kind(error: &str) -> &'static str {
    if error.contains("PostgreSQL") || error.contains("database") {
        "database"
    } else if error.contains("Prometheus") || error.contains("query `") {
        "prometheus"
    } else {
        "other"
    }
}

fn render_health(
    out: &mut String,
    view: &View,
    catalog_slos: usize,
    alert_sender: Option<&AlertSender>,
) {
    let snapshot = &view.snapshot;
    let version = env!("CARGO_PKG_VERSION");
    let mut f = Family::header(
        out,
        "burnrate_build_info",
        "gauge",
        "Always 1; the version in a label.",
    );
    f.sample(
        "burnrate_build_info",
        &format!("version=\"{version}\""),
        1.0,
    );

    let name = "burnrate_catalog_slos";
    let mut f = Family::header(out, name, "gauge", "SLOs in the running catalog.");
    f.sample(name, "", catalog_slos as f64);

    let name = "burnrate_slo_instances";
    let mut f = Family::header(
        out,
        name,
        "gauge",
        "SLO instances in the latest evaluation.",
    );
    f.sample(name, "", view.entries.len() as f64);

    let name = "burnrate_cycle_duration_seconds";
    let mut f = Family::header(
        out,
        name,
        "gauge",
        "How long the last evaluation cycle took (ingestion and evaluation of every SLO).",
    );
    if snapshot.published_at.is_some() {
        f.sample(name, "", snapshot.cycle_duration.as_secs_f64());
    }

    let name = "burnrate_last_cycle_timestamp_seconds";
    let mut f = Family::header(
        out,
        name,
        "gauge",
        "When the last evaluation cycle finished, as Unix seconds.",
    );
    if let Some(t) = snapshot.published_at {
        f.sample(name, "", t.timestamp_millis() as f64 / 1000.0);
    }

    let name = "burnrate_slo_instances_failing";
    let mut f = Family::header(
        out,
        name,
        "gauge",
        "Instances whose last cycle failed (status stale), by the failing dependency.",
    );
    let mut counts = [("prometheus", 0usize), ("database", 0), ("other", 0)];
    for e in &view.entries {
        if e.status.data_state == DataState::Stale
            && let Some(error) = &e.status.error
        {
            let kind = failure_kind(error);
            if let Some(c) = counts.iter_mut().find(|(k, _)| *k == kind) {
                c.1 += 1;
            }
        }
    }
    for (kind, count) in counts {
        f.sample(name, &format!("kind=\"{kind}\""), count as f64);
    }

    use crate::health::{
        CATALOG_RELOAD_FAILURES, DATABASE_ERRORS, FANIN_READS, FANIN_READS_SERVED,
        FANIN_SERIES_RETURNED, FANIN_SERIES_USED, FANIN_UNION_QUERIES, FENCED_WRITES,
        LEASES_ACQUIRED, LEASES_RELEASED, NONFINITE_SAMPLES, PROMETHEUS_ERRORS,
        UNTRACKED_LABEL_SETS, read,
    };
    #[rustfmt::skip]
    let counters = [
        ("burnrate_prometheus_query_errors_total", "SLO cycles that failed on a Prometheus query since start.", &PROMETHEUS_ERRORS),
        ("burnrate_database_errors_total", "SLO cycles that failed on a PostgreSQL query since start.", &DATABASE_ERRORS),
        ("burnrate_nonfinite_samples_total", "Samples skipped because their value was NaN or infinite.", &NONFINITE_SAMPLES),
        ("burnrate_catalog_reload_failures_total", "Catalog reloads refused because the new catalog had errors.", &CATALOG_RELOAD_FAILURES),
        ("burnrate_untracked_label_sets_total", "Label sets of grouped SLOs not counted because the SLO reached --max-instances-per-slo.", &UNTRACKED_LABEL_SETS),
        ("burnrate_fenced_writes_total", "Writes the database refused because the SLO's lease had passed to another replica.", &FENCED_WRITES),
        ("burnrate_leases_acquired_total", "SLO leases this replica took (new SLOs, handovers and takeovers from dead replicas).", &LEASES_ACQUIRED),
        ("burnrate_leases_released_total", "SLO leases this replica handed to another replica.", &LEASES_RELEASED),
        ("burnrate_fanin_reads_total", "Selector reads the SLOs' cycles asked for, one per SLO and selector.", &FANIN_READS),
        ("burnrate_fanin_union_queries_total", "Union queries sent to Prometheus, each serving several selector reads.", &FANIN_UNION_QUERIES),
        ("burnrate_fanin_reads_served_total", "Distinct selector reads served from a union query's answer.", &FANIN_READS_SERVED),
        ("burnrate_fanin_series_returned_total", "Series union queries returned.", &FANIN_SERIES_RETURNED),
        ("burnrate_fanin_series_used_total", "Series union queries returned that some SLO's selector selects.", &FANIN_SERIES_USED),
    ];
    for (name, help, counter) in counters {
        Family::header(out, name, "counter", help).sample(name, "", read(counter) as f64);
    }
    use crate::health::{RAW_READS_JSON, RAW_READS_REMOTE_CHUNKS, RAW_READS_REMOTE_SAMPLES};
    let name = "burnrate_prometheus_raw_reads_total";
    let mut f = Family::header(
        out,
        name,
        "counter",
        "Raw-sample reads sent to Prometheus, by the API that answered them.",
    );
    for (api, counter) in [
        ("json", &RAW_READS_JSON),
        ("remote_read_chunks", &RAW_READS_REMOTE_CHUNKS),
        ("remote_read_samples", &RAW_READS_REMOTE_SAMPLES),
    ] {
        f.sample(name, &format!("api=\"{api}\""), read(counter) as f64);
    }
    if let Some(sender) = alert_sender {
        render_delivery(out, &sender.stats());
    }

    // Per SLO, not per instance: an SLO's instances backfill together.
    let mut backfilling = std::collections::BTreeMap::new();
    for e in &view.entries {
        let s = &e.status;
        if s.data_state == DataState::Backfilling {
            backfilling
                .entry((s.service.as_str(), s.name.as_str()))
                .or_insert(s.backfill_progress.unwrap_or(0.0));
        }
    }
    let name = "burnrate_backfills_running";
    let mut f = Family::header(
        out,
        name,
        "gauge",
        "SLOs whose history is loading outside the evaluation cycle (running or waiting for a slot).",
    );
    f.sample(name, "", backfilling.len() as f64);
    let name = "burnrate_backfill_progress";
    let mut f = Family::header(
        out,
        name,
        "gauge",
        "Share of an SLO's history loaded so far (0 to 1), while it backfills.",
    );
    for ((service, slo), progress) in &backfilling {
        let labels = format!("service=\"{}\",slo=\"{}\"", escape(service), escape(slo));
        f.sample(name, &labels, *progress);
    }

    let name = "burnrate_ingestion_lag_seconds";
    let mut f = Family::header(
        out,
        name,
        "gauge",
        "How far behind now each SLO's complete event counts are.",
    );
    let now = chrono::Utc::now();
    let mut seen = std::collections::BTreeSet::new();
    for status in snapshot.instances.values() {
        if let Some(until) = status.ingested_until
            && seen.insert(status.slo.as_str())
        {
            let lag = (now - until).num_milliseconds() as f64 / 1000.0;
            let labels = format!(
                "service=\"{}\",slo=\"{}\"",
                escape(&status.service),
                escape(&status.name)
            );
            f.sample(name, &labels, lag.max(0.0));
        }
    }
}

/// Alert delivery to each Alertmanager: what waits, what failed, when it last worked.
fn render_delivery(out: &mut String, stats: &[DeliveryStats]) {
    type Read = fn(&DeliveryStats) -> Option<f64>;
    #[rustfmt::skip]
    let families: [(&str, &str, &str, Read); 5] = [
        ("burnrate_alertmanager_queue_length", "gauge", "Alerts waiting to be sent to an Alertmanager, queued or held for a retry.", |s| Some(s.pending as f64)),
        ("burnrate_alertmanager_alerts_sent_total", "counter", "Alerts an Alertmanager accepted.", |s| Some(s.sent as f64)),
        ("burnrate_alertmanager_failed_posts_total", "counter", "POSTs to an Alertmanager that failed (each is retried).", |s| Some(s.failed_attempts as f64)),
        ("burnrate_alertmanager_alerts_dropped_total", "counter", "Alerts dropped unsent because the queue was full.", |s| Some(s.dropped as f64)),
        ("burnrate_alertmanager_last_success_timestamp_seconds", "gauge", "When a POST to an Alertmanager last succeeded.", |s| s.last_success_ms.map(|ms| ms as f64 / 1000.0)),
    ];
    for (name, kind, help, read) in families {
        let mut f = Family::header(out, name, kind, help);
        for s in stats {
            if let Some(value) = read(s) {
                f.sample(name, &format!("alertmanager=\"{}\"", escape(&s.url)), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(
            escape("shop/by-route{route=\"/x\"}"),
            "shop/by-route{route=\\\"/x\\\"}"
        );
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            failure_kind("database query failed (load buckets): x"),
            "database"
        );
        assert_eq!(failure_kind("cannot connect to PostgreSQL: x"), "database");
        assert_eq!(
            failure_kind("query `sum(x)` against http://p failed: timeout"),
            "prometheus"
        );
        assert_eq!(failure_kind("boom"), "other");
    }
}

#[cfg(test)]
mod delivery_tests {
    use super::*;

    #[test]
    fn delivery_families_per_alertmanager() {
        let stats = [
            DeliveryStats {
                url: "http://am-1:9093".into(),
                sent: 12,
                failed_attempts: 3,
                dropped: 1,
                pending: 2,
                last_success_ms: Some(1_700_000_000_000),
            },
            DeliveryStats {
                url: "http://am-2:9093".into(),
                sent: 0,
                failed_attempts: 5,
                dropped: 0,
                pending: 7,
                last_success_ms: None,
            },
        ];
        let mut out = String::new();
        render_delivery(&mut out, &stats);
        for line in [
            "burnrate_alertmanager_queue_length{alertmanager=\"http://am-1:9093\"} 2",
            "burnrate_alertmanager_queue_length{alertmanager=\"http://am-2:9093\"} 7",
            "burnrate_alertmanager_alerts_sent_total{alertmanager=\"http://am-1:9093\"} 12",
            "burnrate_alertmanager_failed_posts_total{alertmanager=\"http://am-2:9093\"} 5",
            "burnrate_alertmanager_alerts_dropped_total{alertmanager=\"http://am-1:9093\"} 1",
            "burnrate_alertmanager_last_success_timestamp_seconds{alertmanager=\"http://am-1:9093\"} 1700000000",
        ] {
            assert!(out.lines().any(|l| l == line), "missing `{line}` in\n{out}");
        }
        assert!(
            !out.contains("last_success_timestamp_seconds{alertmanager=\"http://am-2:9093\"}"),
            "no success yet, no sample"
        );
    }
}

//! `burnrate rules`: a Prometheus rule file implementing the catalog's SLIs
//! and alert tiers inside Prometheus, for teams that alert from Prometheus.
//!
//! Per SLO, one rule group with:
//! - `slo:sli_error:ratio_rate<w>` for every alert window `w`: the error
//!   ratio over `w`, events summed before dividing (`sum(increase(bad[w])) /
//!   sum(increase(total[w]))`, by the SLO's `group_by` labels);
//! - `slo:sli_events:total<w>` for the long window of tiers with `min_events`;
//! - one alerting rule per tier: both windows' burn rates above the tier's
//!   factor (`ratio / (1 - objective) > factor`), and at least `min_events`
//!   events in the long window, with the tier's `for`.
//!
//! and, for rolling windows, a second group (evaluated less often, since it
//! reads the whole window) with `slo:sli_error:ratio_rate<window>`,
//! `slo:error_budget:remaining` and the budget-exhausted alert. A calendar
//! window (since the start of the month, say) cannot be written as a PromQL
//! range, so calendar SLOs get no budget rules; the file says so.
//!
//! An SLO with an absent alert gets a third group with it ([`absent`]).
//!
//! Alerts carry the same labels as those `burnrate serve` sends to
//! Alertmanager (see [`crate::alerting`]), so one set of routes serves both.
//! The differences that remain are Prometheus': `increase()` extrapolates
//! at window edges where burnrate counts exact events, and a burn rate equal
//! to the factor to within rounding is "not above" for burnrate.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::alerting::{alert_rule_labels, alertname, format_factor, slo_series_labels};
use crate::catalog::promql::{MatchKind, quote};
use crate::catalog::{Catalog, Counts, Indicator, Slo, SloWindow};
use crate::duration::Duration;
use crate::evaluation::AlertRef;
use crate::ingest::le_regex;

mod absent;

/// Options of the generated file.
#[derive(Debug, Clone)]
pub struct RuleOptions {
    /// burnrate's external URL, for `dashboard_url` annotations.
    pub external_url: Option<String>,
    /// Evaluation interval of the budget groups (they read the whole SLO window).
    pub budget_interval: Duration,
    /// Catalog paths, named in the header.
    pub sources: Vec<String>,
    /// Silence after which an instance is absent (`burnrate serve --absent-after`).
    pub absent_after: Duration,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            external_url: None,
            budget_interval: Duration::from_mins(5),
            sources: Vec::new(),
            absent_after: Duration::from_mins(30),
        }
    }
}

pub const ERROR_RATIO: &str = "slo:sli_error:ratio_rate";
pub const TOTAL_EVENTS: &str = "slo:sli_events:total";
pub const BUDGET_REMAINING: &str = "slo:error_budget:remaining";

/// A number as PromQL reads it, rounded to 12 significant digits so that
/// derived factors print as `14.4` rather than `14.399999999999999` (burnrate's
/// own comparison allows the same relative slack, 1e-12).
pub fn number(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let digits = 11 - value.abs().log10().floor() as i32;
    let text = if digits > 0 {
        format!("{:.*}", digits as usize, value)
    } else {
        format!("{value:.0}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    // Round-trip through f64 for the shortest spelling.
    text.parse::<f64>().map_or(text, |v| format!("{v}"))
}

fn by_clause(slo: &Slo) -> String {
    if slo.group_by.is_empty() {
        String::new()
    } else {
        format!(" by ({})", slo.group_by.join(", "))
    }
}

/// The events an indicator counts over `window`: (counted, total, counted are bad).
fn event_exprs(slo: &Slo, window: Duration) -> (String, String, bool) {
    let by = by_clause(slo);
    let w = window.to_string();
    let sum = |inner: String| format!("sum{by} ({inner})");
    match &slo.indicator {
        Indicator::Ratio {
            counts,
            selector,
            total,
        } => (
            sum(format!("increase({selector}[{w}])")),
            sum(format!("increase({total}[{w}])")),
            *counts == Counts::Bad,
        ),
        Indicator::Latency {
            bucket, count, le, ..
        } => {
            let bucket = bucket.with_matcher("le", MatchKind::Regex, &le_regex(le));
            (
                sum(format!("increase({bucket}[{w}])")),
                sum(format!("increase({count}[{w}])")),
                false,
            )
        }
        Indicator::BoolGauge { selector } => (
            sum(format!("sum_over_time({selector}[{w}])")),
            sum(format!("count_over_time({selector}[{w}])")),
            false,
        ),
        Indicator::Events {
            counts,
            query,
            total,
        } => {
            let scaled = |q: &crate::catalog::promql::WindowedQuery| {
                let inner = sum(q.with_window(&w).trim().to_string());
                if q.per_second() {
                    // A per-second rate times the window's seconds is the events in it.
                    format!("{inner} * {}", window.as_millis() / 1000)
                } else {
                    inner
                }
            };
            (scaled(query), scaled(total), *counts == Counts::Bad)
        }
        // The window's ratio averaged over its series (min_events counts series).
        Indicator::ErrorRatio { query } => {
            let q = query.with_window(&w).trim().to_string();
            (sum(q.clone()), format!("count{by} ({q})"), true)
        }
    }
}

/// The error ratio over `window`, zero (not absent) when nothing failed.
fn error_ratio_expr(slo: &Slo, window: Duration) -> String {
    let (counted, total, bad) = event_exprs(slo, window);
    let ratio = format!("(\n  {counted}\n  or\n  0 * {total}\n)\n/\n{total}");
    if bad {
        ratio
    } else {
        format!("1 - (\n{}\n)", indent(&ratio, 2))
    }
}

fn total_expr(slo: &Slo, window: Duration) -> String {
    event_exprs(slo, window).1
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// The selector of an SLO's recorded series: its static labels.
fn series_selector(metric: &str, slo: &Slo) -> String {
    let matchers: Vec<String> = slo_series_labels(slo)
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    format!("{metric}{{{}}}", matchers.join(","))
}

/// A Go template for the instance name: `checkout/availability{route="{{ $labels.route }}"}`.
fn instance_template(slo: &Slo) -> String {
    let mut out = slo.id.to_string();
    if !slo.group_by.is_empty() {
        let parts: Vec<String> = slo
            .group_by
            .iter()
            .map(|g| format!("{g}=\"{{{{ $labels.{g} }}}}\""))
            .collect();
        out.push_str(&format!("{{{}}}", parts.join(",")));
    }
    out
}

/// The SLO's description and a space, to start an alert's description with.
fn description_prefix(slo: &Slo) -> String {
    slo.description
        .as_deref()
        .map(|d| format!("{} ", d.trim_end()))
        .unwrap_or_default()
}

/// A template printing the budget left, from the budget recording, for rolling windows.
fn budget_template(slo: &Slo) -> Option<String> {
    if !matches!(slo.window, SloWindow::Rolling(_)) {
        return None;
    }
    let mut format = String::from(BUDGET_REMAINING);
    let mut args = String::new();
    let mut matchers = Vec::new();
    for (k, v) in slo_series_labels(slo) {
        matchers.push(format!("{k}={}", quote(&v)));
    }
    for g in &slo.group_by {
        matchers.push(format!("{g}=%q"));
        let _ = write!(args, " $labels.{g}");
    }
    let _ = write!(format, "{{{}}}", matchers.join(","));
    // Inside a Go string literal: escape backslashes and quotes.
    let literal = format.replace('\\', "\\\\").replace('"', "\\\"");
    Some(format!(
        "{{{{ with query (printf \"{literal}\"{args}) }}}}{{{{ with first . }}}}{{{{ value . | humanizePercentage }}}}{{{{ end }}}}{{{{ else }}}}unknown{{{{ end }}}}"
    ))
}

struct Writer {
    out: String,
}

impl Writer {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn comment(&mut self, indent: usize, text: &str) {
        for line in text.lines() {
            if line.is_empty() {
                self.line(indent, "#");
            } else {
                self.line(indent, &format!("# {line}"));
            }
        }
    }

    fn expr(&mut self, indent: usize, expr: &str) {
        self.line(indent, "expr: |-");
        for line in expr.trim().lines() {
            let line = line.trim_end();
            if line.is_empty() {
                self.out.push('\n');
            } else {
                self.line(indent + 2, line);
            }
        }
    }

    fn map(&mut self, indent: usize, key: &str, map: &BTreeMap<String, String>) {
        if map.is_empty() {
            return;
        }
        self.line(indent, &format!("{key}:"));
        for (k, v) in map {
            self.line(indent + 2, &format!("{k}: {}", q(v)));
        }
    }

    fn record(&mut self, name: &str, expr: &str, labels: &BTreeMap<String, String>) {
        self.line(6, &format!("- record: {name}"));
        self.expr(8, expr);
        self.map(8, "labels", labels);
    }
}

/// The rule file for a whole catalog.
pub fn generate(catalog: &Catalog, options: &RuleOptions) -> String {
    let mut w = Writer { out: String::new() };
    w.comment(
        0,
        &format!(
            "Generated by `burnrate rules`{}. Do not edit: change the catalog and generate again.

Recording rules per SLO: {ERROR_RATIO}<window> (error ratio: events summed over the
window, then divided), {TOTAL_EVENTS}<window> (all events, for the tiers'
min_events) and, for rolling windows, {BUDGET_REMAINING} (1 = untouched,
negative = overspent). Alerts: every tier fires when both its long and short
window burn faster than its factor, as `burnrate serve` evaluates them, with the
labels it sends to Alertmanager; an absent alert fires when the series had
samples within the SLO window but none for {}.",
            if options.sources.is_empty() {
                String::new()
            } else {
                format!(" from {}", options.sources.join(", "))
            },
            options.absent_after,
        ),
    );
    // Range sums cannot judge each time slice: timeslice SLOs are left to serve.
    let (sliced, by_events): (Vec<&Slo>, Vec<&Slo>) = catalog
        .slos
        .iter()
        .map(|s| &**s)
        .partition(|s| s.budgeting.timeslices().is_some());
    for slo in &sliced {
        w.comment(
            0,
            &format!(
                "No rules for {}: it budgets by time slices, judging every slice by its own
events, which range queries over a window cannot do. `burnrate serve` evaluates it.",
                slo.id
            ),
        );
    }
    if by_events.is_empty() {
        w.line(0, "groups: []");
        return w.out;
    }
    w.line(0, "groups:");
    for slo in by_events {
        slo_groups(&mut w, slo, options);
    }
    w.out
}

fn slo_groups(w: &mut Writer, slo: &Slo, options: &RuleOptions) {
    let budget = slo.objective.budget();
    let series_labels = slo_series_labels(slo);
    w.out.push('\n');
    w.comment(
        2,
        &format!(
            "{}: {}% over {}, {} indicator{} ({}:{}).",
            slo.id,
            slo.objective,
            slo.window,
            slo.indicator.kind(),
            if slo.group_by.is_empty() {
                String::new()
            } else {
                format!(", one instance per {}", slo.group_by.join(", "))
            },
            slo.source.file.display(),
            slo.source.line,
        ),
    );
    if matches!(slo.indicator, Indicator::BoolGauge { .. }) {
        w.comment(
            2,
            "Each sample of the gauge is one event, good when 1 (sum_over_time / count_over_time).",
        );
    }
    w.line(
        2,
        &format!("- name: {}", q(&format!("burnrate:{}", slo.id))),
    );
    w.line(4, "rules:");

    let mut windows: Vec<Duration> = Vec::new();
    let mut total_windows: Vec<Duration> = Vec::new();
    for tier in &slo.alerting.tiers {
        windows.push(tier.long_window);
        windows.push(tier.short_window);
        if tier.min_events > 0 {
            total_windows.push(tier.long_window);
        }
    }
    windows.sort();
    windows.dedup();
    total_windows.sort();
    total_windows.dedup();
    if windows.is_empty() {
        w.line(6, "[]");
    }
    for window in &windows {
        w.record(
            &format!("{ERROR_RATIO}{window}"),
            &error_ratio_expr(slo, *window),
            &series_labels,
        );
    }
    for window in &total_windows {
        w.record(
            &format!("{TOTAL_EVENTS}{window}"),
            &total_expr(slo, *window),
            &series_labels,
        );
    }
    let instance = instance_template(slo);
    let description = description_prefix(slo);
    let budget_left = budget_template(slo);
    for tier in &slo.alerting.tiers {
        let alert = AlertRef::Tier(tier);
        let factor = number(tier.burn_rate);
        let budget_text = number(budget);
        let mut expr = format!(
            "(\n  {} / {budget_text} > {factor}\n  and\n  {} / {budget_text} > {factor}\n)",
            series_selector(&format!("{ERROR_RATIO}{}", tier.long_window), slo),
            series_selector(&format!("{ERROR_RATIO}{}", tier.short_window), slo),
        );
        if tier.min_events > 0 {
            let _ = write!(
                expr,
                "\nand\n{} >= {}",
                series_selector(&format!("{TOTAL_EVENTS}{}", tier.long_window), slo),
                tier.min_events
            );
        }
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "summary".to_string(),
            format!(
                "{instance}: error budget burning {{{{ printf \"%.2f\" $value }}}}x as fast as it may ({} tier)",
                tier.name
            ),
        );
        annotations.insert(
            "description".to_string(),
            format!(
                "{description}Burn rate {{{{ printf \"%.2f\" $value }}}}x over {} and above {} over {} too ({:.1}% of the {} error budget in {}). Error budget left: {}.",
                tier.long_window,
                format_factor(tier.burn_rate),
                tier.short_window,
                tier.budget_consumed * 100.0,
                slo.window,
                tier.long_window,
                budget_left.as_deref().unwrap_or("not computed by these rules (calendar window)"),
            ),
        );
        catalog_annotations(&mut annotations, slo, alert, options);
        w.comment(
            6,
            &format!(
                "{}: {} over {} and {}, {:.1}% of the budget{}{}.",
                tier.name,
                format_factor(tier.burn_rate),
                tier.long_window,
                tier.short_window,
                tier.budget_consumed * 100.0,
                if tier.min_events > 0 {
                    format!(", at least {} events", tier.min_events)
                } else {
                    String::new()
                },
                if tier.for_duration.is_zero() {
                    String::new()
                } else {
                    format!(", for {}", tier.for_duration)
                },
            ),
        );
        w.line(6, &format!("- alert: {}", q(&alertname(slo, alert))));
        w.expr(8, &expr);
        if !tier.for_duration.is_zero() {
            w.line(8, &format!("for: {}", tier.for_duration));
        }
        w.map(8, "labels", &alert_rule_labels(slo, alert));
        w.map(8, "annotations", &annotations);
    }

    match slo.window {
        SloWindow::Rolling(length) => {
            w.line(
                2,
                &format!("- name: {}", q(&format!("burnrate:{}:budget", slo.id))),
            );
            w.line(4, &format!("interval: {}", options.budget_interval));
            w.line(4, "rules:");
            w.record(
                &format!("{ERROR_RATIO}{length}"),
                &error_ratio_expr(slo, length),
                &series_labels,
            );
            w.record(
                BUDGET_REMAINING,
                &format!(
                    "1 - {} / {}",
                    series_selector(&format!("{ERROR_RATIO}{length}"), slo),
                    number(budget)
                ),
                &series_labels,
            );
            if let Some(exhausted) = &slo.alerting.budget_exhausted {
                let alert = AlertRef::BudgetExhausted(exhausted);
                let mut annotations = BTreeMap::new();
                annotations.insert(
                    "summary".to_string(),
                    format!(
                        "{instance}: error budget exhausted ({{{{ $value | humanizePercentage }}}} left)"
                    ),
                );
                annotations.insert(
                    "description".to_string(),
                    format!(
                        "{description}Error budget left over the {}: {{{{ $value | humanizePercentage }}}} (alert threshold {:.1}%).",
                        slo.window,
                        exhausted.threshold * 100.0
                    ),
                );
                catalog_annotations(&mut annotations, slo, alert, options);
                w.line(6, &format!("- alert: {}", q(&alertname(slo, alert))));
                w.expr(
                    8,
                    &format!(
                        "{} < {}",
                        series_selector(BUDGET_REMAINING, slo),
                        number(exhausted.threshold)
                    ),
                );
                w.map(8, "labels", &alert_rule_labels(slo, alert));
                w.map(8, "annotations", &annotations);
            }
        }
        SloWindow::Calendar { .. } => {
            w.comment(
                2,
                &format!(
                    "No budget rules for {}: its window, {}, starts at a calendar
boundary, and the budget since then cannot be expressed exactly in PromQL (range
selectors have fixed lengths; a {} range would also count events of the
previous period). The alert tiers above use fixed windows and are exact.
`burnrate serve` computes the calendar budget{}.",
                    slo.id,
                    slo.window,
                    slo.window.nominal_length(),
                    if slo.alerting.budget_exhausted.is_some() {
                        " and evaluates its budget-exhausted alert"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    if let Some(alert) = &slo.alerting.absent {
        absent::absent_group(w, slo, alert, options);
    }
}

/// The catalog's own annotations over burnrate's (policy, then tier), and a dashboard link.
fn catalog_annotations(
    annotations: &mut BTreeMap<String, String>,
    slo: &Slo,
    alert: AlertRef<'_>,
    options: &RuleOptions,
) {
    annotations.extend(slo.alerting.annotations.clone());
    if let AlertRef::Tier(t) = alert {
        annotations.extend(t.annotations.clone());
    }
    if !annotations.contains_key("dashboard_url")
        && let Some(base) = &options.external_url
    {
        let base = base.trim_end_matches('/');
        let mut url = format!(
            "{base}/api/v1/slos/{}",
            crate::alerting::encode_path(slo.id.as_str())
        );
        if !slo.group_by.is_empty() {
            // The instance id continues with its group labels, percent-encoded.
            let parts: Vec<String> = slo
                .group_by
                .iter()
                .map(|g| format!("{g}%3D%22{{{{ $labels.{g} | urlquery }}}}%22"))
                .collect();
            url.push_str(&format!("%7B{}%7D", parts.join("%2C")));
        }
        annotations.insert("dashboard_url".to_string(), url);
    }
}

#[cfg(test)]
mod tests;

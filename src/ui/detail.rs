//! One SLO instance (`/slos/{id}`): its budget and how it burned down over
//! the SLO window, burn rates against each tier's threshold, the tiers and
//! their states, the alert history, and the definition it comes from.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::chart::{Chart, Line, Rule, Scale};
use super::format;
use super::layout::{alert_state, budget_bar, data_state, time};
use crate::api::alerts::AlertTransition;
use crate::api::definition::SloDefinition;
use crate::api::view::SloStatus;
use crate::store::history::HistoryRow;

/// The spans the charts offer besides the SLO window: `?range=` values and labels.
pub const RANGES: [(&str, &str); 3] = [("7d", "7 days"), ("1d", "1 day"), ("6h", "6 hours")];

/// Everything the page shows, gathered by the handler.
pub struct Detail<'a> {
    pub status: &'a SloStatus,
    pub definition: Option<&'a SloDefinition>,
    /// Where the current SLO window starts and ends (the end of a calendar
    /// period; now for a rolling window).
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// A shorter span the charts show instead of the window (a key of
    /// [`RANGES`]), and where it starts.
    pub range: Option<(&'static str, DateTime<Utc>)>,
    pub now: DateTime<Utc>,
    /// Stored evaluations over the window, oldest first.
    pub history: &'a [HistoryRow],
    /// The store could not be read: the charts are empty for that reason.
    pub history_unavailable: bool,
    pub step_ms: i64,
    /// Transitions of this instance's alerts, newest first; none when the
    /// database could not be read.
    pub transitions: Option<&'a [AlertTransition]>,
    /// Prometheus as browsers reach it, for graph links.
    pub prometheus: Option<&'a str>,
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

impl Detail<'_> {
    /// The charts' time span: the SLO window, or the range asked for up to now.
    fn chart_from(&self) -> i64 {
        ms(self.range.map_or(self.window_start, |r| r.1))
    }

    /// Points further apart than this are not joined: three steps, or three
    /// times the usual spacing of stored evaluations when that is wider.
    fn max_gap_ms(&self) -> i64 {
        let spacing = super::chart::typical_spacing(self.history.iter().map(|r| ms(r.at)));
        3 * self.step_ms.max(spacing)
    }

    fn chart_to(&self) -> i64 {
        ms(if self.range.is_some() {
            self.now
        } else {
            self.window_end
        })
    }
}

fn range_nav(d: &Detail<'_>) -> Markup {
    let current = d.range.map(|r| r.0);
    html! {
        nav.range aria-label="Time span of the charts" {
            ul {
                li { a href="?" aria-current=[current.is_none().then_some("true")] { "SLO window" } }
                @for (key, label) in RANGES {
                    li { a href=(format!("?range={key}")) aria-current=[(current == Some(key)).then_some("true")] { (label) } }
                }
            }
        }
    }
}

/// The budget burn-down over the window, with a steady burn for calendar windows.
pub fn budget_chart(d: &Detail<'_>) -> Chart<'static> {
    let points: Vec<(i64, Option<f64>)> = d
        .history
        .iter()
        .map(|r| (ms(r.at), r.budget_remaining))
        .collect();
    let values: Vec<f64> = points.iter().filter_map(|p| p.1).collect();
    let (first, last) = (values.first().copied(), values.last().copied());
    let lowest = values.iter().copied().reduce(f64::min);
    let mut lines = vec![Line {
        label: "budget remaining".into(),
        style: 0,
        points,
    }];
    let calendar = d.window_end > d.now;
    if calendar && d.range.is_none() {
        lines.push(Line {
            label: "spent evenly over the period".into(),
            style: 5,
            points: vec![
                (ms(d.window_start), Some(1.0)),
                (ms(d.window_end), Some(0.0)),
            ],
        });
    }
    let mut rules = vec![Rule {
        label: "budget spent (0%)".into(),
        style: 1,
        value: 0.0,
    }];
    if let Some(min) = d.definition.map(|def| def.gate.min_budget_remaining)
        && min != 0.0
    {
        rules.push(Rule {
            label: format!("release gate minimum ({})", format::percent(min)),
            style: 2,
            value: min,
        });
    }
    let description = match (first, last, lowest) {
        (Some(f), Some(l), Some(low)) => format!(
            "Budget remaining from {} at the start of the chart to {} now; lowest {}.",
            format::percent(f),
            format::percent(l),
            format::percent(low)
        ),
        _ => "No stored evaluation in this window yet.".into(),
    };
    Chart {
        id: "chart-budget",
        title: "Error budget remaining over the SLO window",
        description,
        from_ms: d.chart_from(),
        to_ms: d.chart_to(),
        scale: Scale::linear_over(
            values.into_iter().chain(rules.iter().map(|r| r.value)),
            [0.0, 1.0],
        ),
        lines,
        rules,
        max_gap_ms: d.max_gap_ms(),
        left_label: format::percent,
        right_axis: None,
    }
}

/// Burn rate over each tier's long window, with each tier's threshold; the
/// right axis gives the same lines as error ratios.
pub fn burn_chart(d: &Detail<'_>) -> Chart<'static> {
    let mut windows: Vec<&str> = Vec::new();
    for a in &d.status.alerts {
        if !windows.contains(&a.long_window.as_str()) {
            windows.push(&a.long_window);
        }
    }
    if windows.is_empty() {
        windows.push("1h");
    }
    let lines: Vec<Line> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| Line {
            label: format!("{w} burn rate"),
            style: i,
            points: d
                .history
                .iter()
                .map(|r| (ms(r.at), r.burn_rates.get(*w).copied().flatten()))
                .collect(),
        })
        .collect();
    let budget = 1.0 - d.status.objective;
    let rules: Vec<Rule> = d
        .status
        .alerts
        .iter()
        .filter_map(|a| {
            let t = a.burn_rate_threshold?;
            let style = windows
                .iter()
                .position(|w| *w == a.long_window)
                .unwrap_or(5);
            Some(Rule {
                label: format!(
                    "{} fires above {} ({} errors)",
                    a.tier,
                    format::burn(t),
                    format::percent_with(t * budget, 3)
                ),
                style,
                value: t,
            })
        })
        .collect();
    let highest = lines
        .iter()
        .filter_map(|l| {
            let max = l.points.iter().filter_map(|p| p.1).reduce(f64::max)?;
            Some((max, l.label.as_str()))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let description = match highest {
        Some((max, label)) => format!(
            "Burn rates over the window; the highest was {} ({label}). Thresholds: {}.",
            format::burn(max),
            rules
                .iter()
                .map(|r| r.label.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        None => "No burn rate stored in this window yet.".into(),
    };
    let scale = Scale::log_over(
        lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| p.1))
            .chain(rules.iter().map(|r| r.value)),
    );
    Chart {
        id: "chart-burn",
        title: "Burn rate (left) and error ratio (right) over time",
        description,
        from_ms: d.chart_from(),
        to_ms: d.chart_to(),
        scale,
        lines,
        rules,
        max_gap_ms: d.max_gap_ms(),
        left_label: format::burn,
        right_axis: (budget > 0.0).then_some((budget, |v: f64| format::percent_with(v, 3))),
    }
}

fn exhaustion(s: &SloStatus, now: DateTime<Utc>) -> Markup {
    let b = &s.error_budget;
    html! {
        @if b.remaining.is_some_and(|r| r <= 0.0) {
            strong.bad { "The budget is spent." }
        } @else if let Some(at) = b.exhaustion_at {
            "At the current 1h burn rate the budget runs out " (time(at)) " (" (format::relative(at, now)) ")."
        } @else if b.remaining.is_some() {
            "It does not run out at the current 1h burn rate."
        } @else {
            span.muted { "No figure without data." }
        }
    }
}

fn facts(d: &Detail<'_>) -> Markup {
    let s = d.status;
    let b = &s.error_budget;
    let unit = format::counted(&s.budgeting);
    html! {
        div.cards {
            section.card aria-labelledby="h-budget" {
                h2 #h-budget { "Error budget" }
                p { (budget_bar(b.remaining)) }
                p { (exhaustion(s, d.now)) }
                dl.facts {
                    dt { "SLI" } dd { (format::or_dash(s.sli, |v| format::percent_with(v, 4))) " of " (format::count(s.events.total)) " " (unit) }
                    dt { "Bad " (unit) " left" } dd { (format::or_dash(b.remaining_events, format::count)) " of " (format::or_dash(b.total_events, format::count)) }
                    dt { "Outage minutes left" } dd { (format::or_dash(b.remaining_minutes, |m| format!("{m:.0}"))) " of " (format::or_dash(b.total_minutes, |m| format!("{m:.0}"))) }
                    @if let Some(c) = &s.corrections {
                        dt { "Corrections" } dd {
                            "excluded " (format::count(c.excluded_events.total)) " " (unit) " (" (format::count(c.excluded_events.total - c.excluded_events.good)) " bad); without them "
                            (format::or_dash(c.budget_remaining_without_corrections, format::percent)) " of the budget would be left"
                        }
                    }
                }
            }
            section.card aria-labelledby="h-slo" {
                h2 #h-slo { "Objective" }
                dl.facts {
                    dt { "Objective" } dd { (format::objective(s.objective)) }
                    dt { "Window" } dd { (s.window) ", since " (time(d.window_start)) }
                    dt { "Counts" } dd { (format::budgeting(&s.budgeting)) @if s.time_weighted { ", time-weighted: each minute one event, as bad as its error ratio" } }
                    dt { "Data" } dd { (data_state(s.data_state)) @if let Some(p) = s.backfill_progress { " " (format::percent(p)) " loaded" } }
                    dt { "Alerts" } dd { (alert_state(s.alert_state)) }
                    dt { "Evaluated" } dd { @match s.evaluated_at { Some(at) => (time(at)), None => "not yet" } }
                    @if let Some(e) = &s.error { dt { "Last error" } dd.error { (e) } }
                }
            }
        }
    }
}

fn tiers_table(s: &SloStatus) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.sr { "Alert tiers" }
                thead { tr {
                    th scope="col" { "Alert" } th scope="col" { "Severity" } th scope="col" { "Windows" }
                    th.num scope="col" { "Fires above" } th.num scope="col" { "Long" } th.num scope="col" { "Short" }
                    th scope="col" { "State" } th scope="col" { "Since" }
                } }
                tbody {
                    @for a in &s.alerts {
                        tr {
                            th scope="row" { (a.tier) }
                            td { (a.severity.as_str()) }
                            td { (a.long_window) " and " (a.short_window) }
                            td.num { (format::or_dash(a.burn_rate_threshold, format::burn)) }
                            td.num { (format::or_dash(a.long_burn_rate, format::burn)) }
                            td.num { (format::or_dash(a.short_burn_rate, format::burn)) }
                            td { (alert_state(a.state)) @if let Some(why) = &a.suppressed { br; span.muted { (why) } } }
                            td { @if let Some(at) = a.since { (time(at)) } }
                        }
                    }
                    @if let Some(e) = &s.budget_exhausted {
                        tr {
                            th scope="row" { "budget_exhausted" }
                            td { (e.severity.as_str()) }
                            td { "SLO window" }
                            td.num { "below " (format::or_dash(e.threshold, format::percent)) " left" }
                            td.num colspan="2" { (format::or_dash(s.error_budget.remaining, format::percent)) " left" }
                            td { (alert_state(e.state)) }
                            td {}
                        }
                    }
                    @if let Some(a) = &s.absent {
                        tr {
                            th scope="row" { "absent" }
                            td { (a.severity.as_str()) }
                            td { "for " (a.for_duration) }
                            td.num colspan="3" { "while no samples arrive" }
                            td { (alert_state(a.state)) }
                            td { @if let Some(at) = a.since { (time(at)) } }
                        }
                    }
                }
            }
        }
    }
}

/// The alert transitions table, shared with the alerts page.
pub fn transitions_table(items: &[AlertTransition], with_instance: bool) -> Markup {
    html! {
        @if items.is_empty() {
            p.muted { "No alert has changed state yet." }
        } @else {
            div.table-wrap {
                table.transitions {
                    caption.sr { "Alert transitions, newest first" }
                    thead { tr {
                        th scope="col" { "When" }
                        @if with_instance { th scope="col" { "Instance" } }
                        th scope="col" { "Alert" } th scope="col" { "Became" } th scope="col" { "Severity" }
                        th.num scope="col" { "Long" } th.num scope="col" { "Short" } th.num scope="col" { "Budget left" }
                    } }
                    tbody {
                        @for t in items {
                            tr {
                                td { (time(t.at)) }
                                @if with_instance { td { a href=(super::overview::detail_href(&t.instance)) { (t.instance) } } }
                                td { (t.alert) }
                                td { (t.transition.as_str()) }
                                td { (t.severity) }
                                td.num { (format::or_dash(t.long_burn_rate, format::burn)) }
                                td.num { (format::or_dash(t.short_burn_rate, format::burn)) }
                                td.num { (format::or_dash(t.budget_remaining, format::percent)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A link that opens `expr` in Prometheus' graph page over the last day.
pub fn graph_link(prometheus: &str, expr: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("g0.expr", expr)
        .append_pair("g0.tab", "0")
        .append_pair("g0.range_input", "1d")
        .finish();
    format!("{}/graph?{query}", prometheus.trim_end_matches('/'))
}

fn definition(d: &Detail<'_>) -> Markup {
    let Some(def) = d.definition else {
        return html! { p.muted { "The running catalog no longer defines this SLO." } };
    };
    let gate = &def.gate;
    html! {
        dl.facts {
            dt { "Description" } dd { (def.description.as_deref().unwrap_or("—")) }
            dt { "Indicator" } dd { (def.indicator) @if !def.group_by.is_empty() { ", one instance per " (def.group_by.join(", ")) } }
            @for q in &def.queries {
                dt { (q.role) " query" }
                dd {
                    code { (q.query) }
                    @if let Some(prom) = d.prometheus {
                        " " a.prom href=(graph_link(prom, &q.graph)) { "Open in Prometheus" span.sr { ": " (q.graph) } }
                    }
                }
            }
            dt { "Release gate" }
            dd {
                "Denies releases while less than " (format::percent(gate.min_budget_remaining)) " of the budget is left"
                @if !gate.deny_when_firing.is_empty() { " or a " (gate.deny_when_firing.join(" or ")) " alert fires" }
                "; with no data: " (gate.on_no_data) "."
            }
            dt { "Labels" }
            dd { @for (k, v) in &d.status.labels { code { (k) "=" (v) } " " } }
            dt { "Defined in" } dd { code.source { (def.source.file) ":" (def.source.line) } }
        }
    }
}

/// The page's content.
pub fn render(d: &Detail<'_>) -> Markup {
    let s = d.status;
    let budget = budget_chart(d);
    let burn = burn_chart(d);
    html! {
        p.muted { a href=(format!("/?service={}", s.service)) { (s.service) } " / " (s.name) }
        h1 { (s.id) }
        (facts(d))
        h2 { "Budget burn-down" }
        (range_nav(d))
        @if d.history_unavailable {
            p.error { "The stored history cannot be read: the database is unavailable." }
        }
        p.muted { "From stored evaluations, at most one point per " (format::span(d.step_ms / 1000)) "." }
        (budget.render())
        h2 { "Burn rate and error ratio" }
        (burn.render())
        h2 { "Alert tiers" }
        (tiers_table(s))
        h2 { "Alert history" }
        @match d.transitions {
            Some(items) => (transitions_table(items, false)),
            None => p.error { "The alert history cannot be read: the database is unavailable." },
        }
        h2 { "Definition" }
        (definition(d))
    }
}

//! A report as Markdown (for a review document) or CSV (one row per
//! instance, for spreadsheets). JSON is the [`Report`] serialised.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{InstanceReport, Report};

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A ratio as a percentage with enough digits to tell 99.9 from 99.95.
pub fn percent(ratio: f64) -> String {
    let p = format!("{:.4}", ratio * 100.0);
    let p = p.trim_end_matches('0').trim_end_matches('.');
    format!("{p}%")
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "–".to_string())
}

fn count(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Markdown: a summary table, then a section per instance.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# SLO report {} to {}\n\nPeriod `[{}, {})`, generated {}. Figures come from the stored per-minute counts, corrections left out.\n",
        day(report.from),
        day(report.to),
        report.from.to_rfc3339(),
        report.to.to_rfc3339(),
        minute(report.generated_at)
    );
    let summary = report.instances.iter().map(|i| {
        vec![
            format!("`{}`", i.id),
            percent(i.objective),
            or_dash(i.sli.map(percent)),
            match i.objective_met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            }
            .to_string(),
            or_dash(i.budget_spent.map(percent)),
            i.alert_firings.len().to_string(),
        ]
    });
    let header = ["SLO", "objective", "SLI", "met", "budget spent", "firings"];
    table(&mut out, None, &header, summary);
    for i in &report.instances {
        instance_section(&mut out, i);
    }
    out.push_str("\n## Release gate denials\n\n");
    if report.gate_denials.is_empty() {
        out.push_str("None recorded.\n");
    } else {
        let denials = report.gate_denials.iter().map(|d| {
            vec![
                minute(d.decided_at),
                d.services.join(", "),
                d.actor.clone().unwrap_or_else(|| "–".to_string()),
                d.reasons.join("; "),
                d.override_reason
                    .clone()
                    .unwrap_or_else(|| "no".to_string()),
            ]
        });
        let header = ["at", "services", "by", "reasons", "overridden"];
        table(&mut out, None, &header, denials);
    }
    out
}

fn instance_section(out: &mut String, i: &InstanceReport) {
    let unit = if i.budgeting == "timeslices" {
        "slices"
    } else {
        "events"
    };
    let _ = writeln!(
        out,
        "\n## `{}`\n\nObjective {}, SLI {} over {} {unit} ({} good), budget spent {}.\n",
        i.id,
        percent(i.objective),
        or_dash(i.sli.map(percent)),
        count(i.total),
        count(i.good),
        or_dash(i.budget_spent.map(percent)),
    );
    let weeks = i.weeks.iter().map(|w| {
        vec![
            day(w.from),
            count(w.total),
            count((w.total - w.good).max(0.0)),
            or_dash(w.budget_spent.map(percent)),
        ]
    });
    table(
        out,
        None,
        &["week from", "total", "bad", "budget spent"],
        weeks,
    );
    let hours = i.worst_hours.iter().map(|h| {
        vec![
            minute(h.hour),
            count(h.bad),
            count(h.total),
            percent(h.error_ratio),
        ]
    });
    table(
        out,
        Some("Worst hours"),
        &["hour", "bad", "total", "error ratio"],
        hours,
    );
    let firings = i.alert_firings.iter().map(|f| {
        vec![
            f.alert.clone(),
            f.severity.clone(),
            minute(f.started_at),
            f.resolved_at.map_or("still firing".to_string(), minute),
            count(f.minutes.round()),
        ]
    });
    let header = ["alert", "severity", "started", "resolved", "minutes"];
    table(out, Some("Alert firings"), &header, firings);
    let corrections = i.corrections.iter().map(|c| {
        vec![
            c.reason.clone(),
            c.source.clone(),
            c.occurrences.to_string(),
            count(c.minutes),
            count(c.excluded_total),
            count((c.excluded_total - c.excluded_good).max(0.0)),
        ]
    });
    let header = [
        "reason",
        "source",
        "occurrences",
        "minutes",
        "excluded total",
        "excluded bad",
    ];
    table(out, Some("Corrections"), &header, corrections);
}

/// A Markdown table, `|` in cells escaped; with a title, nothing at all
/// when there are no rows.
fn table(
    out: &mut String,
    title: Option<&str>,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) {
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.is_empty() && title.is_some() {
        return;
    }
    if let Some(title) = title {
        let _ = write!(out, "\n{title}:\n\n");
    }
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// CSV: one row per instance.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "id,slo,service,budgeting,objective,sli,objective_met,good,total,budget_spent,alert_firings,firing_minutes,corrections\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for i in &report.instances {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&i.id),
            csv_field(&i.slo),
            csv_field(&i.service),
            i.budgeting,
            i.objective,
            opt(i.sli),
            i.objective_met.map_or(String::new(), |m| m.to_string()),
            i.good,
            i.total,
            opt(i.budget_spent),
            i.alert_firings.len(),
            i.alert_firings.iter().map(|f| f.minutes).sum::<f64>(),
            i.corrections.len()
        );
    }
    out
}

//! Reports for a calendar period, for the monthly SLO review: per SLO
//! instance the SLI achieved, the objective met or missed, the budget spent
//! (in all and per week), the worst hours, alert firings, corrections, and
//! the release gate's denials; all from the stored data.
//!
//! The figures are pure functions of the stored minutes ([`figures`]);
//! [`collect`] reads them, [`render`] writes Markdown and CSV.

pub mod collect;
pub mod render;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::Slo;
use crate::catalog::correction::excluded_minutes;
use crate::catalog::{Correction, Timeslices};
use crate::engine::EventCounts;
use crate::evaluation::plan::{ceil_to, floor_to, on_grid, sum_kept};
use crate::ingest::history::EventHistory;
use crate::time::{HOUR_MS, MINUTE_MS};

pub use collect::{ReportError, ReportQuery, build};

/// The longest span a report covers; a longer one is cut to its last year.
pub const MAX_SPAN_DAYS: i64 = 366;
/// How many of the worst hours a report lists per instance.
pub const WORST_HOURS: usize = 5;

/// A period: `2026-11` (a month) or `2026-Q4` (a quarter), in UTC.
pub fn parse_period(text: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let bad = || {
        format!(
            "`{text}` is not a period: expected a month such as `2026-11` or a quarter such as `2026-Q4`"
        )
    };
    let (year, rest) = text.trim().split_once('-').ok_or_else(bad)?;
    let year: i32 = Some(year)
        .filter(|y| y.len() == 4)
        .and_then(|y| y.parse().ok())
        .filter(|y| (0..=9999).contains(y))
        .ok_or_else(bad)?;
    let (first, months) = match rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
        Some(q) => match q.parse::<u32>() {
            Ok(q @ 1..=4) => (3 * q - 2, 3),
            _ => return Err(bad()),
        },
        None => match rest.parse::<u32>() {
            Ok(m @ 1..=12) if rest.len() == 2 => (m, 1),
            _ => return Err(bad()),
        },
    };
    let start = month_start(year, first).ok_or_else(bad)?;
    let (y, m) = if first + months > 12 {
        (year + 1, first + months - 12)
    } else {
        (year, first + months)
    };
    Ok((start, month_start(y, m).ok_or_else(bad)?))
}

fn month_start(year: i32, month: u32) -> Option<DateTime<Utc>> {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

/// The current month, for a request that names no period.
pub fn current_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let text = format!("{:04}-{:02}", now.year(), now.month());
    parse_period(&text).unwrap_or((now, now))
}

/// A whole report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    /// The period covered, `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// One entry per SLO instance with stored data, ordered by id.
    pub instances: Vec<InstanceReport>,
    /// Releases the gate denied in the period (overridden or not), newest first.
    pub gate_denials: Vec<GateDenial>,
}

/// One SLO instance over the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceReport {
    /// `service/name`, plus `{label="value"}` for a grouped SLO's instance.
    pub id: String,
    pub slo: String,
    pub service: String,
    /// The objective as a ratio, e.g. 0.999.
    pub objective: f64,
    /// `occurrences` or `timeslices`: under timeslices every count is of slices.
    pub budgeting: String,
    /// Good / total over the period, corrections left out; null without events.
    pub sli: Option<f64>,
    /// Whether the SLI reached the objective; null without events.
    pub objective_met: Option<bool>,
    pub good: f64,
    pub total: f64,
    /// Share of the period's error budget spent (1 = all of it); null without events.
    pub budget_spent: Option<f64>,
    /// Per ISO week (Monday 00:00 UTC), the share of the period's budget spent in it.
    pub weeks: Vec<WeekFigure>,
    /// The hours with the most bad events (or slices), worst first.
    pub worst_hours: Vec<HourFigure>,
    /// Alert firings that started in the period, oldest first.
    pub alert_firings: Vec<AlertFiring>,
    /// Corrections with minutes in the period, and what they took out.
    pub corrections: Vec<AppliedCorrection>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WeekFigure {
    /// The week's first instant inside the period.
    pub from: DateTime<Utc>,
    pub good: f64,
    pub total: f64,
    /// Share of the period's budget spent in this week; null without events in the period.
    pub budget_spent: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourFigure {
    pub hour: DateTime<Utc>,
    pub bad: f64,
    pub total: f64,
    pub error_ratio: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertFiring {
    /// A tier name, `budget_exhausted` or `absent`.
    pub alert: String,
    pub severity: String,
    pub started_at: DateTime<Utc>,
    /// When it resolved; null while it still fires.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Minutes it fired, up to the period's end (or now) when unresolved.
    pub minutes: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AppliedCorrection {
    pub reason: String,
    /// `catalog`, or `api` for one added at run time.
    pub source: String,
    /// Its spans inside the period (one per occurrence of a repeat).
    pub occurrences: usize,
    /// Minutes it left out inside the period.
    pub minutes: f64,
    /// Events (or slices) it left out.
    pub excluded_good: f64,
    pub excluded_total: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GateDenial {
    pub decided_at: DateTime<Utc>,
    pub services: Vec<String>,
    pub slo: Option<String>,
    pub actor: Option<String>,
    pub reasons: Vec<String>,
    /// The override's reason, when the release went out anyway.
    pub override_reason: Option<String>,
}

/// A correction with where it came from, for the report.
#[derive(Debug, Clone)]
pub struct SourcedCorrection {
    pub correction: Correction,
    pub source: &'static str,
}

/// What the stored minutes say about one instance over `[from, to)`:
/// counts, weeks, worst hours and corrections. Pure.
pub fn figures(
    slo: &Slo,
    hours: Vec<(i64, [EventCounts; 60])>,
    corrections: &[SourcedCorrection],
    from: i64,
    to: i64,
) -> Figures {
    let slicing: Option<Timeslices> = slo.budgeting.timeslices();
    let step = slicing.map_or(MINUTE_MS, |t| t.slice.as_millis() as i64);
    let (from, to) = (
        ceil_to(from, step),
        floor_to(to, step).max(ceil_to(from, step)),
    );
    let hour_starts: Vec<i64> = hours.iter().map(|(h, _)| *h).collect();
    let mut history = EventHistory::new(slicing);
    for (hour, minutes) in hours {
        history.load_hour(hour, minutes);
    }
    let mut sum = |a: i64, b: i64| history.sum(a, b).unwrap_or_default();
    let all: Vec<Correction> = corrections.iter().map(|c| c.correction.clone()).collect();
    let excluded = on_grid(excluded_minutes(&all, from, to), step, to);
    let period = sum_kept(from, to, &excluded, &mut sum);
    let budget = slo.objective.budget();
    let spent = |c: EventCounts| (period.total > 0.0).then(|| c.bad() / (budget * period.total));

    let mut weeks = Vec::new();
    let mut start = from;
    while start < to {
        let end = next_week(start).min(to);
        let counts = sum_kept(start, end, &excluded, &mut sum);
        weeks.push((start, counts, spent(counts)));
        start = end;
    }
    let mut worst: Vec<(i64, EventCounts)> = hour_starts
        .into_iter()
        .filter(|h| *h + HOUR_MS > from && *h < to)
        .map(|h| {
            (
                h,
                sum_kept(h.max(from), (h + HOUR_MS).min(to), &excluded, &mut sum),
            )
        })
        .filter(|(_, c)| c.bad() > 0.0)
        .collect();
    worst.sort_by(|a, b| b.1.bad().total_cmp(&a.1.bad()).then(a.0.cmp(&b.0)));
    worst.truncate(WORST_HOURS);

    let applied = corrections
        .iter()
        .filter_map(|c| {
            let spans = on_grid(
                excluded_minutes(std::slice::from_ref(&c.correction), from, to),
                step,
                to,
            );
            if spans.is_empty() {
                return None;
            }
            let mut out = EventCounts::default();
            for &(a, b) in &spans {
                out += sum(a, b);
            }
            Some(AppliedCorrection {
                reason: c.correction.reason.clone(),
                source: c.source.to_string(),
                occurrences: spans.len(),
                minutes: spans.iter().map(|(a, b)| (b - a) as f64).sum::<f64>() / MINUTE_MS as f64,
                excluded_good: out.good,
                excluded_total: out.total,
            })
        })
        .collect();
    Figures {
        period,
        budget_spent: spent(period),
        weeks,
        worst_hours: worst,
        corrections: applied,
    }
}

/// The next Monday 00:00 UTC after `ms`.
fn next_week(ms: i64) -> i64 {
    const DAY: i64 = 24 * HOUR_MS;
    // 1970-01-01 was a Thursday: Mondays are 4 days past a multiple of 7 days.
    let monday = 4 * DAY;
    (ms - monday).div_euclid(7 * DAY) * 7 * DAY + monday + 7 * DAY
}

/// The counts behind an [`InstanceReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub period: EventCounts,
    pub budget_spent: Option<f64>,
    /// (first instant, counts, share of the period's budget)
    pub weeks: Vec<(i64, EventCounts, Option<f64>)>,
    /// (hour, counts), worst first.
    pub worst_hours: Vec<(i64, EventCounts)>,
    pub corrections: Vec<AppliedCorrection>,
}

/// `ms` as a UTC instant (the epoch for one out of range).
pub fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Clamps a span to at most [`MAX_SPAN_DAYS`], keeping its end.
pub fn clamp_span(from: DateTime<Utc>, to: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest = to - ChronoDuration::days(MAX_SPAN_DAYS);
    (from.max(earliest), to)
}

#[cfg(test)]
mod tests;

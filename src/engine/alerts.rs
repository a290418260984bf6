//! Multi-window, multi-burn-rate alert evaluation (SRE Workbook, REFERENCE.md
//! section 2) and the pending/firing state machine behind `for`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::budget::{BudgetStatus, EventCounts, WindowStatus, window_status};
use super::states::{AlertState, DataState};
use crate::catalog::model::{AlertTier, ExhaustionAlert, Severity};
use crate::catalog::objective::Objective;
use crate::duration::Duration;

/// Relative margin a burn rate must clear above a tier's factor. Factors are
/// derived and ratios divided, so a burn exactly at the factor can land an ulp
/// either side of it (28% errors against a 5% budget is a burn of
/// 5.6000000000000005); 1e-12 absorbs that while 14.4000001 still clears 14.4.
const BURN_RATE_TOLERANCE: f64 = 1e-12;

/// Why a tier cannot fire whatever its windows show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Suppression {
    /// One of the windows holds no events.
    NoData,
    /// The long window holds fewer events than the tier's `min_events`.
    BelowMinEvents { events: f64, min_events: u64 },
}

/// One tier's verdict at one instant, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierEvaluation {
    pub tier: String,
    pub severity: Severity,
    /// The error-ratio threshold both windows must exceed: `burn_rate * budget`.
    pub threshold: f64,
    pub long: WindowStatus,
    pub short: WindowStatus,
    /// True when the tier's alert condition holds (before any `for` delay).
    pub condition: bool,
    /// Set whenever a data guard keeps the tier quiet, whether or not the windows burn.
    pub suppressed: Option<Suppression>,
}

/// True when `burn` is strictly above `factor` by more than rounding noise.
fn burns_above(burn: Option<f64>, factor: f64) -> bool {
    burn.is_some_and(|b| b > factor + factor.abs() * BURN_RATE_TOLERANCE)
}

/// Evaluates one tier from the events summed over its long and short windows.
pub fn evaluate_tier(
    tier: &AlertTier,
    objective: Objective,
    long: EventCounts,
    short: EventCounts,
) -> TierEvaluation {
    let long = window_status(objective, long);
    let short = window_status(objective, short);
    let suppressed =
        if long.data_state == DataState::NoData || short.data_state == DataState::NoData {
            Some(Suppression::NoData)
        } else if long.events.total < tier.min_events as f64 {
            Some(Suppression::BelowMinEvents {
                events: long.events.total,
                min_events: tier.min_events,
            })
        } else {
            None
        };
    // Both windows must burn: the long one proves the burn is significant, the
    // short one that it is still going on, so the alert resets soon after it stops.
    let condition = suppressed.is_none()
        && burns_above(long.burn_rate, tier.burn_rate)
        && burns_above(short.burn_rate, tier.burn_rate);
    TierEvaluation {
        tier: tier.name.clone(),
        severity: tier.severity,
        threshold: tier.burn_rate * objective.budget(),
        long,
        short,
        condition,
        suppressed,
    }
}

/// True when the remaining budget is known and below the alert's threshold.
pub fn evaluate_exhaustion(alert: &ExhaustionAlert, budget: &BudgetStatus) -> bool {
    budget.remaining.is_some_and(|r| r < alert.threshold)
}

/// Where an alert stands between evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum AlertPhase {
    Inactive,
    /// The condition holds but has not yet held for the tier's `for` duration.
    Pending {
        since: DateTime<Utc>,
    },
    /// `since` is when it started firing, as Prometheus stamps `startsAt`.
    Firing {
        since: DateTime<Utc>,
    },
}

impl AlertPhase {
    /// True while firing.
    pub fn is_firing(&self) -> bool {
        matches!(self, AlertPhase::Firing { .. })
    }

    /// The phase without its start.
    pub fn state(&self) -> AlertState {
        match self {
            AlertPhase::Inactive => AlertState::Inactive,
            AlertPhase::Pending { .. } => AlertState::Pending,
            AlertPhase::Firing { .. } => AlertState::Firing,
        }
    }

    /// When the current pending or firing phase began.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        match self {
            AlertPhase::Inactive => None,
            AlertPhase::Pending { since } | AlertPhase::Firing { since } => Some(*since),
        }
    }
}

/// A change of phase worth recording or notifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Pending,
    Firing,
    Resolved,
    /// A pending alert whose condition stopped before it fired.
    Cancelled,
}

impl Transition {
    pub const ALL: [Transition; 4] = [
        Transition::Pending,
        Transition::Firing,
        Transition::Resolved,
        Transition::Cancelled,
    ];

    /// The spelling in JSON and PostgreSQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Pending => "pending",
            Transition::Firing => "firing",
            Transition::Resolved => "resolved",
            Transition::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Transition> {
        Transition::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// Advances an alert by one evaluation of its condition at `now`.
pub fn step(
    prev: &AlertPhase,
    condition: bool,
    now: DateTime<Utc>,
    for_duration: Duration,
) -> (AlertPhase, Option<Transition>) {
    match (*prev, condition) {
        (AlertPhase::Inactive, false) => (AlertPhase::Inactive, None),
        (AlertPhase::Inactive, true) if for_duration.is_zero() => {
            (AlertPhase::Firing { since: now }, Some(Transition::Firing))
        }
        (AlertPhase::Inactive, true) => (
            AlertPhase::Pending { since: now },
            Some(Transition::Pending),
        ),
        (AlertPhase::Pending { since }, true) => {
            // A clock stepping backwards gives a negative elapsed time: keep waiting.
            if now - since >= for_duration.to_chrono() {
                (AlertPhase::Firing { since: now }, Some(Transition::Firing))
            } else {
                (AlertPhase::Pending { since }, None)
            }
        }
        (AlertPhase::Pending { .. }, false) => (AlertPhase::Inactive, Some(Transition::Cancelled)),
        (AlertPhase::Firing { since }, true) => (AlertPhase::Firing { since }, None),
        (AlertPhase::Firing { .. }, false) => (AlertPhase::Inactive, Some(Transition::Resolved)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::catalog::alerting::AlertingSpec;
    use crate::engine::budget::budget_status;

    fn objective(percent: &str) -> Objective {
        Objective::parse_percent(percent).expect("test objective")
    }

    /// A default Workbook tier for an SLO window of `days`, with `min_events` set.
    fn workbook_tier(days: u64, name: &str, min_events: u64) -> AlertTier {
        let (policy, problems) = AlertingSpec::default().resolve(Duration::from_days(days));
        assert!(problems.is_empty(), "{problems:?}");
        let mut tier = policy
            .tiers
            .into_iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no default tier {name}"));
        tier.min_events = min_events;
        tier
    }

    fn bad_of((bad, total): (f64, f64)) -> EventCounts {
        EventCounts::from_bad(bad, total)
    }

    fn below_min(events: f64, min_events: u64) -> Option<Suppression> {
        Some(Suppression::BelowMinEvents { events, min_events })
    }

    #[test]
    fn workbook_page_threshold_for_three_nines() {
        let tier = workbook_tier(30, "page-1h", 0);
        let eval = evaluate_tier(
            &tier,
            objective("99.9"),
            bad_of((0.0, 1.0)),
            bad_of((0.0, 1.0)),
        );
        assert!(
            (eval.threshold - 0.0144).abs() < 1e-15,
            "{}",
            eval.threshold
        );
        assert_eq!(
            (eval.tier.as_str(), eval.severity),
            ("page-1h", Severity::Page)
        );
    }

    #[test]
    fn tier_condition_table() {
        const NO: Option<Suppression> = None;
        const NO_DATA: Option<Suppression> = Some(Suppression::NoData);
        // (case, SLO days, tier, objective, min_events, long (bad, total), short (bad, total), fires, suppression)
        #[rustfmt::skip]
        let cases = [
            ("both windows above",                    30, "page-1h",   "99.9", 0,   (2_000.0, 100_000.0),   (200.0, 8_000.0),     true,  NO),
            ("long above, short below",               30, "page-1h",   "99.9", 0,   (2_000.0, 100_000.0),   (100.0, 8_000.0),     false, NO),
            ("short above, long below",               30, "page-1h",   "99.9", 0,   (1_000.0, 100_000.0),   (200.0, 8_000.0),     false, NO),
            ("burn stopped: long above, short clean", 30, "page-1h",   "99.9", 0,   (5_000.0, 100_000.0),   (0.0, 8_000.0),       false, NO),
            ("both exactly at 14.4",                  30, "page-1h",   "99.9", 0,   (1_440.0, 100_000.0),   (144.0, 10_000.0),    false, NO),
            ("long at 14.4, short above",             30, "page-1h",   "99.9", 0,   (1_440.0, 100_000.0),   (200.0, 10_000.0),    false, NO),
            ("just above 14.4",                       30, "page-1h",   "99.9", 0,   (144_000_001.0, 1e10),  (144_000_001.0, 1e10), true, NO),
            // Exactly at 5.6 lands an ulp above it: 0.28 / 0.05 is 5.6000000000000005, and at
            // 99.5% the ratio 0.028 tops the threshold 5.6 * 0.005 = 0.027999999999999997.
            ("28d page-6h exactly at 5.6, 95%",       28, "page-6h",   "95",   0,   (28_000.0, 100_000.0),  (2_800.0, 10_000.0),  false, NO),
            ("28d page-6h exactly at 5.6, 99.5%",     28, "page-6h",   "99.5", 0,   (2_800.0, 100_000.0),   (280.0, 10_000.0),    false, NO),
            ("28d page-6h exactly at 5.6, 99%",       28, "page-6h",   "99",   0,   (5_600.0, 100_000.0),   (560.0, 10_000.0),    false, NO),
            ("28d page-6h above 5.6",                 28, "page-6h",   "99.5", 0,   (2_801.0, 100_000.0),   (281.0, 10_000.0),    true,  NO),
            ("ticket-3d at 1x is not above",          30, "ticket-3d", "99.9", 0,   (1_000.0, 1_000_000.0), (100.0, 100_000.0),   false, NO),
            ("ticket-3d just above 1x",               30, "ticket-3d", "99.9", 0,   (1_001.0, 1_000_000.0), (101.0, 100_000.0),   true,  NO),
            ("ticket-1d at 3.5x",                     30, "ticket-1d", "99.9", 0,   (3_500.0, 1_000_000.0), (350.0, 100_000.0),   true,  NO),
            ("page-6h at 3.5x is quiet",              30, "page-6h",   "99.9", 0,   (3_500.0, 1_000_000.0), (350.0, 100_000.0),   false, NO),
            ("min events: long window too small",     30, "page-1h",   "99.9", 100, (50.0, 99.0),           (10.0, 20.0),         false, below_min(99.0, 100)),
            ("min events: exactly enough",            30, "page-1h",   "99.9", 100, (50.0, 100.0),          (10.0, 20.0),         true,  NO),
            ("min events: quiet window reports it",   30, "page-1h",   "99.9", 100, (0.0, 10.0),            (0.0, 1.0),           false, below_min(10.0, 100)),
            ("no data in short window",               30, "page-1h",   "99.9", 0,   (5_000.0, 100_000.0),   (0.0, 0.0),           false, NO_DATA),
            ("no data in long window",                30, "page-1h",   "99.9", 0,   (0.0, 0.0),             (0.0, 0.0),           false, NO_DATA),
            ("no data wins over min events",          30, "page-1h",   "99.9", 100, (0.0, 0.0),             (0.0, 0.0),           false, NO_DATA),
            ("low traffic alerts without min_events", 30, "page-1h",   "99.9", 0,   (1.0, 10.0),            (1.0, 2.0),           true,  NO),
        ];
        for (case, days, name, percent, min_events, long, short, fires, suppressed) in cases {
            let tier = workbook_tier(days, name, min_events);
            let eval = evaluate_tier(&tier, objective(percent), bad_of(long), bad_of(short));
            assert_eq!(eval.condition, fires, "{case}: {eval:?}");
            assert_eq!(eval.suppressed, suppressed, "{case}");
        }
    }

    #[test]
    fn tier_evaluation_serialises_suppression() {
        let tier = workbook_tier(30, "page-1h", 100);
        let eval = evaluate_tier(
            &tier,
            objective("99.9"),
            bad_of((1.0, 10.0)),
            bad_of((1.0, 10.0)),
        );
        let json = serde_json::to_value(&eval).expect("serialisable");
        let want =
            serde_json::json!({"reason": "below_min_events", "events": 10.0, "min_events": 100});
        assert_eq!(json["suppressed"], want);
        assert_eq!(json["severity"], "page");
        assert_eq!(json["condition"], false);
    }

    #[test]
    fn exhaustion_alert_table() {
        // (threshold, bad, total, fires)
        #[rustfmt::skip]
        let cases = [
            (0.0,  1_500.0, 1_000_000.0, true),
            (0.0,  1_000.0, 1_000_000.0, false),
            (0.0,  500.0,   1_000_000.0, false),
            (0.25, 800.0,   1_000_000.0, true),
            (0.25, 700.0,   1_000_000.0, false),
            (0.0,  0.0,     0.0,         false),
        ];
        for (threshold, bad, total, fires) in cases {
            let alert = ExhaustionAlert {
                threshold,
                severity: Severity::Ticket,
            };
            let events = bad_of((bad, total));
            let budget = budget_status(objective("99.9"), Duration::from_days(30), events, None);
            let label = format!("threshold {threshold}, {bad}/{total}");
            assert_eq!(evaluate_exhaustion(&alert, &budget), fires, "{label}");
        }
    }

    #[test]
    fn state_machine_table() {
        let t0 = Utc
            .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
            .single()
            .expect("valid time");
        let at = |m: i64| t0 + chrono::Duration::minutes(m);
        let inactive = AlertPhase::Inactive;
        let pending = AlertPhase::Pending { since: t0 };
        let firing = AlertPhase::Firing { since: t0 };
        let (zero, five) = (Duration::ZERO, Duration::from_mins(5));
        let firing_at = |m| AlertPhase::Firing { since: at(m) };
        let pending_at = |m| AlertPhase::Pending { since: at(m) };
        use Transition as T;
        // (case, prev, condition, now, for, next, transition)
        #[rustfmt::skip]
        let cases = [
            ("inactive stays inactive",            inactive, false, at(1),  five, inactive,      None),
            ("inactive fires at once with for=0",  inactive, true,  at(1),  zero, firing_at(1),  Some(T::Firing)),
            ("inactive becomes pending",           inactive, true,  at(1),  five, pending_at(1), Some(T::Pending)),
            ("pending, not yet",                   pending,  true,  at(4),  five, pending,       None),
            ("pending, clock went back",           pending,  true,  at(-1), five, pending,       None),
            ("pending fires when for has elapsed", pending,  true,  at(5),  five, firing_at(5),  Some(T::Firing)),
            ("pending fires late",                 pending,  true,  at(9),  five, firing_at(9),  Some(T::Firing)),
            ("pending cancelled",                  pending,  false, at(2),  five, inactive,      Some(T::Cancelled)),
            ("firing keeps firing",                firing,   true,  at(30), five, firing,        None),
            ("firing keeps its start with for=0",  firing,   true,  at(30), zero, firing,        None),
            ("firing resolves",                    firing,   false, at(30), five, inactive,      Some(T::Resolved)),
        ];
        for (case, prev, condition, now, for_duration, next, transition) in cases {
            assert_eq!(
                step(&prev, condition, now, for_duration),
                (next, transition),
                "{case}"
            );
        }
    }

    #[test]
    fn phases_serialise_with_a_tag() {
        let t0 = Utc
            .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
            .single()
            .expect("valid time");
        let since = "2025-03-01T12:00:00Z";
        let cases = [
            (
                AlertPhase::Inactive,
                serde_json::json!({"phase": "inactive"}),
            ),
            (
                AlertPhase::Pending { since: t0 },
                serde_json::json!({"phase": "pending", "since": since}),
            ),
            (
                AlertPhase::Firing { since: t0 },
                serde_json::json!({"phase": "firing", "since": since}),
            ),
        ];
        for (phase, want) in cases {
            assert_eq!(serde_json::to_value(phase).expect("serialisable"), want);
            assert_eq!(
                phase.is_firing(),
                matches!(phase, AlertPhase::Firing { .. })
            );
        }
        let cancelled = serde_json::to_value(Transition::Cancelled).expect("serialisable");
        assert_eq!(cancelled, "cancelled");
    }
}

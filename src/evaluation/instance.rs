//! The evaluation of one SLO instance at one minute: a pure function from the
//! SLO, its window sums and its previous alert phases to its new status and
//! the alert changes. The scheduler does the I/O around it: it loads the
//! hours the windows need, commits the alert changes, and records history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::alerts::{AlertFigures, AlertKey, AlertRef, Observation};
pub use super::plan::{WindowPlan, WindowSums};
use super::status::{
    AbsentStatus, CorrectionStatus, ErrorBudget, ExhaustionStatus, InstanceStatus, TierStatus,
};
use crate::catalog::Slo;
use crate::duration::Duration;
use crate::engine::{self, AlertPhase, DataState, ExhaustionEta, Suppression};
use crate::time::Minute;

/// Windows every instance reports a burn rate for.
pub const REPORTED_WINDOWS: [Duration; 7] = [
    Duration::from_mins(5),
    Duration::from_mins(30),
    Duration::from_hours(1),
    Duration::from_hours(2),
    Duration::from_hours(6),
    Duration::from_days(1),
    Duration::from_days(3),
];

/// The window whose burn rate counts as "current" for time-to-exhaustion.
const CURRENT_BURN_WINDOW: Duration = Duration::from_hours(1);

/// An exhaustion further away than this is reported as none: no one plans
/// that far, and the instant may not even be representable.
const EXHAUSTION_HORIZON: Duration = Duration::from_days(100 * 365);

/// An instance's evaluation: its new status, and every alert's outcome for
/// the caller to commit before it publishes the status.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    pub status: InstanceStatus,
    pub observations: Vec<Observation<'a>>,
}

/// Evaluates an instance whose last status was `previous`, at `at`.
/// `phase` gives each alert's phase before this evaluation.
pub fn evaluate<'a>(
    slo: &'a Slo,
    previous: &InstanceStatus,
    phase: impl Fn(&AlertKey) -> AlertPhase,
    sums: &WindowSums,
    at: Minute,
) -> Evaluation<'a> {
    let at_time = at.time();
    let mut burn_rates = BTreeMap::new();
    for w in REPORTED_WINDOWS {
        let rate = engine::window_status(slo.objective, sums.of(w)).burn_rate;
        burn_rates.insert(w.to_string(), rate);
    }
    let current = engine::window_status(slo.objective, sums.of(CURRENT_BURN_WINDOW)).burn_rate;
    let budget = engine::budget_status(
        slo.objective,
        slo.window.nominal_length(),
        sums.slo_window,
        current,
    );
    burn_rates.insert(slo.window.to_string(), budget.window.burn_rate);

    let mut alerts = Vec::new();
    let mut observations = Vec::new();
    for tier in &slo.alerting.tiers {
        let eval = engine::evaluate_tier(
            tier,
            slo.objective,
            sums.of(tier.long_window),
            sums.of(tier.short_window),
        );
        let prev = phase(&AlertKey::Tier(tier.name.clone()));
        let (next, transition) = engine::step(&prev, eval.condition, at_time, tier.for_duration);
        observations.push(Observation {
            alert: AlertRef::Tier(tier),
            phase: next,
            transition,
            figures: AlertFigures {
                long_burn_rate: eval.long.burn_rate,
                short_burn_rate: eval.short.burn_rate,
                budget_remaining: budget.remaining,
            },
            threshold: Some(tier.burn_rate),
        });
        alerts.push(TierStatus {
            tier: tier.name.clone(),
            severity: tier.severity,
            state: next.state(),
            since: next.since(),
            long_window: tier.long_window.to_string(),
            short_window: tier.short_window.to_string(),
            burn_rate_threshold: tier.burn_rate,
            long_burn_rate: eval.long.burn_rate,
            short_burn_rate: eval.short.burn_rate,
            suppressed: eval.suppressed.map(|s| match s {
                Suppression::NoData => "no_data".to_string(),
                Suppression::BelowMinEvents { events, min_events } => {
                    format!("{events} events in the long window, below the minimum of {min_events}")
                }
            }),
        });
    }
    let budget_exhausted = slo.alerting.budget_exhausted.as_ref().map(|alert| {
        let firing = engine::evaluate_exhaustion(alert, &budget);
        let prev = phase(&AlertKey::BudgetExhausted);
        let (next, transition) = engine::step(&prev, firing, at_time, Duration::ZERO);
        observations.push(Observation {
            alert: AlertRef::BudgetExhausted(alert),
            phase: next,
            transition,
            figures: AlertFigures {
                long_burn_rate: current,
                short_burn_rate: None,
                budget_remaining: budget.remaining,
            },
            threshold: Some(alert.threshold),
        });
        ExhaustionStatus {
            severity: alert.severity,
            state: next.state(),
            threshold: alert.threshold,
        }
    });

    // Silence is worth saying only where there were events to judge.
    let data_state = match budget.window.data_state {
        DataState::Ok | DataState::LowTraffic if sums.absent => DataState::Absent,
        state => state,
    };
    let absent = slo.alerting.absent.as_ref().map(|alert| {
        let prev = phase(&AlertKey::Absent);
        let condition = data_state == DataState::Absent;
        let (next, transition) = engine::step(&prev, condition, at_time, alert.for_duration);
        observations.push(Observation {
            alert: AlertRef::Absent(alert),
            phase: next,
            transition,
            figures: AlertFigures {
                long_burn_rate: None,
                short_burn_rate: None,
                budget_remaining: budget.remaining,
            },
            threshold: None,
        });
        AbsentStatus {
            severity: alert.severity,
            state: next.state(),
            since: next.since(),
            for_duration: alert.for_duration.to_string(),
        }
    });

    let corrections = sums.corrected.map(|excluded| {
        let all = engine::budget_status(
            slo.objective,
            slo.window.nominal_length(),
            sums.slo_window + excluded,
            None,
        );
        CorrectionStatus {
            excluded,
            budget_remaining_without: all.remaining,
        }
    });
    let status = InstanceStatus {
        objective: slo.objective.ratio(),
        window: slo.window.to_string(),
        evaluated_at: Some(at_time),
        data_state,
        sli: budget.window.sli,
        events: sums.slo_window,
        error_budget: ErrorBudget {
            remaining: budget.remaining,
            consumed: budget.consumed,
            total_events: budget.budget_events,
            remaining_events: budget.remaining_events,
            total_minutes: budget.budget_minutes,
            remaining_minutes: budget.remaining_minutes,
            exhaustion_at: exhaustion_at(budget.time_to_exhaustion, at_time),
        },
        burn_rates,
        alerts,
        budget_exhausted,
        absent,
        corrections,
        error: None,
        backfill_progress: None,
        ..previous.clone()
    };
    Evaluation {
        status,
        observations,
    }
}

/// When the budget runs out, if within the horizon. Checked: a tiny burn
/// rate puts the instant beyond what a timestamp can hold.
fn exhaustion_at(eta: Option<ExhaustionEta>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match eta? {
        ExhaustionEta::AlreadyExhausted => Some(at),
        ExhaustionEta::Never => None,
        ExhaustionEta::In { seconds } => {
            let horizon = EXHAUSTION_HORIZON.as_millis() as f64 / 1000.0;
            if !(seconds.is_finite() && (0.0..=horizon).contains(&seconds)) {
                return None;
            }
            at.checked_add_signed(chrono::TimeDelta::milliseconds((seconds * 1000.0) as i64))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::TimeZone;

    use super::*;
    use crate::catalog;
    use crate::engine::{AlertState, DataState, EventCounts};
    use crate::labels::Labels;

    fn slo(extra: &str) -> Slo {
        let source = format!(
            "version: burnrate/v1\nservice: shop\nslos:\n  - name: availability\n    objective: 99.9\n    window: 30d\n    indicator:\n      ratio:\n        errors: http_requests_total{{code=\"500\"}}\n        total: http_requests_total\n{extra}"
        );
        match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
            Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
            Err(d) => panic!("{d:?}"),
        }
    }

    fn at() -> Minute {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 2, 12, 0, 0)
            .single()
            .expect("time");
        Minute::exact(t.timestamp_millis()).expect("aligned")
    }

    /// Uniform traffic: `per_minute` events a minute, `bad_ratio` of them
    /// bad over the last `burn_minutes`, none bad before.
    fn sums(slo: &Slo, per_minute: f64, bad_ratio: f64, burn_minutes: i64) -> WindowSums {
        let plan = WindowPlan::new(slo, at());
        plan.sums(|from, to| {
            let minutes = ((to - from) / 60_000) as f64;
            let burning = minutes.min(burn_minutes as f64);
            EventCounts::from_bad(per_minute * burning * bad_ratio, per_minute * minutes)
        })
    }

    /// Name, SLO, sums, data state, tier states, budget-exhausted state.
    type Case<'a> = (
        &'a str,
        &'a Slo,
        WindowSums,
        DataState,
        &'a [(&'a str, AlertState)],
        Option<AlertState>,
    );

    #[test]
    fn statuses_from_window_sums_table() {
        let plain = slo("");
        let exhaust = slo("    alerting:\n      budget_exhausted: true\n");
        #[rustfmt::skip]
        let cases: [Case; 7] = [
            ("no traffic: no data, nothing fires",        &plain,   sums(&plain, 0.0, 0.0, 0),       DataState::NoData,     &[("page-1h", AlertState::Inactive)], None),
            ("clean traffic: ok, nothing fires",          &plain,   sums(&plain, 100.0, 0.0, 0),     DataState::Ok,         &[("page-1h", AlertState::Inactive)], None),
            ("a 50% burn for an hour pages at once",      &plain,   sums(&plain, 100.0, 0.5, 60),    DataState::Ok,         &[("page-1h", AlertState::Firing), ("page-6h", AlertState::Firing)], None),
            ("a trickle is low traffic",                  &plain,   sums(&plain, 0.01, 0.0, 0),      DataState::LowTraffic, &[("page-1h", AlertState::Inactive)], None),
            ("silent series are absent",                  &plain,   WindowSums { absent: true, ..sums(&plain, 100.0, 0.0, 0) }, DataState::Absent, &[("page-1h", AlertState::Inactive)], None),
            ("absent, but no events at all is no data",   &plain,   WindowSums { absent: true, ..sums(&plain, 0.0, 0.0, 0) },   DataState::NoData, &[("page-1h", AlertState::Inactive)], None),
            ("a spent budget fires budget_exhausted",     &exhaust, sums(&exhaust, 100.0, 1.0, 100_000), DataState::Ok,     &[("page-1h", AlertState::Firing)], Some(AlertState::Firing)),
        ];
        for (case, slo, sums, data_state, tiers, exhausted) in cases {
            let pending = InstanceStatus::pending(slo, slo.id.to_string(), Labels::new());
            let eval = evaluate(slo, &pending, |_| AlertPhase::Inactive, &sums, at());
            let s = &eval.status;
            assert_eq!(s.data_state, data_state, "{case}");
            assert_eq!(s.evaluated_at, Some(at().time()), "{case}");
            assert_eq!(s.events, sums.slo_window, "{case}");
            for (tier, state) in tiers {
                let got = s.alerts.iter().find(|a| a.tier == *tier).map(|a| a.state);
                assert_eq!(got, Some(*state), "{case}: {tier}");
            }
            assert_eq!(
                s.budget_exhausted.as_ref().map(|e| e.state),
                exhausted,
                "{case}"
            );
            // One observation per alert, in the status's order.
            assert_eq!(
                eval.observations.len(),
                s.alerts.len() + usize::from(exhausted.is_some()),
                "{case}"
            );
            assert_eq!(s.burn_rates.len(), REPORTED_WINDOWS.len() + 1, "{case}");
        }
    }

    /// Name, SLO, sums, phase before, state after, transition.
    type AbsentCase<'a> = (
        &'a str,
        &'a Slo,
        &'a WindowSums,
        AlertPhase,
        AlertState,
        Option<crate::engine::Transition>,
    );

    #[test]
    fn absent_alert_table() {
        use crate::engine::Transition;
        let on = slo("    alerting:\n      absent: true\n");
        let waits = slo("    alerting:\n      absent: {for: 10m, severity: page}\n");
        let minutes_ago = |m: i64| at().time() - chrono::Duration::minutes(m);
        let data = sums(&on, 100.0, 0.0, 0);
        let silent = WindowSums {
            absent: true,
            ..data.clone()
        };
        let never = WindowSums {
            absent: true,
            ..sums(&on, 0.0, 0.0, 0)
        };
        let firing = AlertPhase::Firing {
            since: minutes_ago(30),
        };
        let pending = |m| AlertPhase::Pending {
            since: minutes_ago(m),
        };
        #[rustfmt::skip]
        let cases: [AbsentCase; 9] = [
            ("data flows: quiet",                          &on,    &data,   AlertPhase::Inactive, AlertState::Inactive, None),
            ("absent: fires at once without `for`",        &on,    &silent, AlertPhase::Inactive, AlertState::Firing,   Some(Transition::Firing)),
            ("never had data (no_data): quiet",            &on,    &never,  AlertPhase::Inactive, AlertState::Inactive, None),
            ("no_data after firing: resolves",             &on,    &never,  firing,               AlertState::Inactive, Some(Transition::Resolved)),
            ("still absent: keeps firing",                 &on,    &silent, firing,               AlertState::Firing,   None),
            ("data returns: resolves",                     &on,    &data,   firing,               AlertState::Inactive, Some(Transition::Resolved)),
            ("absent with `for`: pending first",           &waits, &silent, AlertPhase::Inactive, AlertState::Pending,  Some(Transition::Pending)),
            ("absent for `for`: fires",                    &waits, &silent, pending(10),          AlertState::Firing,   Some(Transition::Firing)),
            ("data returns before `for`: cancelled",       &waits, &data,   pending(5),           AlertState::Inactive, Some(Transition::Cancelled)),
        ];
        for (case, slo, sums, before, state, transition) in cases {
            let pending = InstanceStatus::pending(slo, slo.id.to_string(), Labels::new());
            let eval = evaluate(
                slo,
                &pending,
                |k| {
                    if *k == AlertKey::Absent {
                        before
                    } else {
                        AlertPhase::Inactive
                    }
                },
                sums,
                at(),
            );
            let status = eval.status.absent.as_ref().expect("an absent alert");
            assert_eq!(status.state, state, "{case}");
            let o = eval
                .observations
                .iter()
                .find(|o| o.alert.key() == AlertKey::Absent)
                .expect("observed");
            assert_eq!(o.transition, transition, "{case}");
            assert_eq!(o.threshold, None, "{case}");
        }
        let page = evaluate(
            &waits,
            &InstanceStatus::pending(&waits, waits.id.to_string(), Labels::new()),
            |_| AlertPhase::Inactive,
            &silent,
            at(),
        );
        let absent = page.status.absent.expect("an absent alert");
        assert_eq!(
            (absent.severity, absent.for_duration.as_str()),
            (crate::catalog::Severity::Page, "10m")
        );
        let plain = slo("");
        let none = evaluate(
            &plain,
            &InstanceStatus::pending(&plain, plain.id.to_string(), Labels::new()),
            |_| AlertPhase::Inactive,
            &silent,
            at(),
        );
        assert!(none.status.absent.is_none(), "off unless the catalog asks");
    }

    #[test]
    fn burn_rates_and_budget_follow_the_sums() {
        let slo = slo("");
        // 0.2% errors all window long: burn rate 2 everywhere, budget overspent by 100%.
        let sums = sums(&slo, 1000.0, 0.002, i64::MAX / 120_000);
        let pending = InstanceStatus::pending(&slo, slo.id.to_string(), Labels::new());
        let s = evaluate(&slo, &pending, |_| AlertPhase::Inactive, &sums, at()).status;
        for (window, rate) in &s.burn_rates {
            let rate = rate.expect("a rate");
            assert!((rate - 2.0).abs() < 1e-9, "{window}: {rate}");
        }
        let remaining = s.error_budget.remaining.expect("remaining");
        assert!((remaining + 1.0).abs() < 1e-9, "{remaining}");
        assert_eq!(s.error_budget.exhaustion_at, Some(at().time()));
        assert_eq!(s.id, pending.id);
    }

    #[test]
    fn previous_phases_carry_the_for_clock() {
        let slo = slo("    alerting:\n      for: 5m\n");
        let sums = sums(&slo, 100.0, 0.5, 60);
        let pending = InstanceStatus::pending(&slo, slo.id.to_string(), Labels::new());
        let since = at().time() - chrono::Duration::minutes(5);
        let eval = evaluate(
            &slo,
            &pending,
            |key| match key {
                AlertKey::Tier(name) if name == "page-1h" => AlertPhase::Pending { since },
                _ => AlertPhase::Inactive,
            },
            &sums,
            at(),
        );
        let page = &eval.status.alerts[0];
        assert_eq!(
            (page.tier.as_str(), page.state),
            ("page-1h", AlertState::Firing)
        );
        assert_eq!(
            eval.observations[0].transition,
            Some(crate::engine::Transition::Firing)
        );
        let six = &eval.status.alerts[1];
        assert_eq!(
            six.state,
            AlertState::Pending,
            "the 6h tier starts its own clock"
        );
    }

    #[test]
    fn exhaustion_beyond_the_horizon_is_none_not_a_panic() {
        let now = at().time();
        #[rustfmt::skip]
        let cases = [
            (Some(ExhaustionEta::In { seconds: 60.0 }),     Some(now + chrono::Duration::minutes(1))),
            (Some(ExhaustionEta::In { seconds: 1e300 }),    None),
            (Some(ExhaustionEta::In { seconds: f64::INFINITY }), None),
            (Some(ExhaustionEta::In { seconds: f64::NAN }), None),
            (Some(ExhaustionEta::In { seconds: 101.0 * 365.0 * 86_400.0 }), None),
            (Some(ExhaustionEta::AlreadyExhausted),         Some(now)),
            (Some(ExhaustionEta::Never),                    None),
            (None,                                          None),
        ];
        for (eta, want) in cases {
            assert_eq!(exhaustion_at(eta, now), want, "{eta:?}");
        }
    }
}

#[cfg(test)]
mod never_panics {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::catalog::{self, Objective, SloWindow};
    use crate::engine::EventCounts;
    use crate::labels::Labels;

    /// Counts from the edges: zero, the tiniest and the largest numbers, and
    /// ordinary ones; good may exceed total (buckets of two series scraped
    /// a moment apart) or go negative.
    fn count() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(1e-300),
            Just(1.0),
            Just(1e300),
            Just(f64::MAX),
            Just(-1.0),
            0.0..1e12f64,
        ]
    }

    fn counts() -> impl Strategy<Value = EventCounts> {
        (count(), count()).prop_map(|(good, total)| EventCounts { good, total })
    }

    fn base() -> Slo {
        let source = "version: burnrate/v1\nservice: s\nslos:\n  - name: a\n    objective: 99.9\n    indicator:\n      bool_gauge:\n        metric: up\n    alerting:\n      budget_exhausted: true\n";
        match catalog::load_str(Path::new("t.yaml"), source).into_result() {
            Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
            Err(d) => panic!("{d:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_objective_window_and_counts(
            ppb in prop_oneof![Just(1u64), Just(500_000_000), Just(999_999_999), 1u64..999_999_999],
            window_mins in prop_oneof![Just(60u64), Just(5 * 365 * 24 * 60), 60u64..5 * 365 * 24 * 60],
            windows in proptest::collection::vec(counts(), REPORTED_WINDOWS.len() + 2),
            slo_window in counts(),
            absent in any::<bool>(),
            at_mins in prop_oneof![Just(0i64), Just(29_000_000), 0i64..30_000_000],
        ) {
            let mut slo = base();
            // The objective in parts per billion: 0.000000001 to 0.999999999.
            let objective = Objective::parse_ratio(&format!("0.{ppb:09}")).expect("an objective");
            slo.objective = objective;
            slo.window = SloWindow::Rolling(Duration::from_mins(window_mins));
            let plan = WindowPlan::new(&slo, Minute::nth(at_mins));
            let sums = WindowSums {
                windows: plan.windows.iter().copied().zip(windows.iter().copied().cycle()).collect(),
                slo_window,
                corrected: None,
                absent,
            };
            let pending = InstanceStatus::pending(&slo, slo.id.to_string(), Labels::new());
            let eval = evaluate(&slo, &pending, |_| AlertPhase::Inactive, &sums, plan.at);
            let s = eval.status;
            if let Some(t) = s.error_budget.exhaustion_at {
                prop_assert!(t >= plan.at.time());
            }
            prop_assert_eq!(s.alerts.len(), slo.alerting.tiers.len());
            prop_assert!(serde_json::to_string(&s).is_ok());
        }
    }
}

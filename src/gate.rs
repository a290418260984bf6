//! The release gate: allow, deny or "cannot decide" for a service (or one of
//! its SLOs), from each SLO's [`GatePolicy`] and the current status of its
//! instances. Pure: no I/O, so every rule is covered by table tests.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{GatePolicy, NoDataDecision, Severity};
use crate::duration::Duration;
use crate::evaluation::{AlertState, DataState, InstanceStatus};

/// The answer for one instance, one SLO, or the whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    /// The gate cannot judge (no data, not evaluated yet, Prometheus unreachable).
    Undecided,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Undecided => "undecided",
            Decision::Deny => "deny",
        }
    }

    /// Deny beats undecided, which beats allow; nothing to judge is undecided.
    pub fn combine(decisions: impl IntoIterator<Item = Decision>) -> Decision {
        decisions.into_iter().max().unwrap_or(Decision::Undecided)
    }
}

impl From<NoDataDecision> for Decision {
    fn from(d: NoDataDecision) -> Self {
        match d {
            NoDataDecision::Allow => Decision::Allow,
            NoDataDecision::Deny => Decision::Deny,
            NoDataDecision::Undecided => Decision::Undecided,
        }
    }
}

/// What the gate looks at in an instance's status.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub data_state: DataState,
    /// Ratio of the budget left (1 untouched, 0 spent, negative overspent).
    pub budget_remaining: Option<f64>,
    /// Alerts firing now: (tier name, severity). The budget-exhausted alert is `budget_exhausted`.
    pub firing: Vec<(String, Severity)>,
    /// Set when the last evaluation is older than a fresh one may be:
    /// (its age, the limit). A stuck scheduler must not keep allowing.
    pub outdated: Option<(Duration, Duration)>,
}

/// When the gate asks, and how old an evaluation may be by then.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    pub now: DateTime<Utc>,
    pub max_age: Duration,
}

impl Facts {
    pub fn of(status: &InstanceStatus, freshness: &Freshness) -> Facts {
        let mut firing: Vec<(String, Severity)> = status
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| (a.tier.clone(), a.severity))
            .collect();
        if let Some(e) = &status.budget_exhausted
            && e.state == AlertState::Firing
        {
            firing.push(("budget_exhausted".to_string(), e.severity));
        }
        Facts {
            data_state: status.data_state,
            budget_remaining: status.error_budget.remaining.filter(|r| r.is_finite()),
            firing,
            outdated: freshness.outdated(status.evaluated_at),
        }
    }
}

impl Freshness {
    /// (age in whole seconds, limit) when an evaluation at `at` is too old.
    fn outdated(&self, at: Option<DateTime<Utc>>) -> Option<(Duration, Duration)> {
        let age = (self.now - at?).num_seconds().max(0) as u64;
        let age = Duration::from_secs(age);
        (age > self.max_age).then_some((age, self.max_age))
    }
}

/// One instance's decision and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    pub reasons: Vec<String>,
}

/// Judges one instance against its SLO's policy.
///
/// * `pending`, `no_data` and `stale` instances, instances whose last
///   evaluation is outdated, and any instance without a budget figure are
///   decided by `on_no_data`;
/// * otherwise (`ok`, `low_traffic`) the instance is denied while its budget
///   remaining is below `min_budget_remaining` or while an alert of a severity
///   in `deny_when_firing` fires, and allowed otherwise.
pub fn judge(policy: &GatePolicy, facts: &Facts) -> Verdict {
    let no_data = |why: String| {
        let decision = Decision::from(policy.on_no_data);
        Verdict {
            decision,
            reasons: vec![format!(
                "{why}; the gate policy says {} when there is no data (on_no_data)",
                match policy.on_no_data {
                    NoDataDecision::Allow => "allow",
                    NoDataDecision::Deny => "deny",
                    NoDataDecision::Undecided => "it cannot decide",
                }
            )],
        }
    };
    let remaining = match (facts.data_state, facts.budget_remaining) {
        (DataState::Pending, _) => return no_data("not evaluated yet".to_string()),
        (DataState::NoData, _) => return no_data("no events in the SLO window".to_string()),
        (DataState::Stale, _) => {
            return no_data(
                "the last evaluation failed (Prometheus or the database unreachable), so the status is stale".to_string(),
            );
        }
        (_, None) => return no_data("no error budget figure".to_string()),
        (_, Some(r)) => r,
    };
    // Checked after `stale`, which names the real cause when cycles fail.
    if let Some((age, limit)) = facts.outdated {
        return no_data(format!(
            "the last evaluation is {age} old, more than the {limit} a current status may be \
             (the scheduler is behind or stuck)"
        ));
    }
    let mut reasons = Vec::new();
    if remaining < policy.min_budget_remaining {
        reasons.push(format!(
            "error budget remaining {} is below the minimum of {}",
            percent(remaining),
            percent(policy.min_budget_remaining)
        ));
    }
    for (tier, severity) in &facts.firing {
        if policy.deny_when_firing.contains(severity) {
            reasons.push(format!("alert `{tier}` ({}) is firing", severity.as_str()));
        }
    }
    if !reasons.is_empty() {
        return Verdict {
            decision: Decision::Deny,
            reasons,
        };
    }
    let mut why = format!(
        "error budget remaining {} is at or above the minimum of {}",
        percent(remaining),
        percent(policy.min_budget_remaining)
    );
    if !policy.deny_when_firing.is_empty() {
        let severities: Vec<&str> = policy.deny_when_firing.iter().map(|s| s.as_str()).collect();
        why.push_str(&format!(
            ", and no {} alert is firing",
            severities.join(" or ")
        ));
    }
    if facts.data_state == DataState::LowTraffic {
        why.push_str(" (low traffic: few events in the window)");
    }
    Verdict {
        decision: Decision::Allow,
        reasons: vec![why],
    }
}

/// A ratio as a percentage for people: `0.1234` → `12.34%`.
pub fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    let text = format!("{p:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min: f64, deny: &[Severity], on_no_data: NoDataDecision) -> GatePolicy {
        GatePolicy {
            min_budget_remaining: min,
            deny_when_firing: deny.to_vec(),
            on_no_data,
        }
    }

    fn facts(state: DataState, remaining: Option<f64>, firing: &[(&str, Severity)]) -> Facts {
        Facts {
            data_state: state,
            budget_remaining: remaining,
            firing: firing.iter().map(|(t, s)| (t.to_string(), *s)).collect(),
            outdated: None,
        }
    }

    fn outdated(facts: Facts) -> Facts {
        Facts {
            outdated: Some((Duration::from_mins(12), Duration::from_mins(5))),
            ..facts
        }
    }

    #[test]
    fn decisions_follow_the_policy() {
        use DataState::*;
        use Decision::*;
        use NoDataDecision as N;
        use Severity::*;
        let default = GatePolicy::default();
        let strict = policy(0.2, &[Page, Ticket], N::Deny);
        let lenient = policy(-1.0, &[], N::Allow);
        #[rustfmt::skip]
        let cases: Vec<(&str, &GatePolicy, Facts, Decision, &str)> = vec![
            ("healthy", &default, facts(Ok, Some(0.8), &[]), Allow, "80% is at or above the minimum of 0%"),
            ("exactly at the minimum", &strict, facts(Ok, Some(0.2), &[]), Allow, "20% is at or above"),
            ("budget spent", &default, facts(Ok, Some(-0.05), &[]), Deny, "-5% is below the minimum of 0%"),
            ("below a reserve", &strict, facts(Ok, Some(0.19), &[]), Deny, "19% is below the minimum of 20%"),
            ("page firing", &default, facts(Ok, Some(0.9), &[("page", Page)]), Deny, "alert `page` (page) is firing"),
            ("ticket firing, only pages deny", &default, facts(Ok, Some(0.9), &[("ticket", Ticket)]), Allow, "no page alert"),
            ("ticket firing, tickets deny", &strict, facts(Ok, Some(0.9), &[("slow", Ticket)]), Deny, "`slow` (ticket)"),
            ("exhausted alert", &default, facts(Ok, Some(0.5), &[("budget_exhausted", Page)]), Deny, "budget_exhausted"),
            ("both reasons", &default, facts(Ok, Some(-1.0), &[("page", Page)]), Deny, "below the minimum"),
            ("low traffic judged", &default, facts(LowTraffic, Some(0.5), &[]), Allow, "low traffic"),
            ("low traffic denied", &default, facts(LowTraffic, Some(-0.5), &[]), Deny, "below"),
            ("pending, default", &default, facts(Pending, None, &[]), Undecided, "not evaluated yet"),
            ("no data, default", &default, facts(NoData, None, &[]), Undecided, "cannot decide"),
            ("no data, deny", &strict, facts(NoData, None, &[]), Deny, "says deny"),
            ("no data, allow", &lenient, facts(NoData, None, &[]), Allow, "says allow"),
            ("stale even with numbers", &default, facts(Stale, Some(0.9), &[]), Undecided, "stale"),
            ("stale, allow", &lenient, facts(Stale, Some(-3.0), &[("page", Page)]), Allow, "stale"),
            ("ok without a budget figure", &default, facts(Ok, None, &[]), Undecided, "no error budget"),
            ("lenient never denies on numbers", &lenient, facts(Ok, Some(-0.5), &[("page", Page)]), Allow, "at or above"),
            ("outdated, healthy numbers", &default, outdated(facts(Ok, Some(0.9), &[])), Undecided, "12m old, more than the 5m"),
            ("outdated, deny", &strict, outdated(facts(Ok, Some(0.9), &[])), Deny, "scheduler is behind or stuck"),
            ("outdated, allow", &lenient, outdated(facts(Ok, Some(-0.5), &[])), Allow, "says allow"),
            ("outdated and stale: stale is the cause", &default, outdated(facts(Stale, Some(0.9), &[])), Undecided, "Prometheus or the database unreachable"),
        ];
        for (name, policy, facts, want, reason) in cases {
            let verdict = judge(policy, &facts);
            assert_eq!(verdict.decision, want, "{name}: {verdict:?}");
            assert!(
                verdict.reasons.iter().any(|r| r.contains(reason)),
                "{name}: reasons {:?} do not mention `{reason}`",
                verdict.reasons
            );
        }
    }

    #[test]
    fn both_deny_reasons_are_listed() {
        let v = judge(
            &GatePolicy::default(),
            &facts(DataState::Ok, Some(-1.0), &[("page", Severity::Page)]),
        );
        assert_eq!(v.reasons.len(), 2, "{v:?}");
    }

    #[test]
    fn facts_mark_an_old_evaluation_outdated() {
        use chrono::TimeZone;
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time");
        let fresh = |mins: i64| Freshness {
            now: at + chrono::Duration::minutes(mins) + chrono::Duration::milliseconds(400),
            max_age: Duration::from_mins(5),
        };
        assert_eq!(fresh(5).outdated(Some(at)), None);
        assert_eq!(
            fresh(6).outdated(Some(at)),
            Some((Duration::from_mins(6), Duration::from_mins(5)))
        );
        assert_eq!(fresh(-1).outdated(Some(at)), None, "clock skew is not age");
        assert_eq!(fresh(60).outdated(None), None, "never evaluated is pending");
    }

    #[test]
    fn combining() {
        use Decision::*;
        assert_eq!(Decision::combine([]), Undecided);
        assert_eq!(Decision::combine([Allow, Allow]), Allow);
        assert_eq!(Decision::combine([Allow, Undecided]), Undecided);
        assert_eq!(Decision::combine([Undecided, Deny, Allow]), Deny);
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0.1234), "12.34%");
        assert_eq!(percent(0.1), "10%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(-0.055), "-5.5%");
        assert_eq!(percent(1.0), "100%");
    }
}

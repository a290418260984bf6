//! The release gate: allow, deny or "cannot decide" for a service (or one of
//! its SLOs), from each SLO's [`GatePolicy`] and the current status of its
//! instances. Pure: no I/O, so every rule is covered by table tests.

use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;

use crate::catalog::{Catalog, GatePolicy, NoDataDecision, Severity, Slo};
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
/// * `pending`, `backfilling`, `no_data` and `stale` instances, instances whose last
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
        (DataState::Backfilling, _) => {
            return no_data("not evaluated yet: its history is still loading".to_string());
        }
        (DataState::NoData, _) => return no_data("no events in the SLO window".to_string()),
        (DataState::Stale, _) => {
            return no_data(
                "the last evaluation failed (Prometheus or the database unreachable), so the status is stale".to_string(),
            );
        }
        (DataState::Absent, _) => {
            return no_data(
                "its series sent no samples for a while (the exporter, the scrape or the selector may be broken)".to_string(),
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

/// Why a gate request names nothing to judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("no service `{service}` in the catalog (services: {known})")]
    UnknownService { service: String, known: String },
    #[error("service `{service}` has no SLO named `{slo}`")]
    UnknownSlo { service: String, slo: String },
}

/// The SLOs a request for `service` (and perhaps one SLO name) judges.
pub fn select<'a>(
    catalog: &'a Catalog,
    service: &str,
    slo: Option<&str>,
) -> Result<Vec<&'a Slo>, SubjectError> {
    let in_service: Vec<&Slo> = catalog
        .slos
        .iter()
        .map(|s| &**s)
        .filter(|s| s.service == service)
        .collect();
    if in_service.is_empty() {
        let mut known: Vec<&str> = catalog.slos.iter().map(|s| s.service.as_str()).collect();
        known.dedup();
        let shown: Vec<&str> = known.iter().take(20).copied().collect();
        let more = if known.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        return Err(SubjectError::UnknownService {
            service: service.to_string(),
            known: format!("{}{more}", shown.join(", ")),
        });
    }
    let Some(name) = slo else {
        return Ok(in_service);
    };
    let found: Vec<&Slo> = in_service.into_iter().filter(|s| s.name == name).collect();
    if found.is_empty() {
        return Err(SubjectError::UnknownSlo {
            service: service.to_string(),
            slo: name.to_string(),
        });
    }
    Ok(found)
}

/// One instance's part in a release decision.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceVerdict {
    /// The instance id (the SLO id when no instance exists yet).
    pub id: String,
    /// The SLO id.
    pub slo: String,
    pub verdict: Verdict,
    pub facts: Facts,
    /// The policy's minimum, finite (ratio of the budget).
    pub min_budget_remaining: f64,
    /// Firing alerts whose severity denies releases under the policy.
    pub denying_alerts: Vec<String>,
    /// When the instance was last evaluated (none: never).
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// The decision for a whole request, with the instances behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub decision: Decision,
    /// One line for people.
    pub summary: String,
    /// The reasons of every instance that decided the outcome, each
    /// prefixed with its id.
    pub reasons: Vec<String>,
    pub instances: Vec<InstanceVerdict>,
}

/// Judges every instance of the chosen SLOs and combines their decisions.
/// `what` names the subject in the summary (`service checkout`,
/// `checkout/availability`). An SLO without instances yet is judged as
/// `pending`, under its own id.
pub fn decide(what: &str, slos: &[(&Slo, Vec<&InstanceStatus>)], freshness: &Freshness) -> Release {
    let mut instances = Vec::new();
    for (slo, statuses) in slos {
        let pending = Facts {
            data_state: DataState::Pending,
            budget_remaining: None,
            firing: Vec::new(),
            outdated: None,
        };
        if statuses.is_empty() {
            instances.push(instance_verdict(slo.id.as_str(), slo, pending, None));
        }
        for status in statuses {
            instances.push(instance_verdict(
                &status.id,
                slo,
                Facts::of(status, freshness),
                status.evaluated_at,
            ));
        }
    }
    let decision = Decision::combine(instances.iter().map(|i| i.verdict.decision));
    let decisive: Vec<&InstanceVerdict> = instances
        .iter()
        .filter(|i| i.verdict.decision == decision)
        .collect();
    let reasons = decisive
        .iter()
        .flat_map(|i| {
            i.verdict
                .reasons
                .iter()
                .map(move |r| format!("{}: {r}", i.id))
        })
        .collect();
    let (n, total) = (decisive.len(), instances.len());
    let summary = match decision {
        Decision::Allow => {
            format!("allow: all {total} SLO instance(s) of {what} are within their gate policy")
        }
        Decision::Deny => {
            format!("deny: {n} of {total} SLO instance(s) of {what} are outside their gate policy")
        }
        Decision::Undecided => {
            format!("undecided: {n} of {total} SLO instance(s) of {what} cannot be judged")
        }
    };
    Release {
        decision,
        summary,
        reasons,
        instances,
    }
}

fn instance_verdict(
    id: &str,
    slo: &Slo,
    facts: Facts,
    evaluated_at: Option<DateTime<Utc>>,
) -> InstanceVerdict {
    let policy = &slo.gate;
    InstanceVerdict {
        id: id.to_string(),
        slo: slo.id.to_string(),
        verdict: judge(policy, &facts),
        min_budget_remaining: if policy.min_budget_remaining.is_finite() {
            policy.min_budget_remaining
        } else {
            0.0
        },
        denying_alerts: facts
            .firing
            .iter()
            .filter(|(_, s)| policy.deny_when_firing.contains(s))
            .map(|(t, _)| t.clone())
            .collect(),
        facts,
        evaluated_at,
    }
}

/// The decision for several services at once: the conjunction (deny beats
/// undecided beats allow), with each service's reasons when it decided the
/// outcome, and a summary naming each service's own decision.
pub fn combine_services(parts: &[(String, Release)]) -> (Decision, String, Vec<String>) {
    if let [(_, only)] = parts {
        return (only.decision, only.summary.clone(), only.reasons.clone());
    }
    let decision = Decision::combine(parts.iter().map(|(_, r)| r.decision));
    let each: Vec<String> = parts
        .iter()
        .map(|(service, r)| format!("{service}: {}", r.decision.as_str()))
        .collect();
    let deciding = parts.iter().filter(|(_, r)| r.decision == decision).count();
    let summary = format!(
        "{}: {deciding} of {} services {} ({})",
        decision.as_str(),
        parts.len(),
        match decision {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Undecided => "cannot be judged",
        },
        each.join(", ")
    );
    let reasons = parts
        .iter()
        .filter(|(_, r)| r.decision == decision)
        .flat_map(|(_, r)| r.reasons.iter().cloned())
        .collect();
    (decision, summary, reasons)
}

/// The instances without an evaluation newer than `after`: what
/// `--wait-fresh` still waits for. Evaluations are stamped with their
/// minute, so "newer" means from a cycle that started after `after`
/// (`cycle_started`, of the snapshot) and stamped no earlier than its minute.
pub fn not_fresh<'a>(
    instances: impl IntoIterator<Item = &'a InstanceVerdict>,
    after: DateTime<Utc>,
    cycle_started: Option<DateTime<Utc>>,
) -> Vec<&'a str> {
    let minute = after
        .duration_trunc(chrono::TimeDelta::minutes(1))
        .unwrap_or(after);
    let cycle_fresh = cycle_started.is_some_and(|c| c > after);
    instances
        .into_iter()
        .filter(|i| !cycle_fresh || i.evaluated_at.is_none_or(|at| at < minute))
        .map(|i| i.id.as_str())
        .collect()
}

/// Five intervals, at least five minutes: slow cycles pass, a stuck scheduler does not.
pub fn max_status_age(interval: Duration) -> Duration {
    Duration::from_millis(interval.as_millis().saturating_mul(5)).max(Duration::from_mins(5))
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
            ("backfilling, default", &default, facts(Backfilling, None, &[]), Undecided, "history is still loading"),
            ("backfilling, deny", &strict, facts(Backfilling, Some(0.9), &[]), Deny, "says deny"),
            ("backfilling, allow", &lenient, facts(Backfilling, None, &[]), Allow, "says allow"),
            ("absent, default", &default, facts(Absent, Some(0.9), &[]), Undecided, "sent no samples"),
            ("absent, deny", &strict, facts(Absent, Some(0.9), &[]), Deny, "says deny"),
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

    fn catalog() -> Catalog {
        let mut source = String::new();
        for (service, names) in [
            ("shop", ["availability", "latency"]),
            ("auth", ["login", "token"]),
        ] {
            source.push_str(&format!(
                "---\nversion: burnrate/v1\nservice: {service}\nslos:\n"
            ));
            for name in names {
                source.push_str(&format!(
                    "  - name: {name}\n    objective: 99\n    indicator:\n      bool_gauge:\n        metric: up{{job=\"{name}\"}}\n"
                ));
            }
        }
        match crate::catalog::load_str(std::path::Path::new("t.yaml"), &source).into_result() {
            Ok(c) => c,
            Err(d) => panic!("{d:?}"),
        }
    }

    #[test]
    fn selecting_the_subject() {
        let c = catalog();
        let names = |r: Result<Vec<&Slo>, SubjectError>| {
            r.map(|v| v.iter().map(|s| s.id.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            names(select(&c, "shop", None)),
            Ok(vec![
                "shop/availability".to_string(),
                "shop/latency".to_string()
            ])
        );
        assert_eq!(
            names(select(&c, "shop", Some("latency"))),
            Ok(vec!["shop/latency".to_string()])
        );
        let unknown = select(&c, "cart", None).expect_err("unknown service");
        assert_eq!(
            unknown.to_string(),
            "no service `cart` in the catalog (services: auth, shop)"
        );
        assert_eq!(
            select(&c, "shop", Some("login"))
                .expect_err("unknown slo")
                .to_string(),
            "service `shop` has no SLO named `login`"
        );
    }

    fn status(slo: &Slo, suffix: &str, state: DataState, remaining: Option<f64>) -> InstanceStatus {
        let mut s = InstanceStatus::pending(slo, format!("{}{suffix}", slo.id), Default::default());
        s.data_state = state;
        s.error_budget.remaining = remaining;
        s
    }

    type Subjects<'a> = Vec<(&'a Slo, Vec<&'a InstanceStatus>)>;

    #[test]
    fn a_release_combines_its_instances() {
        use DataState::*;
        let c = catalog();
        let shop = select(&c, "shop", None).expect("shop");
        let (a, l) = (shop[0], shop[1]);
        let fresh = Freshness {
            now: Utc::now(),
            max_age: Duration::from_days(365 * 100),
        };
        let good_a = status(a, "", Ok, Some(0.9));
        let spent_l = status(l, "{r=\"1\"}", Ok, Some(-0.1));
        let good_l = status(l, "{r=\"2\"}", Ok, Some(0.5));
        let stale_l = status(l, "{r=\"3\"}", Stale, Some(0.5));
        #[rustfmt::skip]
        let cases: Vec<(&str, Subjects, Decision, &str, usize)> = vec![
            ("all healthy",              vec![(a, vec![&good_a]), (l, vec![&good_l])],           Decision::Allow,     "allow: all 2 SLO instance(s) of service shop are within their gate policy", 2),
            ("one spent instance denies", vec![(a, vec![&good_a]), (l, vec![&good_l, &spent_l])], Decision::Deny,      "deny: 1 of 3 SLO instance(s) of service shop are outside their gate policy", 1),
            ("deny beats undecided",     vec![(a, vec![&stale_l]), (l, vec![&spent_l])],          Decision::Deny,      "deny: 1 of 2", 1),
            ("stale is undecided",       vec![(a, vec![&good_a]), (l, vec![&stale_l])],           Decision::Undecided, "undecided: 1 of 2 SLO instance(s) of service shop cannot be judged", 1),
            ("an SLO with no instance yet is pending", vec![(a, vec![&good_a]), (l, vec![])],     Decision::Undecided, "undecided: 1 of 2", 1),
        ];
        for (case, slos, want, summary, reasons) in cases {
            let release = decide("service shop", &slos, &fresh);
            assert_eq!(release.decision, want, "{case}: {release:?}");
            assert!(
                release.summary.starts_with(summary),
                "{case}: {}",
                release.summary
            );
            assert_eq!(
                release.reasons.len(),
                reasons,
                "{case}: {:?}",
                release.reasons
            );
        }
        // Services combine the same way, each keeping its own decision.
        let mut stamped = good_a.clone();
        let at = DateTime::from_timestamp(1_772_366_400, 0).expect("a minute");
        stamped.evaluated_at = Some(at);
        let ok = decide("a", &[(a, vec![&stamped])], &fresh);
        let spent = decide("l", &[(l, vec![&spent_l])], &fresh);
        let (d, summary, reasons) =
            combine_services(&[("a".into(), ok.clone()), ("l".into(), spent)]);
        assert_eq!((d, reasons.len()), (Decision::Deny, 1), "{summary}");
        assert_eq!(summary, "deny: 1 of 2 services deny (a: allow, l: deny)");
        // Fresh only from a cycle that started after the call, stamped no earlier than its minute.
        let later = Some(at + chrono::TimeDelta::seconds(90));
        assert_eq!(not_fresh(&ok.instances, at, later), Vec::<&str>::new());
        assert_eq!(not_fresh(&ok.instances, at, Some(at)).len(), 1);
        assert_eq!(
            not_fresh(&ok.instances, at + chrono::TimeDelta::seconds(61), later).len(),
            1
        );
        let pending = decide("shop/latency", &[(l, vec![])], &fresh);
        assert_eq!(pending.instances[0].id, "shop/latency");
        assert_eq!(pending.instances[0].facts.data_state, Pending);
        assert!(
            pending.reasons[0].starts_with("shop/latency: not evaluated yet"),
            "{:?}",
            pending.reasons
        );
    }
}

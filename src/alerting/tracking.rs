//! Each instance's alerts between evaluations: the engine's phase plus what
//! delivery needs (the last firing episode once resolved, when it was sent).
//! Pure: the runtime persists transitions and hands the result to the sender.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::AlertSettings;
use crate::engine::{AlertPhase, Transition};
use crate::evaluation::{AlertFigures, AlertKey};
use crate::store::alerts::StoredAlert;

/// Which alert of an instance: a burn-rate tier, or the budget-exhausted alert.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedAlert {
    pub phase: AlertPhase,
    /// The last firing episode once resolved: (started, resolved at). Sent
    /// again as resolved for a while in case Alertmanager missed it.
    pub resolved: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// When it was last handed to the sender. Kept in memory only, so after a
    /// restart a firing alert is sent at once, with its stored start.
    pub last_sent: Option<DateTime<Utc>>,
    /// The numbers of its last evaluation, for re-sending it while cycles fail.
    pub figures: AlertFigures,
}

impl Default for TrackedAlert {
    fn default() -> Self {
        TrackedAlert {
            phase: AlertPhase::Inactive,
            resolved: None,
            last_sent: None,
            figures: AlertFigures::default(),
        }
    }
}

impl TrackedAlert {
    /// An alert as PostgreSQL kept it (never sent since this process started).
    pub fn restored(stored: &StoredAlert) -> TrackedAlert {
        TrackedAlert {
            phase: stored.phase,
            resolved: stored.resolved,
            ..TrackedAlert::default()
        }
    }

    /// What PostgreSQL keeps of this alert.
    pub fn stored(&self, instance_id: i64, alert: &AlertKey) -> StoredAlert {
        StoredAlert {
            instance_id,
            alert: alert.clone(),
            phase: self.phase,
            resolved: self.resolved,
        }
    }

    /// The state after an evaluation moved the phase to `phase` with `transition`.
    pub fn advanced(
        &self,
        phase: AlertPhase,
        transition: Option<Transition>,
        at: DateTime<Utc>,
    ) -> TrackedAlert {
        let mut next = TrackedAlert {
            phase,
            ..self.clone()
        };
        match transition {
            Some(Transition::Firing) => {
                next.resolved = None;
                next.last_sent = None;
            }
            Some(Transition::Resolved) => {
                let started = match self.phase {
                    AlertPhase::Firing { since } => since,
                    _ => at,
                };
                next.resolved = Some((started, at));
                next.last_sent = None;
            }
            Some(Transition::Pending | Transition::Cancelled) | None => {}
        }
        next
    }

    /// `(startsAt, endsAt)` to send at `now`, if anything is due: firing
    /// alerts every resend interval with `endsAt` a few intervals ahead,
    /// resolved ones with their `endsAt` until the retention has passed.
    pub fn due(
        &self,
        now: DateTime<Utc>,
        settings: &AlertSettings,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let resend = settings.resend_interval.to_chrono();
        let resend_due = self.last_sent.is_none_or(|sent| now - sent >= resend);
        match (self.phase, self.resolved) {
            (AlertPhase::Firing { since }, _) if resend_due => {
                Some((since, now + settings.validity().to_chrono()))
            }
            (AlertPhase::Firing { .. }, _) => None,
            (_, Some((started, resolved_at)))
                if resend_due && now - resolved_at <= settings.resolved_retention.to_chrono() =>
            {
                Some((started, resolved_at))
            }
            _ => None,
        }
    }

    /// True when nothing about the alert needs remembering any more.
    pub fn is_idle(&self, now: DateTime<Utc>, settings: &AlertSettings) -> bool {
        self.phase == AlertPhase::Inactive
            && self.resolved.is_none_or(|(_, resolved_at)| {
                now - resolved_at > settings.resolved_retention.to_chrono()
            })
    }
}

/// The alerts of one instance, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceAlerts {
    pub alerts: BTreeMap<AlertKey, TrackedAlert>,
}

impl InstanceAlerts {
    /// The phase of an alert (inactive when unknown).
    pub fn phase(&self, key: &AlertKey) -> AlertPhase {
        self.alerts
            .get(key)
            .map_or(AlertPhase::Inactive, |a| a.phase)
    }

    pub fn get(&self, key: &AlertKey) -> TrackedAlert {
        self.alerts.get(key).cloned().unwrap_or_default()
    }

    pub fn set(&mut self, key: AlertKey, alert: TrackedAlert) {
        self.alerts.insert(key, alert);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::catalog::alerting::AlertingSpec;
    use crate::catalog::model::AlertTier;
    use crate::catalog::objective::Objective;
    use crate::duration::Duration;
    use crate::engine::{EventCounts, evaluate_tier, step};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    fn at(minute: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::minutes(minute)
    }

    /// The 30-day Workbook page tier (1h/5m at 14.4) with `for` and `min_events`.
    fn page_tier(for_mins: u64, min_events: u64) -> AlertTier {
        let (policy, _) = AlertingSpec::default().resolve(Duration::from_days(30));
        let mut tier = policy.tiers[0].clone();
        assert_eq!(tier.name, "page-1h");
        tier.for_duration = Duration::from_mins(for_mins);
        tier.min_events = min_events;
        tier
    }

    /// Per-minute (bad, total) counts: `rate` requests a minute, of which a
    /// share `ratio` fail in minutes `burn_from..burn_to`, none otherwise.
    fn traffic(
        rate: f64,
        burn_from: usize,
        burn_to: usize,
        ratio: f64,
        len: usize,
    ) -> Vec<(f64, f64)> {
        (0..len)
            .map(|m| {
                let bad = if (burn_from..burn_to).contains(&m) {
                    rate * ratio
                } else {
                    0.0
                };
                (bad, rate)
            })
            .collect()
    }

    /// Runs the tier minute by minute (evaluating after each minute's events)
    /// and returns the phase name at each minute and every transition.
    fn run(tier: &AlertTier, minutes: &[(f64, f64)]) -> (String, Vec<(usize, Transition)>) {
        let objective = Objective::parse_percent("99.9").expect("objective");
        let sum = |end: usize, len: usize| {
            minutes[end.saturating_sub(len)..end]
                .iter()
                .map(|&(bad, total)| EventCounts::from_bad(bad, total))
                .sum::<EventCounts>()
        };
        let long = tier.long_window.as_millis() as usize / 60_000;
        let short = tier.short_window.as_millis() as usize / 60_000;
        let mut phase = AlertPhase::Inactive;
        let mut phases = String::new();
        let mut transitions = Vec::new();
        for m in 1..=minutes.len() {
            let eval = evaluate_tier(tier, objective, sum(m, long), sum(m, short));
            let (next, transition) = step(&phase, eval.condition, at(m as i64), tier.for_duration);
            phase = next;
            phases.push(match phase {
                AlertPhase::Inactive => '.',
                AlertPhase::Pending { .. } => 'p',
                AlertPhase::Firing { .. } => 'F',
            });
            if let Some(t) = transition {
                transitions.push((m, t));
            }
        }
        (phases, transitions)
    }

    /// Minute-by-minute runs of the page tier through a burn: it fires only
    /// once both windows burn, waits out `for`, stays quiet below the
    /// minimum of events, and resets within the short window (5m) after the
    /// burn stops although the long window (1h) still burns.
    #[test]
    fn tier_over_time_table() {
        use Transition as T;
        // 120 minutes of 1000 requests a minute; 50% errors in minutes 60..70
        // (indexes). The evaluation after minute 62 is the first whose 1h window
        // holds two burning minutes (1000 errors in 60000, 1.67% > 1.44%).
        let burn = traffic(1000.0, 60, 70, 0.5, 120);
        // Low traffic: 1 request a minute with the same burn.
        let thin = traffic(1.0, 60, 70, 0.5, 120);
        // A burn that stops and starts again before `for` has passed.
        let mut flapping = traffic(1000.0, 60, 62, 0.5, 120);
        for minute in &mut flapping[68..70] {
            *minute = (500.0, 1000.0);
        }
        // (case, tier, traffic, firing minutes as 1-based ranges, transitions)
        #[rustfmt::skip]
        let cases = [
            // The burn stops after minute 70; the 5m short window is clean again
            // at 75 and the alert resolves there, while the 1h window still
            // holds 5000 errors in 60000 (8.3%, 5.8x the threshold).
            ("fires at once and resets with the short window", page_tier(0, 0),    &burn,     vec![(62, T::Firing), (75, T::Resolved)]),
            ("for 5m: pending first",                         page_tier(5, 0),    &burn,     vec![(62, T::Pending), (67, T::Firing), (75, T::Resolved)]),
            ("for longer than the burn: cancelled",           page_tier(15, 0),   &burn,     vec![(62, T::Pending), (75, T::Cancelled)]),
            ("flapping burn restarts the for clock",          page_tier(5, 0),    &flapping, vec![(62, T::Pending), (67, T::Cancelled), (69, T::Pending), (74, T::Firing), (75, T::Resolved)]),
            ("min events met",                                page_tier(0, 1000), &burn,     vec![(62, T::Firing), (75, T::Resolved)]),
            ("min events not met on thin traffic",            page_tier(0, 100),  &thin,     vec![]),
        ];
        for (case, tier, minutes, want) in cases {
            let (phases, got) = run(&tier, minutes);
            assert_eq!(got, want, "{case}: {phases}");
        }
        // Without the guard, one request a minute at 50% errors pages.
        let (_, got) = run(&page_tier(0, 0), &thin);
        assert_eq!(got.first(), Some(&(62, Transition::Firing)));
    }

    #[test]
    fn delivery_schedule_table() {
        let settings = AlertSettings::default();
        let firing = TrackedAlert {
            phase: AlertPhase::Firing { since: at(0) },
            ..TrackedAlert::default()
        };
        let sent_at = |m: i64, a: &TrackedAlert| TrackedAlert {
            last_sent: Some(at(m)),
            ..a.clone()
        };
        let resolved = firing.advanced(AlertPhase::Inactive, Some(Transition::Resolved), at(30));
        let refired = resolved.advanced(
            AlertPhase::Firing { since: at(40) },
            Some(Transition::Firing),
            at(40),
        );
        let pending = TrackedAlert {
            phase: AlertPhase::Pending { since: at(0) },
            ..TrackedAlert::default()
        };
        // (case, alert, now, due (startsAt, endsAt) in minutes)
        #[rustfmt::skip]
        let cases = [
            ("new firing alert is sent at once",         firing.clone(),                 0,  Some((0, 4))),
            ("not again within the resend interval",     sent_at(0, &firing),            0,  None),
            ("again after it, endsAt moves on",          sent_at(0, &firing),            1,  Some((0, 5))),
            ("after a restart (never sent): at once",    firing.clone(),                 20, Some((0, 24))),
            ("resolved: sent at once with endsAt",       resolved.clone(),               30, Some((0, 30))),
            ("resolved: re-sent within the retention",   sent_at(30, &resolved),         44, Some((0, 30))),
            ("resolved: forgotten after the retention",  sent_at(44, &resolved),         46, None),
            ("fires again: new start, no resolved",      refired.clone(),                40, Some((40, 44))),
            ("pending alerts are never sent",            pending,                        3,  None),
        ];
        for (case, alert, now, want) in cases {
            let want = want.map(|(s, e)| (at(s), at(e)));
            assert_eq!(alert.due(at(now), &settings), want, "{case}");
        }
        assert_eq!(refired.resolved, None);
        assert!(!resolved.is_idle(at(40), &settings));
        assert!(resolved.is_idle(at(46), &settings));
    }
}

//! What happens to an instance's alerts after the engine has stepped them in
//! a cycle: transitions go to PostgreSQL first, then memory follows, then
//! whatever is due goes to the sender. A failed write leaves memory as it
//! was, so the next cycle computes the same transition again instead of
//! losing it.

use chrono::{DateTime, Utc};
use tracing::info;

use super::tracking::{InstanceAlerts, TrackedAlert};
use super::{Alerting, PostableAlert, alert_annotations, alert_labels, instance_name};
use crate::catalog::Slo;
use crate::engine::{AlertPhase, step};
use crate::evaluation::{AlertFigures, AlertKey, AlertRef, Observation};
use crate::labels::Labels;
use crate::store::alerts::TransitionRecord;
use crate::store::{Lease, Store, StoreError};

/// One alert's outcome this cycle, before anything is recorded.
pub struct InstanceRef<'a> {
    pub slo: &'a Slo,
    /// The owner's lease: the write is refused once it passed to another replica.
    pub lease: &'a Lease,
    pub id: i64,
    pub group: &'a Labels,
}

/// Records this cycle's transitions, then updates `alerts` and queues what
/// is due for Alertmanager. Alerts tracked but no longer in the policy (a
/// tier removed or switched off) resolve, or are cancelled when pending.
pub async fn commit(
    store: &Store,
    alerting: &Alerting,
    instance: InstanceRef<'_>,
    alerts: &mut InstanceAlerts,
    observations: &[Observation<'_>],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let InstanceRef {
        slo,
        lease,
        id,
        group,
    } = instance;
    let mut records = Vec::new();
    let mut next: Vec<(AlertKey, TrackedAlert)> = Vec::new();
    let mut changed = Vec::new();
    for o in observations {
        let key = o.alert.key();
        let prev = alerts.get(&key);
        let tracked = prev.advanced(o.phase, o.transition, at);
        if let Some(transition) = o.transition {
            let labels = alert_labels(slo, group, o.alert);
            info!(instance = %instance_name(slo, group), alert = key.display_name(), ?transition,
                long_burn_rate = ?o.figures.long_burn_rate, short_burn_rate = ?o.figures.short_burn_rate,
                budget_remaining = ?o.figures.budget_remaining, "alert transition");
            let (long_window, short_window) = match o.alert {
                AlertRef::Tier(t) => (
                    Some(t.long_window.to_string()),
                    Some(t.short_window.to_string()),
                ),
                AlertRef::BudgetExhausted(_) | AlertRef::Absent(_) => (None, None),
            };
            records.push((
                id,
                TransitionRecord {
                    alert: key.clone(),
                    transition,
                    at,
                    started_at: episode_start(&prev.phase, &tracked.phase),
                    severity: o.alert.severity().as_str().to_string(),
                    long_window,
                    short_window,
                    long_burn_rate: o.figures.long_burn_rate,
                    short_burn_rate: o.figures.short_burn_rate,
                    threshold: o.threshold,
                    budget_remaining: o.figures.budget_remaining,
                    labels,
                    reason: None,
                },
            ));
            changed.push(tracked.stored(id, &key));
        }
        next.push((key, tracked));
    }
    // Alerts the policy no longer has: their condition is gone.
    let mut removed = Vec::new();
    for (key, tracked) in &alerts.alerts {
        if next.iter().any(|(k, _)| k == key) {
            continue;
        }
        removed.push(key.clone());
        if tracked.phase == AlertPhase::Inactive {
            continue;
        }
        let (phase, transition) = step(&tracked.phase, false, at, crate::duration::Duration::ZERO);
        let after = TrackedAlert {
            // Its labels cannot be rebuilt without its definition: Alertmanager
            // lets it expire at its last `endsAt` instead.
            resolved: None,
            ..tracked.advanced(phase, transition, at)
        };
        if let Some(transition) = transition {
            records.push((
                id,
                TransitionRecord {
                    alert: key.clone(),
                    transition,
                    at,
                    started_at: episode_start(&tracked.phase, &phase),
                    severity: String::from("unknown"),
                    long_window: None,
                    short_window: None,
                    long_burn_rate: None,
                    short_burn_rate: None,
                    threshold: None,
                    budget_remaining: None,
                    labels: Default::default(),
                    reason: Some("no longer in the SLO's alert policy".into()),
                },
            ));
        }
        changed.push(after.stored(id, key));
    }
    store
        .record_alert_changes(lease, &records, &changed)
        .await?;

    for key in removed {
        alerts.alerts.remove(&key);
    }
    let mut outgoing = Vec::new();
    for ((key, mut tracked), o) in next.into_iter().zip(observations) {
        tracked.figures = o.figures;
        if let Some(due) = alerting
            .sender
            .as_ref()
            .and_then(|_| tracked.due(at, &alerting.settings))
        {
            outgoing.push(postable(slo, group, o.alert, &o.figures, alerting, due));
            tracked.last_sent = Some(at);
        }
        if tracked.is_idle(at, &alerting.settings) {
            alerts.alerts.remove(&key);
        } else {
            alerts.set(key, tracked);
        }
    }
    if let Some(sender) = &alerting.sender {
        sender.send(&outgoing);
    }
    Ok(())
}

/// For a cycle that could not evaluate (Prometheus or the database
/// failing): every alert keeps its phase, and what is due goes out again
/// with the figures of its last evaluation. Prometheus does the same for a
/// rule whose query fails, so a firing alert does not expire in Alertmanager
/// during a monitoring outage.
pub fn resend_unchanged(
    slo: &Slo,
    group: &Labels,
    alerts: &mut InstanceAlerts,
    alerting: &Alerting,
    at: DateTime<Utc>,
) {
    let Some(sender) = &alerting.sender else {
        return;
    };
    let mut outgoing = Vec::new();
    for (key, tracked) in alerts.alerts.iter_mut() {
        // An alert whose definition is gone waits for the next good cycle.
        let (Some(due), Some(alert)) = (tracked.due(at, &alerting.settings), alert_ref(slo, key))
        else {
            continue;
        };
        outgoing.push(postable(slo, group, alert, &tracked.figures, alerting, due));
        tracked.last_sent = Some(at);
    }
    sender.send(&outgoing);
}

/// The catalog definition of a tracked alert, if the SLO still has it.
fn alert_ref<'a>(slo: &'a Slo, key: &AlertKey) -> Option<AlertRef<'a>> {
    match key {
        AlertKey::Tier(name) => slo
            .alerting
            .tiers
            .iter()
            .find(|t| &t.name == name)
            .map(AlertRef::Tier),
        AlertKey::BudgetExhausted => slo
            .alerting
            .budget_exhausted
            .as_ref()
            .map(AlertRef::BudgetExhausted),
        AlertKey::Absent => slo.alerting.absent.as_ref().map(AlertRef::Absent),
    }
}

/// The alert as Alertmanager takes it, with `(startsAt, endsAt)` from `due`.
fn postable(
    slo: &Slo,
    group: &Labels,
    alert: AlertRef<'_>,
    figures: &AlertFigures,
    alerting: &Alerting,
    (starts_at, ends_at): (DateTime<Utc>, DateTime<Utc>),
) -> PostableAlert {
    let labels = alert_labels(slo, group, alert);
    let annotations = alert_annotations(slo, group, alert, &labels, figures, &alerting.settings);
    PostableAlert {
        labels,
        annotations,
        starts_at,
        ends_at,
        generator_url: alerting
            .settings
            .instance_url(&instance_name(slo, group))
            .unwrap_or_default(),
    }
}

/// The start of the episode a transition belongs to: the pending or firing
/// start after it, or before it for a resolution or cancellation.
fn episode_start(before: &AlertPhase, after: &AlertPhase) -> Option<DateTime<Utc>> {
    match (after, before) {
        (AlertPhase::Pending { since } | AlertPhase::Firing { since }, _) => Some(*since),
        (AlertPhase::Inactive, AlertPhase::Pending { since } | AlertPhase::Firing { since }) => {
            Some(*since)
        }
        (AlertPhase::Inactive, AlertPhase::Inactive) => None,
    }
}

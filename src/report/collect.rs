//! Reading what a report needs from PostgreSQL: the stored minutes, alert
//! transitions, corrections added at run time and recorded gate decisions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    AlertFiring, GateDenial, HourFigure, InstanceReport, Report, SourcedCorrection, WeekFigure,
    figures, utc,
};
use crate::catalog::{Catalog, Correction};
use crate::duration::Duration;
use crate::engine::Transition;
use crate::labels::group_key_text;
use crate::store::alerts::TransitionQuery;
use crate::store::gate::GateDecisionQuery;
use crate::store::{Store, StoreError};

/// Which period and services a report covers.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Only these services; all when empty.
    pub services: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Gate decisions are read in pages of this many, newest first.
const DECISION_PAGE: u32 = 1000;

/// The report for `query` over the catalog's SLOs, at `now`.
pub async fn build(
    store: &Store,
    catalog: &Catalog,
    query: &ReportQuery,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let wanted =
        |service: &str| query.services.is_empty() || query.services.iter().any(|s| s == service);
    let (from, to) = (query.from.timestamp_millis(), query.to.timestamp_millis());
    let stored = store.corrections().await?;
    let mut instances = Vec::new();
    for slo in catalog.slos.iter().filter(|s| wanted(&s.service)) {
        let mut corrections: Vec<SourcedCorrection> = slo
            .corrections
            .iter()
            .map(|c| SourcedCorrection {
                correction: c.clone(),
                source: "catalog",
            })
            .collect();
        corrections.extend(
            stored
                .iter()
                .filter(|c| c.applies_to(slo.id.as_str(), &slo.service))
                .map(|c| SourcedCorrection {
                    correction: Correction {
                        reason: c.reason.clone(),
                        start: c.start_at.fixed_offset(),
                        duration: Duration::from_millis(c.duration_ms.max(0) as u64),
                        repeat: None,
                    },
                    source: "api",
                }),
        );
        let firings = firings(store, slo.id.as_str(), query, now).await?;
        for (id, group) in store.instances(slo.id.as_str()).await? {
            let hours = store.load_hours(id, from, to).await?;
            if hours.is_empty() {
                continue;
            }
            let instance = format!("{}{}", slo.id, group_key_text(&group));
            let f = figures(slo, hours, &corrections, from, to);
            let period = f.period;
            instances.push(InstanceReport {
                slo: slo.id.to_string(),
                service: slo.service.clone(),
                objective: slo.objective.ratio(),
                budgeting: if slo.budgeting.timeslices().is_some() {
                    "timeslices"
                } else {
                    "occurrences"
                }
                .to_string(),
                sli: (period.total > 0.0).then(|| period.good / period.total),
                objective_met: (period.total > 0.0)
                    .then(|| period.good / period.total >= slo.objective.ratio()),
                good: period.good,
                total: period.total,
                budget_spent: f.budget_spent,
                weeks: f
                    .weeks
                    .into_iter()
                    .map(|(at, c, spent)| WeekFigure {
                        from: utc(at),
                        good: c.good,
                        total: c.total,
                        budget_spent: spent,
                    })
                    .collect(),
                worst_hours: f
                    .worst_hours
                    .into_iter()
                    .map(|(hour, c)| HourFigure {
                        hour: utc(hour),
                        bad: c.bad(),
                        total: c.total,
                        error_ratio: c.bad() / c.total,
                    })
                    .collect(),
                alert_firings: firings.get(&instance).cloned().unwrap_or_default(),
                corrections: f.corrections,
                id: instance,
            });
        }
    }
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Report {
        from: query.from,
        to: query.to,
        generated_at: now,
        instances,
        gate_denials: denials(store, query).await?,
    })
}

/// Firings that started in the period, per instance, oldest first: a
/// resolved transition carries its start; a firing one without a later
/// resolution still fires.
async fn firings(
    store: &Store,
    slo_id: &str,
    query: &ReportQuery,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<AlertFiring>>, ReportError> {
    let mut out: BTreeMap<String, Vec<AlertFiring>> = BTreeMap::new();
    // Up to the period's end or now, so a resolution after the period counts.
    let entries = store
        .alert_history(
            slo_id,
            &TransitionQuery {
                before: Some(now.max(query.to)),
                since: Some(query.from),
                limit: Some(1000),
                alert: None,
            },
        )
        .await?;
    let end = query.to.min(now);
    let minutes = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_seconds().max(0) as f64 / 60.0;
    for e in entries.iter().rev() {
        let r = &e.record;
        let (started, resolved) = match r.transition {
            Transition::Resolved => match r.started_at {
                Some(s) => (s, Some(r.at)),
                None => continue,
            },
            Transition::Firing => {
                let later = entries.iter().any(|x| {
                    x.instance == e.instance
                        && x.record.alert == r.alert
                        && x.record.transition == Transition::Resolved
                        && x.record.started_at == Some(r.at)
                });
                if later {
                    continue;
                }
                (r.at, None)
            }
            _ => continue,
        };
        if started < query.from || started >= query.to {
            continue;
        }
        out.entry(e.instance.clone())
            .or_default()
            .push(AlertFiring {
                alert: r.alert.display_name().to_string(),
                severity: r.severity.clone(),
                started_at: started,
                resolved_at: resolved,
                minutes: minutes(started, resolved.unwrap_or(end)),
            });
    }
    for list in out.values_mut() {
        list.sort_by_key(|f| f.started_at);
    }
    Ok(out)
}

/// The gate's denials in the period, newest first.
async fn denials(store: &Store, query: &ReportQuery) -> Result<Vec<GateDenial>, ReportError> {
    let mut out = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .gate_decisions(&GateDecisionQuery {
                service: None,
                before_id,
                overridden_only: false,
                limit: DECISION_PAGE,
            })
            .await?;
        let full = page.len() == DECISION_PAGE as usize;
        let last = page.last().map(|r| (r.id, r.decided_at));
        for r in page {
            let in_services =
                query.services.is_empty() || r.services.iter().any(|s| query.services.contains(s));
            if r.gate_decision == "deny"
                && in_services
                && r.decided_at >= query.from
                && r.decided_at < query.to
            {
                out.push(GateDenial {
                    decided_at: r.decided_at,
                    services: r.services,
                    slo: r.slo,
                    actor: r.actor,
                    reasons: r.reasons,
                    override_reason: r.override_reason,
                });
            }
        }
        match last {
            Some((id, at)) if full && at >= query.from => before_id = Some(id),
            _ => break,
        }
    }
    Ok(out)
}

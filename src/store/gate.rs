//! Release-gate decisions made through the API (migrations/0006_gate_decisions.sql).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, query_err};

/// A decision to record.
#[derive(Debug, Clone)]
pub struct NewGateDecision<'a> {
    /// The caller's id for the call, so a retried call is recorded once.
    pub request_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub services: &'a [String],
    pub slo: Option<&'a str>,
    pub decision: &'a str,
    pub gate_decision: &'a str,
    pub reasons: &'a [String],
    pub override_reason: Option<&'a str>,
    pub result: &'a serde_json::Value,
}

/// A recorded decision, as `/api/v1/gate/decisions` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct GateDecisionRecord {
    pub id: i64,
    pub decided_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub services: Vec<String>,
    pub slo: Option<String>,
    pub decision: String,
    pub gate_decision: String,
    #[sqlx(json)]
    pub reasons: Vec<String>,
    pub override_reason: Option<String>,
}

/// Which decisions to list: newest first, before an id (paging), of a service.
#[derive(Debug, Clone, Default)]
pub struct GateDecisionQuery {
    pub service: Option<String>,
    pub before_id: Option<i64>,
    pub overridden_only: bool,
    pub limit: u32,
}

impl Store {
    /// Records a decision; a second call with the same `request_id` records
    /// nothing and returns the first row's id.
    pub async fn record_gate_decision(&self, d: &NewGateDecision<'_>) -> Result<i64, StoreError> {
        let reasons = serde_json::to_value(d.reasons).unwrap_or_default();
        sqlx::query_scalar(
            "with inserted as (
               insert into gate_decisions (request_id, actor, services, slo, decision,
                 gate_decision, reasons, override_reason, result)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               on conflict (request_id) do nothing
               returning id)
             select id from inserted
             union all
             select id from gate_decisions where request_id = $1
             limit 1",
        )
        .bind(d.request_id)
        .bind(d.actor)
        .bind(d.services)
        .bind(d.slo)
        .bind(d.decision)
        .bind(d.gate_decision)
        .bind(reasons)
        .bind(d.override_reason)
        .bind(d.result)
        .fetch_one(self.pool())
        .await
        .map_err(query_err("record a gate decision"))
    }

    /// Recorded decisions, newest first.
    pub async fn gate_decisions(
        &self,
        query: &GateDecisionQuery,
    ) -> Result<Vec<GateDecisionRecord>, StoreError> {
        sqlx::query_as(
            "select id, decided_at, actor, services, slo, decision, gate_decision, reasons,
               override_reason
             from gate_decisions
             where ($1::text is null or $1 = any(services))
               and ($2::bigint is null or id < $2)
               and (not $3 or override_reason is not null)
             order by id desc limit $4",
        )
        .bind(query.service.as_deref())
        .bind(query.before_id)
        .bind(query.overridden_only)
        .bind(i64::from(query.limit.clamp(1, 1000)))
        .fetch_all(self.pool())
        .await
        .map_err(query_err("read gate decisions"))
    }
}

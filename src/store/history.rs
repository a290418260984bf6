//! Reads of the `evaluations` table for the history endpoint.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Store, StoreError, query_err};
use crate::labels::{Labels, group_key_text};

/// Which instance, which span, and the spacing of points.
#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub slo_id: &'a str,
    pub group: &'a Labels,
    /// Inclusive.
    pub from: DateTime<Utc>,
    /// Inclusive.
    pub to: DateTime<Utc>,
    /// Points are the last evaluation in each `[from + k*step, from + (k+1)*step)`.
    pub step_ms: i64,
}

/// One stored evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub at: DateTime<Utc>,
    pub data_state: String,
    pub good: f64,
    pub total: f64,
    pub sli: Option<f64>,
    pub budget_remaining: Option<f64>,
    pub burn_rates: BTreeMap<String, Option<f64>>,
}

type Row = (
    DateTime<Utc>,
    String,
    f64,
    f64,
    Option<f64>,
    Option<f64>,
    serde_json::Value,
);

impl Store {
    /// The last evaluation of each step in `[from, to]`, oldest first; steps
    /// without an evaluation are left out.
    pub async fn history(&self, q: &HistoryQuery<'_>) -> Result<Vec<HistoryRow>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "select evaluated_at, data_state, good, total, sli, budget_remaining, burn_rates from (
               select distinct on (bucket) e.*,
                 floor(extract(epoch from (e.evaluated_at - $3)) * 1000 / $5)::bigint as bucket
               from evaluations e join slo_instances i on i.id = e.instance_id
               where i.slo_id = $1 and i.group_key = $2 and e.evaluated_at >= $3 and e.evaluated_at <= $4
               order by bucket, e.evaluated_at desc
             ) last_per_step order by evaluated_at",
        )
        .bind(q.slo_id)
        .bind(group_key_text(q.group))
        .bind(q.from)
        .bind(q.to)
        .bind(q.step_ms.max(1) as f64)
        .fetch_all(self.pool())
        .await
        .map_err(query_err("read history"))?;
        Ok(rows
            .into_iter()
            .map(
                |(at, data_state, good, total, sli, budget_remaining, burn_rates)| HistoryRow {
                    at,
                    data_state,
                    good,
                    total,
                    sli,
                    budget_remaining,
                    burn_rates: serde_json::from_value(burn_rates).unwrap_or_default(),
                },
            )
            .collect())
    }
}

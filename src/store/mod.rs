//! PostgreSQL: SLO instances, minute buckets in hourly rows, ingestion
//! progress and evaluation history; alert state and history in [`alerts`].

pub mod alerts;
pub mod history;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::engine::EventCounts;
use crate::ingest::history::{HOUR_MS, MINUTE_MS, hour_of};
use crate::ingest::increments::Labels;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed ({what}): {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },
}

fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// One hour's good and total counts, one element per minute (`None`: not fetched).
type MinuteArrays = (Vec<Option<f64>>, Vec<Option<f64>>);
/// An `event_buckets` row: hour, good, total.
type HourRow = (DateTime<Utc>, Vec<Option<f64>>, Vec<Option<f64>>);

/// Ingestion progress of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestionState {
    pub sli_fingerprint: String,
    pub ingested_until: i64,
    pub history_from: i64,
}

/// The canonical text of group labels: `{a="1",b="2"}`, or empty.
pub fn group_key_text(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::catalog::promql::quote(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

pub fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects and applies the migrations in `migrations/`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(StoreError::Connect)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(query_err("ping"))?;
        Ok(())
    }

    /// The instance id for an SLO's label set, created on first sight.
    pub async fn instance_id(&self, slo_id: &str, labels: &Labels) -> Result<i64, StoreError> {
        let key = group_key_text(labels);
        let json = serde_json::to_value(labels).unwrap_or_default();
        let id: i64 = sqlx::query_scalar(
            "insert into slo_instances (slo_id, group_key, group_labels) values ($1, $2, $3)
             on conflict (slo_id, group_key) do update set slo_id = excluded.slo_id returning id",
        )
        .bind(slo_id)
        .bind(&key)
        .bind(json)
        .fetch_one(&self.pool)
        .await
        .map_err(query_err("create instance"))?;
        Ok(id)
    }

    /// All known instances of an SLO: (id, labels).
    pub async fn instances(&self, slo_id: &str) -> Result<Vec<(i64, Labels)>, StoreError> {
        let rows: Vec<(i64, serde_json::Value)> = sqlx::query_as(
            "select id, group_labels from slo_instances where slo_id = $1 order by id",
        )
        .bind(slo_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("list instances"))?;
        Ok(rows
            .into_iter()
            .map(|(id, json)| (id, serde_json::from_value(json).unwrap_or_default()))
            .collect())
    }

    pub async fn ingestion_state(
        &self,
        slo_id: &str,
    ) -> Result<Option<IngestionState>, StoreError> {
        let row: Option<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as("select sli_fingerprint, ingested_until, history_from from ingestion_state where slo_id = $1").bind(slo_id).fetch_optional(&self.pool).await.map_err(query_err("read ingestion state"))?;
        Ok(row.map(|(sli_fingerprint, until, from)| IngestionState {
            sli_fingerprint,
            ingested_until: until.timestamp_millis(),
            history_from: from.timestamp_millis(),
        }))
    }

    /// Forgets an SLO's counts (its SLI changed, so the old counts mean something else).
    pub async fn reset_slo(&self, slo_id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        sqlx::query("delete from slo_instances where slo_id = $1")
            .bind(slo_id)
            .execute(&mut *tx)
            .await
            .map_err(query_err("reset instances"))?;
        sqlx::query("delete from ingestion_state where slo_id = $1")
            .bind(slo_id)
            .execute(&mut *tx)
            .await
            .map_err(query_err("reset ingestion state"))?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(())
    }

    /// Writes buckets (overwriting the minutes given, keeping the others) and
    /// advances the SLO's progress, in one transaction: a crash leaves either
    /// both or neither, and re-ingesting a span rewrites the same values.
    pub async fn write_span(
        &self,
        slo_id: &str,
        buckets: &BTreeMap<i64, BTreeMap<i64, EventCounts>>,
        state: &IngestionState,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        for (&instance, minutes) in buckets {
            let mut hours: BTreeMap<i64, MinuteArrays> = BTreeMap::new();
            for (&minute, counts) in minutes {
                let (good, total) = hours
                    .entry(hour_of(minute))
                    .or_insert_with(|| (vec![None; 60], vec![None; 60]));
                let slot = ((minute - hour_of(minute)) / MINUTE_MS) as usize;
                good[slot] = Some(counts.good);
                total[slot] = Some(counts.total);
            }
            for (hour, (good, total)) in hours {
                sqlx::query(
                    "insert into event_buckets (instance_id, hour, good, total) values ($1, $2, $3, $4)
                     on conflict (instance_id, hour) do update set
                       good = (select array_agg(coalesce(n, o) order by i) from unnest(excluded.good, event_buckets.good) with ordinality as u(n, o, i)),
                       total = (select array_agg(coalesce(n, o) order by i) from unnest(excluded.total, event_buckets.total) with ordinality as u(n, o, i))",
                )
                .bind(instance)
                .bind(to_time(hour))
                .bind(&good)
                .bind(&total)
                .execute(&mut *tx)
                .await
                .map_err(query_err("write buckets"))?;
            }
        }
        sqlx::query(
            "insert into ingestion_state (slo_id, sli_fingerprint, ingested_until, history_from) values ($1, $2, $3, $4)
             on conflict (slo_id) do update set sli_fingerprint = excluded.sli_fingerprint, ingested_until = excluded.ingested_until,
               history_from = least(ingestion_state.history_from, excluded.history_from), updated_at = now()",
        )
        .bind(slo_id)
        .bind(&state.sli_fingerprint)
        .bind(to_time(state.ingested_until))
        .bind(to_time(state.history_from))
        .execute(&mut *tx)
        .await
        .map_err(query_err("write ingestion state"))?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(())
    }

    /// The minute counts of an instance for the hours in `[from, to)`.
    pub async fn load_hours(
        &self,
        instance: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, [EventCounts; 60])>, StoreError> {
        let rows: Vec<HourRow> = sqlx::query_as("select hour, good, total from event_buckets where instance_id = $1 and hour >= $2 and hour < $3 order by hour")
            .bind(instance)
            .bind(to_time(hour_of(from)))
            .bind(to_time(to))
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("load buckets"))?;
        Ok(rows
            .into_iter()
            .map(|(hour, good, total)| {
                let mut minutes = [EventCounts::default(); 60];
                for (i, slot) in minutes.iter_mut().enumerate() {
                    *slot = EventCounts {
                        good: good.get(i).copied().flatten().unwrap_or(0.0),
                        total: total.get(i).copied().flatten().unwrap_or(0.0),
                    };
                }
                (hour.timestamp_millis(), minutes)
            })
            .collect())
    }

    /// Deletes buckets and evaluations older than `before` for an SLO's instances.
    pub async fn prune(&self, slo_id: &str, before: i64) -> Result<u64, StoreError> {
        let cutoff = to_time(hour_of(before) - HOUR_MS);
        let buckets = sqlx::query("delete from event_buckets b using slo_instances i where b.instance_id = i.id and i.slo_id = $1 and b.hour < $2").bind(slo_id).bind(cutoff).execute(&self.pool).await.map_err(query_err("prune buckets"))?;
        let evals = sqlx::query("delete from evaluations e using slo_instances i where e.instance_id = i.id and i.slo_id = $1 and e.evaluated_at < $2").bind(slo_id).bind(cutoff).execute(&self.pool).await.map_err(query_err("prune evaluations"))?;
        Ok(buckets.rows_affected() + evals.rows_affected())
    }

    /// Records one evaluation for history.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_evaluation(
        &self,
        instance: i64,
        at: i64,
        data_state: &str,
        events: EventCounts,
        sli: Option<f64>,
        budget_remaining: Option<f64>,
        burn_rates: &BTreeMap<String, Option<f64>>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into evaluations (instance_id, evaluated_at, data_state, good, total, sli, budget_remaining, burn_rates) values ($1, $2, $3, $4, $5, $6, $7, $8)
             on conflict (instance_id, evaluated_at) do update set data_state = excluded.data_state, good = excluded.good, total = excluded.total,
               sli = excluded.sli, budget_remaining = excluded.budget_remaining, burn_rates = excluded.burn_rates",
        )
        .bind(instance)
        .bind(to_time(at))
        .bind(data_state)
        .bind(events.good)
        .bind(events.total)
        .bind(sli)
        .bind(budget_remaining)
        .bind(serde_json::to_value(burn_rates).unwrap_or_default())
        .execute(&self.pool)
        .await
        .map_err(query_err("record evaluation"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_are_canonical() {
        assert_eq!(group_key_text(&Labels::new()), "");
        let labels: Labels = [
            ("route".to_string(), "/a\"b".to_string()),
            ("code".to_string(), "5xx".to_string()),
        ]
        .into();
        assert_eq!(group_key_text(&labels), "{code=\"5xx\",route=\"/a\\\"b\"}");
    }
}

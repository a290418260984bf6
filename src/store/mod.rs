//! PostgreSQL: SLO instances, minute buckets in hourly rows, ingestion
//! progress and evaluation history; alert state and history in [`alerts`].

pub mod alerts;
pub mod corrections;
pub mod gate;
pub mod history;
pub mod leases;
pub mod prune;
pub mod retired;
mod spans;
pub mod status;

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::duration::Duration;
use crate::engine::EventCounts;
use crate::ingest::packed::{self, HourMinutes};
use crate::labels::{Labels, group_key_text};
use crate::time::{hour_of, to_time};
pub use leases::Lease;
pub use prune::{PruneDone, PruneJob, PruneOutcomes, PrunePlan, Pruned};
pub use retired::retired_key;
pub use spans::{EvaluationRow, ROWS_PER_STATEMENT, SpanWrite};

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
    #[error(
        "event_buckets row of instance {instance}, hour {hour}, cannot be read ({reason}); \
         delete it and burnrate fetches the hour again while Prometheus still has it"
    )]
    DamagedRow {
        instance: i64,
        hour: DateTime<Utc>,
        reason: packed::UnpackError,
    },
    #[error("the lease of {slo_id} (epoch {epoch}) has passed to another replica: write refused")]
    Fenced { slo_id: String, epoch: i64 },
}

impl StoreError {
    /// Which step failed, in words that name no table, host or user.
    pub fn step(&self) -> &'static str {
        match self {
            StoreError::Connect(_) => "connecting",
            StoreError::Migrate(_) => "migrating the schema",
            StoreError::Query { what, .. } => what,
            StoreError::DamagedRow { .. } => "reading a damaged row",
            StoreError::Fenced { .. } => "writing after the lease passed to another replica",
        }
    }
}

fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// An `event_buckets` row: packed counts, or the arrays of rows written
/// before migration 0003.
#[derive(sqlx::FromRow)]
struct BucketRow {
    instance_id: i64,
    hour: DateTime<Utc>,
    packed: Option<Vec<u8>>,
    good: Option<Vec<Option<f64>>>,
    total: Option<Vec<Option<f64>>>,
}

impl BucketRow {
    /// Instance, hour (Unix ms) and minutes as memory holds them.
    fn loaded(&self) -> Result<(i64, i64, [EventCounts; 60]), StoreError> {
        let minutes = self.minutes()?.map(Option::unwrap_or_default);
        Ok((self.instance_id, self.hour.timestamp_millis(), minutes))
    }

    /// The minute counts, whichever way the row was written.
    fn minutes(&self) -> Result<HourMinutes, StoreError> {
        if let Some(bytes) = &self.packed {
            return packed::unpack(bytes).map_err(|reason| StoreError::DamagedRow {
                instance: self.instance_id,
                hour: self.hour,
                reason,
            });
        }
        let at = |column: &Option<Vec<Option<f64>>>, i: usize| {
            column.as_ref().and_then(|v| v.get(i).copied().flatten())
        };
        Ok(std::array::from_fn(|i| {
            match (at(&self.good, i), at(&self.total, i)) {
                (None, None) => None,
                (good, total) => Some(EventCounts {
                    good: good.unwrap_or(0.0),
                    total: total.unwrap_or(0.0),
                }),
            }
        }))
    }
}

/// One stored hour of one instance, as [`Store::stored_hours`] lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHour {
    /// `slo_id` followed by the group key.
    pub instance: String,
    pub hour: DateTime<Utc>,
    pub minutes: HourMinutes,
}

/// Ingestion progress of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestionState {
    pub sli_fingerprint: String,
    pub ingested_until: i64,
    pub history_from: i64,
    /// How far back data is kept; none until the first prune.
    pub retention: Option<Retention>,
}

/// How far back an SLO's data is kept, and when that span was last needed.
/// A shrunk window keeps the longer span for a grace period, so that a
/// mistaken edit reverted in time loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub kept: Duration,
    pub needed_at: DateTime<Utc>,
}

impl Retention {
    /// The retention after a prune at `now` that needs `needed`: it grows at
    /// once, and shrinks only once `grace` has passed since the longer span
    /// was last needed.
    pub fn next(
        previous: Option<Retention>,
        needed: Duration,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Retention {
        match previous {
            Some(p) if needed < p.kept && (now - p.needed_at) < grace.to_chrono() => p,
            _ => Retention {
                kept: needed,
                needed_at: now,
            },
        }
    }
}

/// How a connection pool is sized and how long one statement may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub statement_timeout: std::time::Duration,
}

impl PoolSettings {
    /// Ingestion and evaluation: a backfill chunk's write may take a while.
    pub const INGESTION: PoolSettings = PoolSettings {
        max_connections: 8,
        statement_timeout: std::time::Duration::from_secs(120),
    };
    /// API readers (history, alert history, `/readyz`): short and bounded, on
    /// connections of their own so they can never starve ingestion.
    pub const API: PoolSettings = PoolSettings {
        max_connections: 4,
        statement_timeout: std::time::Duration::from_secs(5),
    };
}

/// How long a transaction may sit idle before PostgreSQL ends its session.
const IDLE_IN_TRANSACTION: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects and applies the migrations in `migrations/`.
    /// Connects a pool for ingestion and evaluation and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Store::connect_with(url, PoolSettings::INGESTION).await?;
        sqlx::migrate!("./migrations").run(&store.pool).await?;
        Ok(store)
    }

    /// Connects a pool of its own (no migrations), e.g. for API readers.
    pub async fn connect_with(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::Connect)?
            .options([
                (
                    "statement_timeout",
                    format!("{}ms", settings.statement_timeout.as_millis()),
                ),
                // A replica frozen inside a transaction would hold its lease
                // row, and block the takeover, for as long as it sleeps.
                (
                    "idle_in_transaction_session_timeout",
                    format!("{}ms", IDLE_IN_TRANSACTION.as_millis()),
                ),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
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
        type Row = (
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<i64>,
            Option<DateTime<Utc>>,
        );
        let row: Option<Row> = sqlx::query_as(
            "select sli_fingerprint, ingested_until, history_from, retention_ms, retention_needed_at
             from ingestion_state where slo_id = $1",
        )
        .bind(slo_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err("read ingestion state"))?;
        Ok(row.map(
            |(sli_fingerprint, until, from, kept, needed_at)| IngestionState {
                sli_fingerprint,
                ingested_until: until.timestamp_millis(),
                history_from: from.timestamp_millis(),
                retention: kept.zip(needed_at).map(|(kept, needed_at)| Retention {
                    kept: Duration::from_millis(kept.max(0) as u64),
                    needed_at,
                }),
            },
        ))
    }

    /// The minute counts of an instance for the hours in `[from, to)`.
    pub async fn load_hours(
        &self,
        instance: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, [EventCounts; 60])>, StoreError> {
        let rows: Vec<BucketRow> = sqlx::query_as(
            "select b.instance_id, b.hour, b.packed, b.good, b.total from event_buckets b
             where b.instance_id = $1 and b.hour >= $2 and b.hour < $3 order by b.hour",
        )
        .bind(instance)
        .bind(to_time(hour_of(from)))
        .bind(to_time(to))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("load buckets"))?;
        rows.iter()
            .map(|row| row.loaded().map(|(_, hour, minutes)| (hour, minutes)))
            .collect()
    }

    /// The stored minutes of the given `(instance, hour)` pairs (hours as
    /// Unix ms, hour-aligned) in one statement; pairs with no row are left
    /// out. A cycle loads the edge hours of a batch of SLOs this way.
    pub async fn load_hours_of(
        &self,
        wanted: &[(i64, i64)],
    ) -> Result<Vec<(i64, i64, [EventCounts; 60])>, StoreError> {
        let (ids, hours): (Vec<i64>, Vec<DateTime<Utc>>) = wanted
            .iter()
            .map(|&(id, hour)| (id, to_time(hour_of(hour))))
            .unzip();
        let rows: Vec<BucketRow> = sqlx::query_as(
            "select b.instance_id, b.hour, b.packed, b.good, b.total from event_buckets b
             join unnest($1::bigint[], $2::timestamptz[]) as w(instance_id, hour)
               on b.instance_id = w.instance_id and b.hour = w.hour",
        )
        .bind(&ids)
        .bind(&hours)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("load buckets"))?;
        rows.iter().map(BucketRow::loaded).collect()
    }

    /// Every stored hour of every instance, ordered by instance and hour:
    /// for comparing two databases.
    pub async fn stored_hours(&self) -> Result<Vec<StoredHour>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Listed {
            key: String,
            #[sqlx(flatten)]
            row: BucketRow,
        }
        let rows: Vec<Listed> = sqlx::query_as(
            "select i.slo_id || i.group_key as key, b.instance_id, b.hour, b.packed, b.good, b.total
             from event_buckets b join slo_instances i on i.id = b.instance_id order by 1, b.hour",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("list buckets"))?;
        rows.into_iter()
            .map(|Listed { key, row }| {
                Ok(StoredHour {
                    minutes: row.minutes()?,
                    instance: key,
                    hour: row.hour,
                })
            })
            .collect()
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

#[cfg(test)]
mod retention_tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn retention_grows_at_once_and_shrinks_after_the_grace_period() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .expect("time");
        let hour = |h: i64| t0 + chrono::Duration::hours(h);
        let grace = Duration::from_days(7);
        let kept = |days: u64, at: i64| Retention {
            kept: Duration::from_days(days),
            needed_at: hour(at),
        };
        #[rustfmt::skip]
        let cases = [
            // case,                           previous,            needed (days), at (hours), want
            ("first prune",                    None,                30, 0,   kept(30, 0)),
            ("same need: refreshed",           Some(kept(30, 0)),   30, 24,  kept(30, 24)),
            ("grows at once",                  Some(kept(7, 0)),    30, 24,  kept(30, 24)),
            ("shrinks: kept within the grace", Some(kept(30, 24)),  7,  120, kept(30, 24)),
            ("kept one hour before the end",   Some(kept(30, 24)),  7,  191, kept(30, 24)),
            ("shrinks once the grace passed",  Some(kept(30, 24)),  7,  192, kept(7, 192)),
            ("reverted in time: nothing lost", Some(kept(30, 24)),  30, 144, kept(30, 144)),
        ];
        for (case, previous, needed, at, want) in cases {
            let got = Retention::next(previous, Duration::from_days(needed), hour(at), grace);
            assert_eq!(got, want, "{case}");
        }
        assert_eq!(retired_key("shop/a", "v1:x"), "shop/a#v1:x");
    }
}

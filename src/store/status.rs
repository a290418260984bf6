//! The latest statuses of every SLO, shared between replicas: each owner
//! writes those of its SLOs after every cycle, and every replica reads the
//! others', so the API answers the same wherever it is asked.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, query_err};

/// One SLO's statuses as its owner wrote them.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedStatus {
    pub slo_id: String,
    /// The instances' statuses, as JSON (the API's own shape).
    pub statuses: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

/// SLOs per statement when sharing statuses: a statement carrying every
/// SLO's statuses (several kilobytes each) left a connection's write buffer
/// that large for good. Each row stands alone, so the statements need not
/// share a transaction.
pub const STATUS_ROWS_PER_STATEMENT: usize = 250;

impl Store {
    /// Writes the statuses of SLOs `owner` holds at these epochs. A row
    /// whose lease has passed to another replica is not written: only the
    /// current owner's answers are shared.
    pub async fn share_statuses(
        &self,
        owner: Uuid,
        rows: &[(String, i64, serde_json::Value)],
    ) -> Result<u64, StoreError> {
        let mut written = 0;
        for part in rows.chunks(STATUS_ROWS_PER_STATEMENT) {
            let ids: Vec<&str> = part.iter().map(|(id, _, _)| id.as_str()).collect();
            let epochs: Vec<i64> = part.iter().map(|(_, epoch, _)| *epoch).collect();
            let statuses: Vec<&serde_json::Value> = part.iter().map(|(_, _, s)| s).collect();
            written += sqlx::query(
                "insert into slo_status (slo_id, epoch, statuses, updated_at)
                 select u.slo_id, u.epoch, u.statuses, clock_timestamp()
                 from unnest($1::text[], $2::int8[], $3::jsonb[]) as u(slo_id, epoch, statuses)
                 join slo_leases l on l.slo_id = u.slo_id and l.epoch = u.epoch and l.owner = $4
                 on conflict (slo_id) do update set epoch = excluded.epoch, statuses = excluded.statuses,
                   updated_at = excluded.updated_at
                 where slo_status.epoch <= excluded.epoch",
            )
            .bind(&ids)
            .bind(&epochs)
            .bind(&statuses)
            .bind(owner)
            .execute(self.pool())
            .await
            .map_err(query_err("share statuses"))?
            .rows_affected();
        }
        Ok(written)
    }

    /// Statuses written at or after `since` (all of them without it),
    /// except those of SLOs whose lease `except_owner` holds: a replica has
    /// its own statuses in memory and need not read them back.
    pub async fn shared_statuses(
        &self,
        since: Option<DateTime<Utc>>,
        except_owner: Option<Uuid>,
    ) -> Result<Vec<SharedStatus>, StoreError> {
        let rows: Vec<(String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
            "select s.slo_id, s.statuses, s.updated_at from slo_status s
             where ($1::timestamptz is null or s.updated_at >= $1)
               and not exists (select 1 from slo_leases l where l.slo_id = s.slo_id and l.owner = $2)
             order by s.updated_at",
        )
        .bind(since)
        .bind(except_owner)
        .fetch_all(self.pool())
        .await
        .map_err(query_err("read shared statuses"))?;
        Ok(rows
            .into_iter()
            .map(|(slo_id, statuses, updated_at)| SharedStatus {
                slo_id,
                statuses,
                updated_at,
            })
            .collect())
    }

    /// Drops shared statuses of SLOs no longer in the catalog.
    pub async fn drop_statuses_except(&self, slo_ids: &[String]) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("delete from slo_status where slo_id <> all($1)")
                .bind(slo_ids)
                .execute(self.pool())
                .await
                .map_err(query_err("drop shared statuses"))?
                .rows_affected(),
        )
    }

    /// The database's clock, which heartbeats and shared statuses use.
    pub async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        sqlx::query_scalar("select clock_timestamp()")
            .fetch_one(self.pool())
            .await
            .map_err(query_err("read the clock"))
    }
}

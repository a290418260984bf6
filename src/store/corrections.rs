//! Corrections added at run time (migrations/0007_corrections.sql): stored,
//! deleted and listed here, each change written to the audit table in the
//! same transaction. What they mean is the catalog's and the evaluation's.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, query_err};

/// A correction to add: for one SLO or for every SLO of a service.
#[derive(Debug, Clone)]
pub struct NewCorrection<'a> {
    pub slo_id: Option<&'a str>,
    pub service: Option<&'a str>,
    pub reason: &'a str,
    pub author: &'a str,
    pub start: DateTime<Utc>,
    pub duration_ms: i64,
}

/// A live stored correction.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredCorrection {
    pub id: i64,
    pub slo_id: Option<String>,
    pub service: Option<String>,
    pub reason: String,
    pub author: String,
    pub start_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub created_at: DateTime<Utc>,
}

impl StoredCorrection {
    /// Whether it applies to the SLO `slo_id` of `service`.
    pub fn applies_to(&self, slo_id: &str, service: &str) -> bool {
        self.slo_id.as_deref() == Some(slo_id) || self.service.as_deref() == Some(service)
    }
}

impl Store {
    /// Stores a correction and its audit row; returns its id.
    pub async fn add_correction(&self, c: &NewCorrection<'_>) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        let stored: StoredCorrection = sqlx::query_as(
            "insert into corrections (slo_id, service, reason, author, start_at, duration_ms)
             values ($1, $2, $3, $4, $5, $6)
             returning id, slo_id, service, reason, author, start_at, duration_ms, created_at",
        )
        .bind(c.slo_id)
        .bind(c.service)
        .bind(c.reason)
        .bind(c.author)
        .bind(c.start)
        .bind(c.duration_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(query_err("add correction"))?;
        audit(&mut tx, &stored, "create", c.author).await?;
        tx.commit().await.map_err(query_err("commit correction"))?;
        Ok(stored.id)
    }

    /// Deletes a live correction, recording who did; false if there is none.
    pub async fn delete_correction(&self, id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        let deleted: Option<StoredCorrection> = sqlx::query_as(
            "update corrections set deleted_at = now() where id = $1 and deleted_at is null
             returning id, slo_id, service, reason, author, start_at, duration_ms, created_at",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(query_err("delete correction"))?;
        let Some(deleted) = deleted else {
            return Ok(false);
        };
        audit(&mut tx, &deleted, "delete", actor).await?;
        tx.commit().await.map_err(query_err("commit correction"))?;
        Ok(true)
    }

    /// Every live correction, oldest first.
    pub async fn corrections(&self) -> Result<Vec<StoredCorrection>, StoreError> {
        sqlx::query_as(
            "select id, slo_id, service, reason, author, start_at, duration_ms, created_at
             from corrections where deleted_at is null order by id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("list corrections"))
    }

    /// The audit trail of one correction: (action, actor, when), oldest first.
    pub async fn correction_audit(
        &self,
        id: i64,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        sqlx::query_as(
            "select action, actor, at from correction_audit where correction_id = $1 order by id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("correction audit"))
    }
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    c: &StoredCorrection,
    action: &str,
    actor: &str,
) -> Result<(), StoreError> {
    let detail = serde_json::to_value(c).unwrap_or_default();
    sqlx::query(
        "insert into correction_audit (correction_id, action, actor, detail) values ($1, $2, $3, $4)",
    )
    .bind(c.id)
    .bind(action)
    .bind(actor)
    .bind(detail)
    .execute(&mut **tx)
    .await
    .map_err(query_err("audit correction"))?;
    Ok(())
}

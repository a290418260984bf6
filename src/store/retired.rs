//! Data of an SLO whose SLI changed: set aside, not deleted, so that a
//! revert within the grace period brings it back.

use super::{Lease, Store, StoreError, leases, query_err};

/// Where an SLO's data waits while retired: `<slo_id>#<fingerprint>`. No
/// SLO id contains `#`, so no live SLO can read it.
pub fn retired_key(slo_id: &str, fingerprint: &str) -> String {
    format!("{slo_id}#{fingerprint}")
}

impl Store {
    /// Sets an SLO's data aside (its SLI changed, so the counts mean
    /// something else now): its instances, with their buckets, evaluations
    /// and alert history, and its ingestion state move under
    /// [`retired_key`] until [`Store::restore_slo`] brings them back or
    /// [`Store::purge_retired`] deletes them. Returns the instances moved.
    pub async fn retire_slo(&self, lease: &Lease, fingerprint: &str) -> Result<u64, StoreError> {
        let slo_id = lease.slo_id.as_str();
        let key = retired_key(slo_id, fingerprint);
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        leases::fence(&mut tx, lease, &[]).await?;
        // An older copy of the same SLI is superseded by this one.
        sqlx::query("delete from slo_instances where slo_id = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(query_err("drop a superseded retired copy"))?;
        sqlx::query("delete from ingestion_state where slo_id = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(query_err("drop a superseded retired copy"))?;
        let moved = sqlx::query("update slo_instances set slo_id = $2 where slo_id = $1")
            .bind(slo_id)
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(query_err("retire instances"))?
            .rows_affected();
        sqlx::query(
            "update ingestion_state set slo_id = $2, sli_fingerprint = $3, retired_at = now() where slo_id = $1",
        )
        .bind(slo_id)
        .bind(&key)
        .bind(fingerprint)
        .execute(&mut *tx)
        .await
        .map_err(query_err("retire ingestion state"))?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(moved)
    }

    /// Brings back data retired for this SLI, if any is still kept; the SLO
    /// must hold no data of its own. Returns the instances restored.
    pub async fn restore_slo(
        &self,
        lease: &Lease,
        fingerprint: &str,
    ) -> Result<Option<u64>, StoreError> {
        let slo_id = lease.slo_id.as_str();
        let key = retired_key(slo_id, fingerprint);
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        leases::fence(&mut tx, lease, &[]).await?;
        let restored = sqlx::query(
            "update ingestion_state set slo_id = $2, retired_at = null where slo_id = $1",
        )
        .bind(&key)
        .bind(slo_id)
        .execute(&mut *tx)
        .await
        .map_err(query_err("restore ingestion state"))?
        .rows_affected();
        if restored == 0 {
            return Ok(None);
        }
        let moved = sqlx::query("update slo_instances set slo_id = $2 where slo_id = $1")
            .bind(&key)
            .bind(slo_id)
            .execute(&mut *tx)
            .await
            .map_err(query_err("restore instances"))?
            .rows_affected();
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(Some(moved))
    }
}

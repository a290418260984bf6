//! Statuses shared between replicas: what this replica writes of the SLOs it
//! owns, and what it reads of the others', so every replica's API answers
//! for the whole catalog.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tracing::warn;
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::evaluation::InstanceStatus;
use crate::store::{Store, StoreError};

/// A refresh reads rows written this long before the newest it has seen: a
/// write that committed late is still picked up.
const OVERLAP: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// Every this many refreshes, everything is read again, so that rows
/// deleted meanwhile (SLOs removed from the catalog) disappear.
const FULL_EVERY: u32 = 20;

/// The other replicas' statuses, by SLO id.
#[derive(Default)]
pub struct SharedStatuses {
    by_slo: BTreeMap<String, Vec<InstanceStatus>>,
    newest: Option<DateTime<Utc>>,
    refreshes: u32,
    /// When the last refresh succeeded.
    pub refreshed_at: Option<DateTime<Utc>>,
}

impl SharedStatuses {
    /// Reads what changed since the last refresh, except the statuses of
    /// SLOs whose lease `me` holds: those are this replica's own.
    pub async fn refresh(&mut self, store: &Store, me: Uuid) -> Result<(), StoreError> {
        let full = self.refreshes.is_multiple_of(FULL_EVERY);
        let since = if full {
            None
        } else {
            self.newest.map(|t| t - OVERLAP)
        };
        let rows = store.shared_statuses(since, Some(me)).await?;
        if full {
            self.by_slo.clear();
        }
        for row in rows {
            self.newest = self.newest.max(Some(row.updated_at));
            match serde_json::from_value::<Vec<InstanceStatus>>(row.statuses) {
                Ok(statuses) => {
                    self.by_slo.insert(row.slo_id, statuses);
                }
                // A replica of another version may write a shape this one
                // cannot read: that SLO is shown by the replicas that can.
                Err(e) => warn!(slo = %row.slo_id, error = %e, "shared status unreadable"),
            }
        }
        self.refreshes = self.refreshes.wrapping_add(1);
        self.refreshed_at = Some(Utc::now());
        Ok(())
    }

    /// The statuses of SLOs of `catalog` this replica does not run itself.
    /// Only SLOs of its own catalog: one removed from it disappears at
    /// once, and during a rollout each replica answers for the catalog it
    /// runs.
    pub fn others<'a>(
        &'a self,
        own: &'a BTreeSet<String>,
        catalog: &'a Catalog,
    ) -> impl Iterator<Item = InstanceStatus> + 'a {
        self.by_slo
            .iter()
            .filter(|(id, _)| !own.contains(*id) && catalog.get(id).is_some())
            .flat_map(|(_, statuses)| statuses.iter().cloned())
    }
}

/// The JSON a replica shares for one SLO's instances.
pub fn to_shared<'a>(statuses: impl Iterator<Item = &'a InstanceStatus>) -> serde_json::Value {
    serde_json::to_value(statuses.collect::<Vec<_>>()).unwrap_or_default()
}

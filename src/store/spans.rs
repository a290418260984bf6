//! The writes of an evaluation cycle, for many SLOs in a few statements:
//! their ingested spans with their progress, then their evaluations. Each
//! batch is one transaction; an SLO whose lease passed to another replica is
//! left out of it (and told so), the others are written.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{BucketRow, IngestionState, Lease, Store, StoreError, leases, query_err};
use crate::engine::EventCounts;
use crate::ingest::packed::{self, HourMinutes};
use crate::time::{Minute, to_time};

/// Rows per insert statement. A connection keeps its write buffer as large
/// as the largest message it ever sent, so one statement for all of a
/// backfill chunk's hours left tens of megabytes behind per connection;
/// bounded statements (a packed hour is at most about 1 kB) keep it to a
/// few, at the cost of a few more round trips in the same transaction.
pub const ROWS_PER_STATEMENT: usize = 4_000;

/// One SLO's ingested span: per instance id, minute counts (overwriting the
/// minutes given, keeping the others), and the progress it reaches.
#[derive(Debug, Clone, Copy)]
pub struct SpanWrite<'a> {
    pub lease: &'a Lease,
    pub buckets: &'a BTreeMap<i64, BTreeMap<Minute, EventCounts>>,
    pub state: &'a IngestionState,
}

/// One instance's evaluation, kept for history.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationRow {
    pub instance: i64,
    pub at: i64,
    pub data_state: &'static str,
    pub events: EventCounts,
    pub sli: Option<f64>,
    pub budget_remaining: Option<f64>,
    pub burn_rates: BTreeMap<String, Option<f64>>,
}

/// Per write of a batch: stored, or refused because its lease moved on.
pub type Outcomes = Vec<Result<(), StoreError>>;

impl Store {
    /// Writes one SLO's span with its progress (see [`Store::write_spans`]).
    pub async fn write_span(
        &self,
        lease: &Lease,
        buckets: &BTreeMap<i64, BTreeMap<Minute, EventCounts>>,
        state: &IngestionState,
    ) -> Result<(), StoreError> {
        let write = SpanWrite {
            lease,
            buckets,
            state,
        };
        let mut outcomes = self.write_spans(&[write]).await?;
        outcomes.pop().unwrap_or(Ok(()))
    }

    /// Writes the spans of many SLOs and advances their progress, in one
    /// transaction: a crash leaves all or none, and re-ingesting a span
    /// rewrites the same values. Progress never moves backwards, and the
    /// instances' rows are locked first, so two writes of a new hour cannot
    /// overwrite each other. The outer error is the database's; the inner
    /// ones name the SLOs whose lease passed to another replica.
    pub async fn write_spans(&self, writes: &[SpanWrite<'_>]) -> Result<Outcomes, StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        let leases: Vec<&Lease> = writes.iter().map(|w| w.lease).collect();
        let instances: Vec<i64> = writes
            .iter()
            .flat_map(|w| w.buckets.keys())
            .copied()
            .collect();
        let fenced = leases::fence_all(&mut tx, &leases, &instances).await?;
        let kept: Vec<&SpanWrite> = writes
            .iter()
            .filter(|w| !fenced.contains(&w.lease.slo_id))
            .collect();
        let mut hours = hour_rows(&kept);
        merge_partial_hours(&mut tx, &mut hours).await?;
        for part in hours.chunks(ROWS_PER_STATEMENT) {
            let mut ids = Vec::with_capacity(part.len());
            let mut stamps = Vec::with_capacity(part.len());
            let mut rows = Vec::with_capacity(part.len());
            for ((id, hour), minutes) in part {
                ids.push(*id);
                stamps.push(to_time(*hour));
                rows.push(packed::pack(minutes));
            }
            sqlx::query(
                "insert into event_buckets (instance_id, hour, packed)
                 select * from unnest($1::int8[], $2::timestamptz[], $3::bytea[])
                 on conflict (instance_id, hour) do update set packed = excluded.packed, good = null, total = null",
            )
            .bind(&ids)
            .bind(&stamps)
            .bind(&rows)
            .execute(&mut *tx)
            .await
            .map_err(query_err("write buckets"))?;
        }
        let column =
            |f: fn(&SpanWrite) -> DateTime<Utc>| kept.iter().map(|w| f(w)).collect::<Vec<_>>();
        sqlx::query(
            "insert into ingestion_state (slo_id, sli_fingerprint, ingested_until, history_from)
             select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
             on conflict (slo_id) do update set sli_fingerprint = excluded.sli_fingerprint,
               ingested_until = greatest(ingestion_state.ingested_until, excluded.ingested_until),
               history_from = least(ingestion_state.history_from, excluded.history_from), updated_at = now()",
        )
        .bind(kept.iter().map(|w| w.lease.slo_id.clone()).collect::<Vec<_>>())
        .bind(kept.iter().map(|w| w.state.sli_fingerprint.clone()).collect::<Vec<_>>())
        .bind(column(|w| to_time(w.state.ingested_until)))
        .bind(column(|w| to_time(w.state.history_from)))
        .execute(&mut *tx)
        .await
        .map_err(query_err("write ingestion state"))?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(outcomes(&leases, &fenced))
    }

    /// Records one instance's evaluation (see [`Store::record_evaluations`]).
    pub async fn record_evaluation(
        &self,
        lease: &Lease,
        row: EvaluationRow,
    ) -> Result<(), StoreError> {
        let mut outcomes = self.record_evaluations(&[(lease, &[row])]).await?;
        outcomes.pop().unwrap_or(Ok(()))
    }

    /// Records the evaluations of many SLOs for history, in one transaction;
    /// a second write at the same instant replaces the first.
    pub async fn record_evaluations(
        &self,
        batches: &[(&Lease, &[EvaluationRow])],
    ) -> Result<Outcomes, StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        let leases: Vec<&Lease> = batches.iter().map(|(l, _)| *l).collect();
        let fenced = leases::fence_all(&mut tx, &leases, &[]).await?;
        let rows: Vec<&EvaluationRow> = batches
            .iter()
            .filter(|(lease, _)| !fenced.contains(&lease.slo_id))
            .flat_map(|(_, rows)| rows.iter())
            .collect();
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            let floats = |f: fn(&EvaluationRow) -> Option<f64>| {
                part.iter().map(|r| f(r)).collect::<Vec<_>>()
            };
            sqlx::query(
                "insert into evaluations (instance_id, evaluated_at, data_state, good, total, sli, budget_remaining, burn_rates)
                 select * from unnest($1::int8[], $2::timestamptz[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::jsonb[])
                 on conflict (instance_id, evaluated_at) do update set data_state = excluded.data_state, good = excluded.good, total = excluded.total,
                   sli = excluded.sli, budget_remaining = excluded.budget_remaining, burn_rates = excluded.burn_rates",
            )
            .bind(part.iter().map(|r| r.instance).collect::<Vec<_>>())
            .bind(part.iter().map(|r| to_time(r.at)).collect::<Vec<_>>())
            .bind(part.iter().map(|r| r.data_state).collect::<Vec<_>>())
            .bind(floats(|r| Some(r.events.good)))
            .bind(floats(|r| Some(r.events.total)))
            .bind(floats(|r| r.sli))
            .bind(floats(|r| r.budget_remaining))
            .bind(
                part.iter()
                    .map(|r| serde_json::to_value(&r.burn_rates).unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await
            .map_err(query_err("record evaluation"))?;
        }
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(outcomes(&leases, &fenced))
    }
}

/// Hours a write covers only in part keep their other minutes: the stored
/// rows are read (locked) and merged under the new minutes.
/// Rows keyed by (instance id, hour), sorted by key (rows are locked in
/// that order), each with the minutes the writes give. Built in a vector,
/// not a map: a row is 1.4 kB, and a backfill chunk writes thousands.
fn hour_rows(writes: &[&SpanWrite]) -> Vec<((i64, i64), HourMinutes)> {
    // Hours touched, at most: reserved so that growing never moves rows.
    let most = writes
        .iter()
        .flat_map(|write| write.buckets.values())
        .map(|minutes| minutes.len() / 60 + 2)
        .sum();
    let mut rows: Vec<((i64, i64), HourMinutes)> = Vec::with_capacity(most);
    for write in writes {
        for (&instance, minutes) in write.buckets {
            for (&minute, counts) in minutes {
                let key = (instance, minute.hour());
                if rows.last().is_none_or(|(k, _)| *k != key) {
                    rows.push((key, [None; 60]));
                }
                rows.last_mut().expect("pushed").1[minute.slot()] = Some(*counts);
            }
        }
    }
    // Within a write the keys come in order; across writes they interleave.
    // Sorted by index, each row then moved once: a comparison sort moves
    // 1.4 kB rows many times over.
    if !rows.is_sorted_by_key(|(key, _)| *key) {
        let mut order: Vec<((i64, i64), usize)> = rows
            .iter()
            .enumerate()
            .map(|(at, (key, _))| (*key, at))
            .collect();
        // The index breaks ties: rows of one hour stay in write order.
        order.sort_unstable();
        let mut unsorted: Vec<Option<_>> = rows.into_iter().map(Some).collect();
        rows = order
            .into_iter()
            .map(|(_, at)| unsorted[at].take().expect("each row once"))
            .collect();
    }
    rows.dedup_by(|later, earlier| {
        if later.0 != earlier.0 {
            return false;
        }
        for (slot, minute) in later.1.iter().enumerate() {
            if minute.is_some() {
                earlier.1[slot] = *minute;
            }
        }
        true
    });
    rows
}

async fn merge_partial_hours(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    hours: &mut [((i64, i64), HourMinutes)],
) -> Result<(), StoreError> {
    let (partial_ids, partial_hours): (Vec<i64>, Vec<DateTime<Utc>>) = hours
        .iter()
        .filter(|(_, m)| m.iter().any(Option::is_none))
        .map(|&((id, h), _)| (id, to_time(h)))
        .unzip();
    if partial_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<BucketRow> = sqlx::query_as(
        "select b.instance_id, b.hour, b.packed, b.good, b.total from event_buckets b
         join unnest($1::int8[], $2::timestamptz[]) as k(instance_id, hour) using (instance_id, hour)
         for update of b",
    )
    .bind(&partial_ids)
    .bind(&partial_hours)
    .fetch_all(&mut **tx)
    .await
    .map_err(query_err("read buckets to merge"))?;
    for row in rows {
        let old = row.minutes()?;
        let key = (row.instance_id, row.hour.timestamp_millis());
        if let Ok(k) = hours.binary_search_by_key(&key, |(key, _)| *key) {
            let new = &mut hours[k].1;
            *new = packed::merge(new, &old);
        }
    }
    Ok(())
}

fn outcomes(leases: &[&Lease], fenced: &BTreeSet<String>) -> Outcomes {
    leases
        .iter()
        .map(|lease| match fenced.contains(&lease.slo_id) {
            false => Ok(()),
            true => Err(StoreError::Fenced {
                slo_id: lease.slo_id.clone(),
                epoch: lease.epoch,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: f64) -> EventCounts {
        EventCounts { good: n, total: n }
    }

    #[test]
    fn hour_rows_are_sorted_by_key_and_merge_writes_to_the_same_hour() {
        let lease = Lease {
            slo_id: "s".into(),
            owner: uuid::Uuid::nil(),
            epoch: 1,
        };
        let state = IngestionState {
            sli_fingerprint: String::new(),
            ingested_until: 0,
            history_from: 0,
            retention: None,
        };
        let hour = |h: i64, m: i64| Minute::floor(h * 3_600_000 + m * 60_000);
        let first = BTreeMap::from([
            (
                7,
                BTreeMap::from([(hour(1, 0), counts(1.0)), (hour(2, 5), counts(2.0))]),
            ),
            (9, BTreeMap::from([(hour(0, 59), counts(3.0))])),
        ]);
        let second = BTreeMap::from([
            (3, BTreeMap::from([(hour(1, 1), counts(4.0))])),
            (
                7,
                BTreeMap::from([(hour(1, 0), counts(5.0)), (hour(1, 2), counts(6.0))]),
            ),
        ]);
        let writes = [
            SpanWrite {
                lease: &lease,
                buckets: &first,
                state: &state,
            },
            SpanWrite {
                lease: &lease,
                buckets: &second,
                state: &state,
            },
        ];
        let rows = hour_rows(&writes.iter().collect::<Vec<_>>());
        let keys: Vec<(i64, i64)> = rows.iter().map(|(k, _)| (k.0, k.1 / 3_600_000)).collect();
        assert_eq!(keys, [(3, 1), (7, 1), (7, 2), (9, 0)]);
        let set = |k: usize| -> Vec<(usize, f64)> {
            rows[k]
                .1
                .iter()
                .enumerate()
                .filter_map(|(slot, c)| Some((slot, c.as_ref()?.total)))
                .collect()
        };
        // The later write wins minute 0; minute 2 is added.
        assert_eq!(set(1), [(0, 5.0), (2, 6.0)]);
        assert_eq!(set(2), [(5, 2.0)]);
        assert_eq!(set(3), [(59, 3.0)]);
    }
}

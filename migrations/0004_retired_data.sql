-- When an SLO's SLI changes, its data is retired, not deleted: its instances
-- and ingestion state move under the key `<slo_id>#<old fingerprint>` (no
-- SLO id contains `#`) with `retired_at` set. A revert within the grace
-- period moves them back; after it they are deleted.
alter table ingestion_state add column retired_at timestamptz;

-- How far back the SLO's data is kept, and when that span was last needed:
-- when a window shrinks, older data is deleted only once the grace period
-- has passed since the longer span was needed.
alter table ingestion_state add column retention_ms bigint;
alter table ingestion_state add column retention_needed_at timestamptz;

create index ingestion_state_retired on ingestion_state (retired_at) where retired_at is not null;

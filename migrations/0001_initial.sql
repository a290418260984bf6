-- One row per SLO instance: an SLO, or one label-value set of a grouped SLO.
create table slo_instances (
    id bigserial primary key,
    slo_id text not null,
    -- Canonical `{a="1",b="2"}` text of the group labels; empty for ungrouped SLOs.
    group_key text not null,
    group_labels jsonb not null default '{}',
    created_at timestamptz not null default now(),
    unique (slo_id, group_key)
);

-- How far each SLO's event counts are complete, and for which SLI definition.
create table ingestion_state (
    slo_id text primary key,
    sli_fingerprint text not null,
    -- Buckets before this instant are complete (minute aligned).
    ingested_until timestamptz not null,
    -- The earliest instant ingestion started from (backfill start).
    history_from timestamptz not null,
    updated_at timestamptz not null default now()
);

-- Event counts in one-minute buckets, one row per instance and hour: 60 good
-- and 60 total counts. Element i covers (hour + i minutes, hour + i + 1 minutes].
-- A NULL element means "not fetched"; sums treat it as zero.
create table event_buckets (
    instance_id bigint not null references slo_instances (id) on delete cascade,
    hour timestamptz not null,
    good float8[] not null,
    total float8[] not null,
    primary key (instance_id, hour)
);

-- Evaluation results over time, for history and burn-down charts.
create table evaluations (
    instance_id bigint not null references slo_instances (id) on delete cascade,
    evaluated_at timestamptz not null,
    data_state text not null,
    good float8 not null,
    total float8 not null,
    sli float8,
    budget_remaining float8,
    burn_rates jsonb not null,
    primary key (instance_id, evaluated_at)
);

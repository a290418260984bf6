-- Replicas of `burnrate serve` sharing this database. Each registers at
-- start with a random id and renews `heartbeat_at` (database clock) every
-- few seconds; it is live while `heartbeat_at + ttl_ms` is in the future.
create table replicas (
    id uuid primary key,
    host text not null,
    pid integer not null,
    started_at timestamptz not null default now(),
    heartbeat_at timestamptz not null default now(),
    ttl_ms bigint not null check (ttl_ms > 0),
    -- Content hash of the catalog it runs, and how many SLOs that holds.
    catalog_hash text not null,
    catalog_slos integer not null default 0,
    -- SLOs whose lease it held at its last heartbeat.
    owned_slos integer not null default 0,
    -- Whether its latest cycle and status refresh were on time.
    ready boolean not null default false
);

-- Every catalog version any replica has run, with when it was first seen:
-- while replicas disagree during a rollout, the one first seen last wins.
create table catalog_versions (
    hash text primary key,
    first_seen timestamptz not null default now(),
    slos integer not null
);

-- Who owns an SLO's ingestion, evaluation and alert delivery. A lease is
-- valid while its owner is live. Every takeover increments `epoch`, and
-- every write of the SLO's data checks, in its own transaction and with
-- the row locked `for share`, that it still holds this epoch: a replica
-- that paused past its lease cannot overwrite what the new owner wrote.
create table slo_leases (
    slo_id text primary key,
    owner uuid not null,
    epoch bigint not null,
    acquired_at timestamptz not null default now()
);

create index slo_leases_by_owner on slo_leases (owner);

-- The latest status of each SLO's instances, written by its owner after
-- every cycle, so that every replica serves the same answers.
create table slo_status (
    slo_id text primary key,
    epoch bigint not null,
    statuses jsonb not null,
    updated_at timestamptz not null default clock_timestamp()
);

create index slo_status_by_update on slo_status (updated_at);

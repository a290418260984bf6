-- Corrections added at run time (POST /api/v1/corrections), beside the
-- catalog's: minutes that count neither as good nor as bad events, for one
-- SLO (`slo_id`) or every SLO of a service (`service`). A deleted
-- correction keeps its row (`deleted_at`), and every change is a row of
-- `correction_audit`: who, when, what.
create table corrections (
    id bigserial primary key,
    slo_id text,
    service text,
    reason text not null check (reason <> ''),
    author text not null check (author <> ''),
    start_at timestamptz not null,
    -- Under a minute excludes nothing (only whole minutes inside count).
    duration_ms bigint not null check (duration_ms >= 0),
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    check ((slo_id is null) <> (service is null))
);

create index corrections_live on corrections (id) where deleted_at is null;

create table correction_audit (
    id bigserial primary key,
    correction_id bigint not null references corrections (id),
    action text not null check (action in ('create', 'delete')),
    actor text not null,
    at timestamptz not null default now(),
    -- The correction as it was created or deleted.
    detail jsonb not null
);

create index correction_audit_correction on correction_audit (correction_id, id);

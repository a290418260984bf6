-- The current phase of every alert of every SLO instance: a burn-rate tier
-- (`alert` = tier name) or the budget-exhausted alert (`@budget_exhausted`).
-- Read back at start-up, so a restart neither drops a firing alert nor
-- announces it as new: `since` of a firing alert is its `startsAt`.
create table alert_states (
    instance_id bigint not null references slo_instances (id) on delete cascade,
    alert text not null,
    phase text not null check (phase in ('inactive', 'pending', 'firing')),
    -- Pending: since when the condition holds. Firing: since when it fires.
    since timestamptz,
    -- The last firing episode once resolved, re-sent as resolved for a while.
    resolved_started_at timestamptz,
    resolved_at timestamptz,
    updated_at timestamptz not null default now(),
    primary key (instance_id, alert)
);

-- Every transition (inactive -> pending -> firing -> resolved, and pending ->
-- cancelled when the condition stops before `for` has passed), with the
-- numbers that caused it.
create table alert_transitions (
    id bigserial primary key,
    instance_id bigint not null references slo_instances (id) on delete cascade,
    alert text not null,
    transition text not null check (transition in ('pending', 'firing', 'resolved', 'cancelled')),
    at timestamptz not null,
    -- The episode's start: pending since (pending, cancelled) or firing since (firing, resolved).
    started_at timestamptz,
    severity text not null,
    long_window text,
    short_window text,
    long_burn_rate float8,
    short_burn_rate float8,
    -- The tier's burn-rate factor, or the exhaustion alert's budget threshold.
    threshold float8,
    budget_remaining float8,
    -- The labels as sent to Alertmanager.
    labels jsonb not null default '{}',
    reason text,
    unique (instance_id, alert, at, transition)
);

create index alert_transitions_by_time on alert_transitions (instance_id, at desc);

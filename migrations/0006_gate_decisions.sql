-- Every release-gate decision made through the API (GET and POST
-- /api/v1/gate), so "why did this deploy go out?" has an answer. The row
-- keeps what was asked, who asked (when the caller said), the decision with
-- its reasons, and an override with its reason; `result` is the whole
-- answer as the caller got it. `request_id` makes a retried call one row.
create table gate_decisions (
    id bigserial primary key,
    decided_at timestamptz not null default now(),
    request_id text unique,
    actor text,
    services text[] not null,
    slo text,
    decision text not null check (decision in ('allow', 'deny', 'undecided')),
    -- The gate's own decision before an override (equal to `decision` without one).
    gate_decision text not null check (gate_decision in ('allow', 'deny', 'undecided')),
    reasons jsonb not null,
    override_reason text,
    result jsonb not null
);

create index gate_decisions_decided_at on gate_decisions (decided_at desc, id desc);
create index gate_decisions_services on gate_decisions using gin (services);

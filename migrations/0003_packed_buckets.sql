-- Minute counts packed into bytes (format in src/store/packed.rs): about a
-- sixth of the size of two float8[60] arrays. Rows written before keep their
-- arrays until they are rewritten or pruned; readers take either.
alter table event_buckets add column packed bytea;
alter table event_buckets alter column good drop not null;
alter table event_buckets alter column total drop not null;
-- NOT VALID: existing rows had both arrays NOT NULL, so scanning them (under
-- an exclusive lock) would prove nothing new; rows written from now on are checked.
alter table event_buckets add constraint event_buckets_has_counts
    check (packed is not null or (good is not null and total is not null)) not valid;

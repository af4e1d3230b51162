-- Idempotency-Key leases: the request that claimed a key (claim) holds it until
-- lease_until, renewed while it runs. A key whose lease ran out unfinished was
-- abandoned (its replica died or hung) and the next request with it takes it over;
-- only the claim that holds the key may keep its answer or release it.
ALTER TABLE idempotency_keys ADD COLUMN claim text, ADD COLUMN lease_until timestamptz;

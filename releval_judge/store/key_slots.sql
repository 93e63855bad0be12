-- seed_key_slots --
-- Make sure provider key $1 has slot rows 0 .. $2 - 1 (free until claimed).
INSERT INTO provider_key_slots (key_id, slot)
SELECT $1, s FROM generate_series(0, $2::integer - 1) AS s
ON CONFLICT (key_id, slot) DO NOTHING;

-- claim_key_slots --
-- Take up to $4 free (never claimed, given back or expired) slots below $2 of provider key $1 for holder $3, for $5 seconds; bumps each slot's epoch, so a previous holder can neither renew nor free it.
UPDATE provider_key_slots k
SET holder = $3,
    epoch = k.epoch + 1,
    expires_at = clock_timestamp() + make_interval(secs => $5::float8)
WHERE (k.key_id, k.slot) IN (
    SELECT key_id, slot FROM provider_key_slots
    WHERE key_id = $1 AND slot < $2 AND expires_at <= clock_timestamp()
    ORDER BY slot
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
RETURNING k.slot, k.epoch;

-- renew_key_slots --
-- Extend holder $1's slots ($3 keys, $4 slots, $5 epochs) by $2 seconds; the ones still held.
UPDATE provider_key_slots k
SET expires_at = clock_timestamp() + make_interval(secs => $2::float8)
FROM unnest($3::text[], $4::integer[], $5::bigint[]) AS s (key_id, slot, epoch)
WHERE k.key_id = s.key_id AND k.slot = s.slot AND k.epoch = s.epoch AND k.holder = $1
RETURNING k.key_id, k.slot;

-- release_key_slots --
-- Give holder $1's slots ($2 keys, $3 slots, $4 epochs) back at once; a slot claimed by someone else since is left alone.
UPDATE provider_key_slots k
SET expires_at = clock_timestamp()
FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS s (key_id, slot, epoch)
WHERE k.key_id = s.key_id AND k.slot = s.slot AND k.epoch = s.epoch AND k.holder = $1;

-- release_holder_key_slots --
-- Free every slot holder $1 holds (a replica starting again under its old name: its previous process's calls are gone).
UPDATE provider_key_slots
SET expires_at = clock_timestamp()
WHERE holder = $1 AND expires_at > clock_timestamp();

-- key_slots_in_use --
-- How many slots of provider key $1 are held now, as an operator or a test asks it.
SELECT count(*) FROM provider_key_slots WHERE key_id = $1 AND expires_at > clock_timestamp();

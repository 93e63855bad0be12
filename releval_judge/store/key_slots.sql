-- seed_key_slots --
-- Make sure provider key $1 has slot rows 0 .. $2 - 1 (free until claimed).
INSERT INTO provider_key_slots (key_id, slot)
SELECT $1, s FROM generate_series(0, $2::integer - 1) AS s
ON CONFLICT (key_id, slot) DO NOTHING;

-- claim_key_slots --
-- Take up to $4 free (never claimed, given back or expired) slots below $2 of provider key $1 for holder $3, for $5 seconds, leaving free as many as the holders that have waited longer than $3 still want; bumps each slot's epoch, so a previous holder can neither renew nor free it. Records $3's interest for $6 seconds when it got fewer than $4 (its wait starts again when it got some), drops it when it got all.
WITH mine AS (
    SELECT since FROM provider_key_waiters
    WHERE key_id = $1 AND holder = $3 AND until > clock_timestamp()
),
ahead AS (
    SELECT coalesce(sum(w.wanted), 0) AS wanted
    FROM provider_key_waiters w
    WHERE w.key_id = $1 AND w.holder <> $3 AND w.until > clock_timestamp()
      AND w.since < coalesce((SELECT since FROM mine), 'infinity')
),
claimed AS (
    UPDATE provider_key_slots k
    SET holder = $3,
        epoch = k.epoch + 1,
        expires_at = clock_timestamp() + make_interval(secs => $5::float8)
    WHERE (k.key_id, k.slot) IN (
        SELECT key_id, slot FROM provider_key_slots
        WHERE key_id = $1 AND slot < $2 AND expires_at <= clock_timestamp()
        ORDER BY slot
        OFFSET (SELECT wanted FROM ahead)
        LIMIT $4
        FOR UPDATE SKIP LOCKED
    )
    RETURNING k.slot, k.epoch
),
waiting AS (
    INSERT INTO provider_key_waiters AS w (key_id, holder, wanted, since, until)
    SELECT $1, $3, $4 - got, clock_timestamp(), clock_timestamp() + make_interval(secs => $6::float8)
    FROM (SELECT count(*)::integer AS got FROM claimed) AS c
    WHERE got < $4
    ON CONFLICT (key_id, holder) DO UPDATE
    SET wanted = EXCLUDED.wanted,
        since = CASE WHEN w.until > clock_timestamp() AND EXCLUDED.wanted = $4
                     THEN w.since ELSE EXCLUDED.since END,
        until = EXCLUDED.until
),
served AS (
    DELETE FROM provider_key_waiters
    WHERE key_id = $1 AND holder = $3 AND (SELECT count(*) FROM claimed) >= $4
)
SELECT slot, epoch FROM claimed;

-- withdraw_key_interest --
-- Holder $2 no longer waits for slots of provider key $1 (its calls got them elsewhere or gave up).
DELETE FROM provider_key_waiters WHERE key_id = $1 AND holder = $2;

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
-- Free every slot holder $1 holds and forget its interest (a replica starting again under its old name: its previous process's calls are gone).
WITH forgotten AS (
    DELETE FROM provider_key_waiters WHERE holder = $1
)
UPDATE provider_key_slots
SET expires_at = clock_timestamp()
WHERE holder = $1 AND expires_at > clock_timestamp();

-- key_slots_in_use --
-- How many slots of provider key $1 are held now, as an operator or a test asks it.
SELECT count(*) FROM provider_key_slots WHERE key_id = $1 AND expires_at > clock_timestamp();

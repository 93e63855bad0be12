-- claim_judging_runs --
-- Take up to $3 runs for owner $1 for $2 seconds, oldest first: queued runs, running runs whose lease expired (a dead or stopped replica's), and with $4 runs this owner held before a restart; never runs in $5 (still finishing here). Bumps the epoch, so the previous holder's writes are refused from now on.
UPDATE ai_judging_runs r
SET lease_owner = $1,
    lease_epoch = r.lease_epoch + 1,
    lease_expires_at = clock_timestamp() + make_interval(secs => $2::float8),
    status = 'running',
    started_at = coalesce(r.started_at, clock_timestamp())
WHERE r.id IN (
    SELECT id FROM ai_judging_runs
    WHERE status IN ('queued', 'running')
      AND (lease_expires_at IS NULL OR lease_expires_at <= clock_timestamp()
           OR ($4 AND lease_owner = $1))
      AND NOT (id = ANY($5::uuid[]))
    ORDER BY seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING r.*, (SELECT provider_batches FROM run_provider_batches(r.id)) AS provider_batches;

-- renew_leases --
-- Extend owner $1's leases of runs $3 (at epochs $4) by $2 seconds; the runs still held, with their status (a run cancelled elsewhere is stopped by its holder).
UPDATE ai_judging_runs r
SET lease_expires_at = clock_timestamp() + make_interval(secs => $2::float8)
FROM unnest($3::uuid[], $4::bigint[]) AS l (id, epoch)
WHERE r.id = l.id AND r.lease_owner = $1 AND r.lease_epoch = l.epoch
RETURNING r.id, r.status;

-- release_leases --
-- Give owner $1's leases of runs $2 (at epochs $3) back at once, and wake the other replicas' claims.
WITH released AS (
    UPDATE ai_judging_runs r
    SET lease_expires_at = clock_timestamp()
    FROM unnest($2::uuid[], $3::bigint[]) AS l (id, epoch)
    WHERE r.id = l.id AND r.lease_owner = $1 AND r.lease_epoch = l.epoch
    RETURNING r.id
)
SELECT count(*) AS released, pg_notify('releval_work', '') AS notified FROM released;

-- judging_run_lease_owner --
-- Which replica holds a judging run's lease now (null: none), as an operator asks it.
SELECT lease_owner FROM ai_judging_runs WHERE id = $1 AND lease_expires_at > clock_timestamp();

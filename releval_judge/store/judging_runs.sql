-- count_in_scope --
-- Candidates of evaluation run $1 in judging scope $2 ($3: the judging run itself, or null).
-- The scope is the same as pending_candidates' (schema.sql's candidates_in_scope).
WITH in_scope AS (SELECT * FROM candidates_in_scope($1, $2::text, $3::uuid))
SELECT count(*)::int FROM in_scope;

-- lock_starts_on_evaluation --
-- Serialise judging-run starts on one evaluation run (transaction-scoped advisory lock), so
-- that two starts cannot both count the same free slot under the active-runs limit.
SELECT pg_advisory_xact_lock(hashtextextended('judging-run-start:' || $1::uuid::text, 0));

-- count_active_runs_of_evaluation --
-- Queued or running judging runs on one evaluation run.
SELECT count(*) FROM ai_judging_runs
WHERE evaluation_run_id = $1 AND status IN ('queued', 'running');

-- insert_judging_run --
-- Queue a judging run started by $10 (reuse $11); total is the count of candidates in its scope at this moment.
INSERT INTO ai_judging_runs (evaluation_run_id, ai_judge_id, ai_judge_name, judge_config, total,
                             scope, delivery, max_cost, request_id, created_by, reuse)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING *, '[]'::jsonb AS provider_batches;

-- get_judging_run --
-- One judging run by id.
SELECT * FROM ai_judging_runs r, run_provider_batches(r.id) WHERE r.id = $1;

-- list_judging_runs --
-- The judging runs of an evaluation run, newest first, keyset-paginated on seq.
SELECT * FROM ai_judging_runs r, run_provider_batches(r.id)
WHERE r.evaluation_run_id = $1 AND ($2::bigint IS NULL OR r.seq < $2)
ORDER BY r.seq DESC
LIMIT $3;

-- cancel_judging_run --
-- A queued or running run becomes cancelled by $2 (null: the service itself), and the replica holding it is told (NOTIFY releval_cancel, delivered at commit); no row when it already ended.
WITH cancelled AS (
    UPDATE ai_judging_runs
    SET status = 'cancelled', finished_at = clock_timestamp(), cancelled_by = $2
    WHERE id = $1 AND status IN ('queued', 'running')
    RETURNING *, (SELECT provider_batches FROM run_provider_batches(id)) AS provider_batches
)
SELECT cancelled.*, pg_notify('releval_cancel', cancelled.id::text) AS notified FROM cancelled;

-- mark_judging_run_running --
-- queued -> running (a resumed run stays running and keeps its first start time); no row when the run ended or lease ($2, $3) is no longer held.
UPDATE ai_judging_runs
SET status = 'running', started_at = coalesce(started_at, clock_timestamp())
WHERE id = $1 AND status IN ('queued', 'running') AND lease_owner = $2 AND lease_epoch = $3
RETURNING *, (SELECT provider_batches FROM run_provider_batches(id)) AS provider_batches;

-- finish_judging_run --
-- running -> completed | failed by the holder of lease ($4, $5); a run cancelled meanwhile stays cancelled. A completed run
-- has judged or failed every candidate it found, including any imported after it was queued.
UPDATE ai_judging_runs
SET status = $2, error = $3, finished_at = clock_timestamp(),
    total = CASE WHEN $2 = 'completed' THEN judged + failed ELSE total END
WHERE id = $1 AND status IN ('queued', 'running') AND lease_owner = $4 AND lease_epoch = $5
RETURNING *, (SELECT provider_batches FROM run_provider_batches(id)) AS provider_batches;

-- count_judging_runs_by_status --
-- How many judging runs are in each status (for /metrics).
SELECT status, count(*) AS runs FROM ai_judging_runs GROUP BY status;

-- notify_work --
-- Wake every replica's claim loop (a run was queued or a lease given back).
SELECT pg_notify('releval_work', '');

-- count_unreached_judged_elsewhere --
-- Candidates of evaluation run $1 that judging run $2 neither judged nor failed and that hold another run's current AI judgment (what scope 'unjudged' would skip).
SELECT count(*)::int FROM ai_judgments a
WHERE a.evaluation_run_id = $1 AND a.ai_judging_run_id <> $2
  AND NOT EXISTS (SELECT 1 FROM ai_run_judgments j
                  WHERE j.candidate_id = a.candidate_id AND j.ai_judging_run_id = $2)
  AND NOT EXISTS (SELECT 1 FROM candidate_failures f
                  WHERE f.candidate_id = a.candidate_id AND f.ai_judging_run_id = $2);

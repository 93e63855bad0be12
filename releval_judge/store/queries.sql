-- insert_evaluation_run --
-- Create an evaluation run (its queries and candidates are added separately).
INSERT INTO evaluation_runs (name, status, scale_min, scale_max, scale_labels)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- get_evaluation_run --
-- One evaluation run by id.
SELECT * FROM evaluation_runs WHERE id = $1;

-- lock_evaluation_run_for_share --
-- Hold the run's row against a concurrent lock/unlock while judgments are written.
SELECT id, status, locked, candidate_count FROM evaluation_runs WHERE id = $1 FOR SHARE;

-- lock_evaluation_run_for_update --
-- Serialise imports into one evaluation run.
SELECT * FROM evaluation_runs WHERE id = $1 FOR UPDATE;

-- list_evaluation_runs --
-- Newest first, keyset-paginated on (created_at, id).
SELECT * FROM evaluation_runs
WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $3;

-- patch_evaluation_run --
-- Change status and/or locked; null leaves a field as it is.
UPDATE evaluation_runs
SET status = coalesce($2, status), locked = coalesce($3, locked)
WHERE id = $1
RETURNING *;

-- insert_queries --
-- Add queries of a run; a query id already present keeps its first text.
INSERT INTO queries (evaluation_run_id, query_id, text)
SELECT $1, q.query_id, q.text FROM unnest($2::text[], $3::text[]) AS q (query_id, text)
ON CONFLICT (evaluation_run_id, query_id) DO NOTHING;

-- refresh_evaluation_run_counts --
-- Recount queries and candidates after an import.
UPDATE evaluation_runs
SET query_count = (SELECT count(*) FROM queries WHERE evaluation_run_id = $1),
    candidate_count = (SELECT count(*) FROM candidates WHERE evaluation_run_id = $1)
WHERE id = $1
RETURNING *;

-- insert_judge --
-- Create an AI judge; $25 (who created it) is also who last changed it.
INSERT INTO ai_judges (name, provider, model, base_url, api_key_encrypted, api_key_env,
                       prompt_template, batch_size, concurrency, temperature, max_output_tokens,
                       request_timeout_s, max_retries, requests_per_minute, tokens_per_minute,
                       input_price_per_mtok, output_price_per_mtok, max_document_chars, fields,
                       delivery, reasoning_effort, cached_input_price_per_mtok,
                       batch_price_factor, key_concurrency, created_by, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25, $25)
RETURNING *;

-- update_judge --
-- Replace every field of an AI judge; $26 changed it.
UPDATE ai_judges
SET name = $2, provider = $3, model = $4, base_url = $5, api_key_encrypted = $6,
    api_key_env = $7, prompt_template = $8, batch_size = $9, concurrency = $10,
    temperature = $11, max_output_tokens = $12, request_timeout_s = $13, max_retries = $14,
    requests_per_minute = $15, tokens_per_minute = $16, input_price_per_mtok = $17,
    output_price_per_mtok = $18, max_document_chars = $19, fields = $20, delivery = $21,
    reasoning_effort = $22, cached_input_price_per_mtok = $23, batch_price_factor = $24,
    key_concurrency = $25, updated_at = clock_timestamp(), updated_by = $26
WHERE id = $1
RETURNING *;

-- get_judge --
-- One AI judge by id.
SELECT * FROM ai_judges WHERE id = $1;

-- get_judge_for_update --
-- One AI judge, locked so a judging run cannot start on it while it is deleted or edited.
SELECT * FROM ai_judges WHERE id = $1 FOR UPDATE;

-- list_judges --
-- Newest first, keyset-paginated on (created_at, id).
SELECT * FROM ai_judges
WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $3;

-- count_active_runs_of_judge --
-- Queued or running judging runs that use a judge.
SELECT count(*) FROM ai_judging_runs
WHERE ai_judge_id = $1 AND status IN ('queued', 'running');

-- delete_judge --
-- Delete an AI judge; earlier judging runs keep its name and configuration.
DELETE FROM ai_judges WHERE id = $1;

-- lock_starts_on_evaluation --
-- Serialise judging-run starts on one evaluation run (transaction-scoped advisory lock), so
-- that two starts cannot both count the same free slot under the active-runs limit.
SELECT pg_advisory_xact_lock(hashtextextended('judging-run-start:' || $1::uuid::text, 0));

-- count_active_runs_of_evaluation --
-- Queued or running judging runs on one evaluation run.
SELECT count(*) FROM ai_judging_runs
WHERE evaluation_run_id = $1 AND status IN ('queued', 'running');

-- insert_judging_run --
-- Queue a judging run started by $10; total is the count of candidates in its scope at this moment.
INSERT INTO ai_judging_runs (evaluation_run_id, ai_judge_id, ai_judge_name, judge_config, total,
                             scope, delivery, max_cost, request_id, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *, '[]'::jsonb AS provider_batches;

-- get_judging_run --
-- One judging run by id.
SELECT *, judging_run_batches(id) AS provider_batches FROM ai_judging_runs WHERE id = $1;

-- list_judging_runs --
-- The judging runs of an evaluation run, newest first, keyset-paginated on seq.
SELECT *, judging_run_batches(id) AS provider_batches FROM ai_judging_runs
WHERE evaluation_run_id = $1 AND ($2::bigint IS NULL OR seq < $2)
ORDER BY seq DESC
LIMIT $3;

-- cancel_judging_run --
-- A queued or running run becomes cancelled by $2 (null: the service itself), and the replica holding it is told (NOTIFY releval_cancel, delivered at commit); no row when it already ended.
WITH cancelled AS (
    UPDATE ai_judging_runs
    SET status = 'cancelled', finished_at = clock_timestamp(), cancelled_by = $2
    WHERE id = $1 AND status IN ('queued', 'running')
    RETURNING *, judging_run_batches(id) AS provider_batches
)
SELECT cancelled.*, pg_notify('releval_cancel', cancelled.id::text) AS notified FROM cancelled;

-- mark_judging_run_running --
-- queued -> running (a resumed run stays running and keeps its first start time); no row when the run ended or lease ($2, $3) is no longer held.
UPDATE ai_judging_runs
SET status = 'running', started_at = coalesce(started_at, clock_timestamp())
WHERE id = $1 AND status IN ('queued', 'running') AND lease_owner = $2 AND lease_epoch = $3
RETURNING *, judging_run_batches(id) AS provider_batches;

-- finish_judging_run --
-- running -> completed | failed by the holder of lease ($4, $5); a run cancelled meanwhile stays cancelled. A completed run
-- has judged or failed every candidate it found, including any imported after it was queued.
UPDATE ai_judging_runs
SET status = $2, error = $3, finished_at = clock_timestamp(),
    total = CASE WHEN $2 = 'completed' THEN judged + failed ELSE total END
WHERE id = $1 AND status IN ('queued', 'running') AND lease_owner = $4 AND lease_epoch = $5
RETURNING *, judging_run_batches(id) AS provider_batches;

-- pending_candidates --
-- The next page of a run's candidates in its scope that this judging run has neither judged
-- nor failed nor sent in a provider batch, in (query_id, rank, id) order after the given key.
-- `candidates` is the only table joined: the page is one scan of candidates_stream_idx from
-- the cursor, in page order, whatever the statistics say (they are often older than the
-- evaluation). Joined to `queries`, PostgreSQL planned a loop over the evaluation's queries
-- that read each query's candidates from its first one: every page read every candidate
-- before the cursor (tests/integration/test_page_plans.py).
WITH s AS (SELECT r.scope, r.id AS run_id FROM ai_judging_runs r WHERE r.id = $2)
SELECT c.id, c.query_id,
       (SELECT q.text FROM queries q
        WHERE q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id) AS query,
       c.doc_id, c.rank, c.title, c.text, c.fields
FROM candidates c
CROSS JOIN s
WHERE c.evaluation_run_id = $1
  AND (c.query_id, c.rank, c.id) > ($3, $4, $5::uuid)
  /* in scope */
  AND (s.scope = 'all'
       OR (s.scope = 'unjudged'
           AND NOT EXISTS (SELECT 1 FROM ai_judgments a WHERE a.candidate_id = c.id))
       OR (s.scope = 'failed'
           AND EXISTS (SELECT 1 FROM candidate_failures f
                       JOIN ai_judging_runs fr ON fr.id = f.ai_judging_run_id
                       WHERE f.candidate_id = c.id
                         AND f.ai_judging_run_id IS DISTINCT FROM s.run_id
                         AND NOT EXISTS (SELECT 1 FROM ai_run_judgments j
                                         JOIN ai_judging_runs jr ON jr.id = j.ai_judging_run_id
                                         WHERE j.candidate_id = c.id AND jr.seq >= fr.seq
                                           AND j.ai_judging_run_id IS DISTINCT FROM s.run_id))))
  /* end in scope */
  /* OFFSET 0 keeps each of these a lookup by primary key for each candidate of the page.
     Without it PostgreSQL may plan a join, and it estimates the run's rows from
     statistics older than the run (one row): the join then compares every candidate of
     the page with every row of the run, and a page 18,000 judgments into a run took
     1.7 s (tests/integration/test_page_plans.py). */
  AND NOT EXISTS (SELECT 1 FROM ai_run_judgments j
                  WHERE j.ai_judging_run_id = $2 AND j.candidate_id = c.id OFFSET 0)
  AND NOT EXISTS (SELECT 1 FROM candidate_failures f
                  WHERE f.ai_judging_run_id = $2 AND f.candidate_id = c.id OFFSET 0)
  /* not already in one of this run's provider batches (batch delivery) */
  AND NOT EXISTS (SELECT 1 FROM provider_request_items i
                  WHERE i.judging_run_id = $2 AND i.candidate_id = c.id OFFSET 0)
ORDER BY c.query_id, c.rank, c.id
LIMIT $6;

-- list_candidate_failures --
-- A run's per-candidate failures in the order they were recorded.
SELECT f.candidate_id, c.query_id, c.doc_id, c.rank, f.reason, f.raw_excerpt, f.created_at
FROM candidate_failures f
JOIN candidates c ON c.id = f.candidate_id
WHERE f.ai_judging_run_id = $1
  AND ($2::timestamptz IS NULL OR (f.created_at, f.candidate_id) > ($2, $3::uuid))
ORDER BY f.created_at, f.candidate_id
LIMIT $4;

-- insert_human_judgments --
-- Record human judgments by (query_id, doc_id) written by $7, each with its history row; the same judge again replaces the grade.
WITH written AS (
    INSERT INTO human_judgments (candidate_id, evaluation_run_id, judge, grade, reasoning)
    SELECT c.id, c.evaluation_run_id, h.judge, h.grade, h.reasoning
    FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[])
         AS h (query_id, doc_id, judge, grade, reasoning)
    JOIN candidates c
      ON c.evaluation_run_id = $1 AND c.query_id = h.query_id AND c.doc_id = h.doc_id
    ON CONFLICT (candidate_id, judge) DO UPDATE
    SET grade = EXCLUDED.grade, reasoning = EXCLUDED.reasoning, created_at = clock_timestamp()
    RETURNING candidate_id, evaluation_run_id, judge, grade, reasoning
), logged AS (
    INSERT INTO human_judgment_history (candidate_id, evaluation_run_id, judge, action, grade,
                                        reasoning, changed_by)
    SELECT candidate_id, evaluation_run_id, judge, 'put', grade, reasoning, $7 FROM written
)
SELECT candidate_id FROM written;

-- count_judging_runs_by_status --
-- How many judging runs are in each status (for /metrics).
SELECT status, count(*) AS runs FROM ai_judging_runs GROUP BY status;

-- audit_columns --
-- The columns of an audit as the API shows it, with its run's judge snapshot for the prices.
SELECT a.id, a.ai_judging_run_id, r.evaluation_run_id, a.status, a.seed, a.sample_size,
       a.failed, a.calls, a.input_tokens, a.output_tokens, a.figures, a.error, a.created_by,
       a.created_at, a.started_at, a.finished_at, r.judge_config, a.attempt
FROM audits a
JOIN ai_judging_runs r ON r.id = a.ai_judging_run_id

-- insert_audit --
-- Queue an audit of judging run $1 (sample $2, seed $3, by $4).
INSERT INTO audits (ai_judging_run_id, sample_size, seed, created_by)
VALUES ($1, $2, $3, $4)
RETURNING id;

-- get_audit --
-- One audit.
{audit_columns}
WHERE a.id = $1;

-- list_run_audits --
-- The audits of judging run $1, newest first, keyset-paginated on (created_at, id) after ($2, $3).
{audit_columns}
WHERE a.ai_judging_run_id = $1
  AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2, $3::uuid))
ORDER BY a.created_at DESC, a.id DESC
LIMIT $4;

-- count_run_judgments --
-- How many candidates judging run $1 judged.
SELECT count(*)::int FROM ai_run_judgments WHERE ai_judging_run_id = $1;

-- start_audit --
-- Take the next attempt of an unended audit (queued or running) and mark it running; no row: it ended.
UPDATE audits
SET status = 'running', attempt = attempt + 1, started_at = clock_timestamp(),
    failed = 0, calls = 0, input_tokens = 0, output_tokens = 0
WHERE id = $1 AND status IN ('queued', 'running')
RETURNING attempt;

-- audit_sample --
-- Up to $3 candidates judged by run $1 with the run's grade: whole queries in an order fixed by the seed $2, each in (rank, id) order.
SELECT c.id, c.query_id, q.text AS query, c.doc_id, c.rank, c.title, c.text, c.fields,
       j.grade
FROM ai_run_judgments j
JOIN candidates c ON c.id = j.candidate_id
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
WHERE j.ai_judging_run_id = $1
ORDER BY md5($2::text || c.query_id), c.query_id, c.rank, c.id
LIMIT $3;

-- set_audit_sample_size --
-- The number of candidates drawn, once drawn, by attempt $2.
UPDATE audits SET sample_size = $3 WHERE id = $1 AND attempt = $2 AND status = 'running';

-- finish_audit --
-- End attempt $2 of a running audit with its status, figures and usage; no row: it was cancelled or taken by a later attempt.
UPDATE audits
SET status = $3, figures = $4, error = $5, failed = $6, calls = $7, input_tokens = $8,
    output_tokens = $9, finished_at = clock_timestamp()
WHERE id = $1 AND attempt = $2 AND status = 'running'
RETURNING id;

-- cancel_audit --
-- Mark an unended audit cancelled; no row: it ended already (or does not exist).
UPDATE audits SET status = 'cancelled', finished_at = clock_timestamp()
WHERE id = $1 AND status IN ('queued', 'running')
RETURNING id;

-- unended_audits --
-- Audits left queued or running (by a process that stopped), oldest first.
SELECT id FROM audits WHERE status IN ('queued', 'running') ORDER BY created_at;

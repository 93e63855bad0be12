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

-- claim_audits --
-- Take up to $3 audits for owner $1 for $2 seconds, oldest first: queued ones, running ones whose claim lapsed (a dead or stopped replica's), and with $4 those this owner held before a restart; never audits in $5 (still running here). Bumps the attempt (the claim's epoch), so the previous holder's writes are refused from now on.
UPDATE audits a
SET lease_owner = $1,
    attempt = a.attempt + 1,
    lease_expires_at = clock_timestamp() + make_interval(secs => $2::float8),
    status = 'running',
    started_at = coalesce(a.started_at, clock_timestamp())
WHERE a.id IN (
    SELECT id FROM audits
    WHERE status IN ('queued', 'running')
      AND (lease_expires_at IS NULL OR lease_expires_at <= clock_timestamp()
           OR ($4 AND lease_owner = $1))
      AND NOT (id = ANY($5::uuid[]))
    ORDER BY created_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING a.id, a.attempt;

-- renew_audit_claims --
-- Extend owner $1's claims of audits $3 (at attempts $4) by $2 seconds; the audits still held, with their status (one cancelled elsewhere is stopped by its holder).
UPDATE audits a
SET lease_expires_at = clock_timestamp() + make_interval(secs => $2::float8)
FROM unnest($3::uuid[], $4::integer[]) AS l (id, attempt)
WHERE a.id = l.id AND a.lease_owner = $1 AND a.attempt = l.attempt
RETURNING a.id, a.status;

-- release_audit_claims --
-- Give owner $1's claims of audits $2 (at attempts $3) back at once (another replica may take them over).
UPDATE audits a
SET lease_expires_at = clock_timestamp()
FROM unnest($2::uuid[], $3::integer[]) AS l (id, attempt)
WHERE a.id = l.id AND a.lease_owner = $1 AND a.attempt = l.attempt;

-- audit_sample --
-- Up to $3 candidates judged by run $1 before audit $4 was queued, with the run's grade: whole queries in an order fixed by the seed $2, each in (rank, id) order.
SELECT c.id, c.query_id, q.text AS query, c.doc_id, c.rank, c.title, c.text, c.fields,
       j.grade
FROM ai_run_judgments j
JOIN candidates c ON c.id = j.candidate_id
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
JOIN audits a ON a.id = $4
WHERE j.ai_judging_run_id = $1
  -- What the run had judged when the audit was queued: a resumed audit draws the same sample
  -- even while its run goes on judging.
  AND j.created_at <= a.created_at
ORDER BY md5($2::text || c.query_id), c.query_id, c.rank, c.id
LIMIT $3;

-- set_audit_sample_size --
-- The number of candidates drawn, once drawn, by attempt $2.
UPDATE audits SET sample_size = $3 WHERE id = $1 AND attempt = $2 AND lease_owner = $4 AND status = 'running';

-- record_audit_batch --
-- Keep one answered batch of pass $4 of audit $1 held by ($3, attempt $2): the grades it got ($5, $6) and its usage ($7 calls, $8 input and $9 output tokens) in one statement, also after a cancel (what was spent is counted); 0: the claim was lost (nothing written).
WITH held AS (
    UPDATE audits
    SET calls = calls + $7, input_tokens = input_tokens + $8, output_tokens = output_tokens + $9
    WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND status IN ('running', 'cancelled')
    RETURNING id
), kept AS (
    INSERT INTO audit_answers (audit_id, pass, candidate_id, grade)
    SELECT held.id, $4, b.candidate_id, b.grade
    FROM held, unnest($5::uuid[], $6::integer[]) AS b (candidate_id, grade)
    ON CONFLICT DO NOTHING
)
SELECT count(*)::int FROM held;

-- audit_answers --
-- The answers audit $1 has kept so far, by pass.
SELECT pass, candidate_id, grade FROM audit_answers WHERE audit_id = $1;

-- finish_audit --
-- End attempt $2 (held by $3) of a running audit with its status, figures and failures, and give its claim back (its usage was added batch by batch); no row: it was cancelled or taken over.
UPDATE audits
SET status = $4, figures = $5, error = $6, failed = $7, finished_at = clock_timestamp(),
    lease_expires_at = clock_timestamp()
WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND status = 'running'
RETURNING id;

-- cancel_audit --
-- Mark an unended audit cancelled; no row: it ended already (or does not exist).
UPDATE audits SET status = 'cancelled', finished_at = clock_timestamp()
WHERE id = $1 AND status IN ('queued', 'running')
RETURNING id;

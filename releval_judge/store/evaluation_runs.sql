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
SELECT status, locked, candidate_count, scale_min, scale_max
FROM evaluation_runs WHERE id = $1 FOR SHARE;

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

-- analyze_candidates --
-- Refresh the planner's statistics after a bulk import (stale ones made judging 3x slower).
ANALYZE candidates, queries;

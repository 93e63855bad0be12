-- list_candidate_failures --
-- A run's per-candidate failures in the order they were recorded.
SELECT f.candidate_id, c.query_id, c.doc_id, c.rank, f.reason, f.raw_excerpt, f.created_at
FROM candidate_failures f
JOIN candidates c ON c.id = f.candidate_id
WHERE f.ai_judging_run_id = $1
  AND ($2::timestamptz IS NULL OR (f.created_at, f.candidate_id) > ($2, $3::uuid))
ORDER BY f.created_at, f.candidate_id
LIMIT $4;

-- reusable_judgments --
-- For each fingerprint in $1, the latest successful judgment with it by a judging run other than $2 (null: any): its grade and reasoning, and the judging run that called the provider for it (a judgment reused already names its source). One probe of ai_run_judgments_fingerprint_idx per fingerprint.
SELECT DISTINCT ON (j.fingerprint)
       j.fingerprint, j.grade, j.reasoning,
       coalesce(j.reused_from, j.ai_judging_run_id) AS source_run
FROM ai_run_judgments j
WHERE j.fingerprint = ANY($1::bytea[]) AND j.fingerprint IS NOT NULL
  AND j.ai_judging_run_id IS DISTINCT FROM $2::uuid
ORDER BY j.fingerprint, j.created_at DESC;

-- candidates_by_id --
-- Candidates $2 of evaluation run $1 with their query's text, as a run reads them (to fingerprint the judgments of a provider batch's answer).
SELECT c.id, c.query_id, q.text AS query, c.doc_id, c.rank, c.title, c.text, c.fields
FROM candidates c
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
WHERE c.evaluation_run_id = $1 AND c.id = ANY($2::uuid[]);

-- record_settings_fingerprint --
-- Judging run $1 decides with settings hashed $2: record it, and answer whether any other run had the same settings (only then can a fingerprint of this run match an earlier judgment).
WITH recorded AS (
    UPDATE ai_judging_runs SET settings_fingerprint = $2 WHERE id = $1 RETURNING id
)
SELECT EXISTS (
    SELECT 1 FROM ai_judging_runs
    WHERE settings_fingerprint = $2 AND id <> $1
) AS seen_before;

-- known_fingerprint_prefixes --
-- The first 8 bytes (as a bigint) of the fingerprint of every successful judgment of the judging runs other than $1 whose settings hash $2, at most $3 rows: a run holds them in memory and looks up in the database only the candidates one of them may answer (over $3, it looks every page up). Reads the runs' judgments through their primary key.
SELECT ('x' || encode(substring(j.fingerprint FROM 1 FOR 8), 'hex'))::bit(64)::bigint AS prefix
FROM ai_judging_runs r
JOIN ai_run_judgments j ON j.ai_judging_run_id = r.id
WHERE r.settings_fingerprint = $2 AND r.id <> $1 AND j.fingerprint IS NOT NULL
LIMIT $3;

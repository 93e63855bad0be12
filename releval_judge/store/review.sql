-- scope_totals --
-- Queries, candidates and batches (of $4 candidates, never mixing queries) in a scope.
WITH in_scope AS (SELECT * FROM candidates_in_scope($1, $2::text, $3::uuid)),
per_query AS (SELECT query_id, count(*) AS n FROM in_scope GROUP BY query_id)
SELECT count(*)::bigint AS queries,
       coalesce(sum(n), 0)::bigint AS candidates,
       coalesce(sum((n + $4 - 1) / $4), 0)::bigint AS batches
FROM per_query;

-- scope_query_sample --
-- Up to $5 queries of a scope in a random order fixed by the seed $4, with their counts.
WITH in_scope AS (SELECT * FROM candidates_in_scope($1, $2::text, $3::uuid))
SELECT query_id, count(*)::int AS candidates
FROM in_scope
GROUP BY query_id
ORDER BY md5($4::text || query_id), query_id
LIMIT $5;

-- scope_candidates_of_queries --
-- The candidates in a scope of the given queries ($4), in (query_id, rank, id) order.
WITH in_scope AS (SELECT * FROM candidates_in_scope($1, $2::text, $3::uuid))
SELECT c.id, c.query_id, q.text AS query, c.doc_id, c.rank, c.title, c.text, c.fields
FROM in_scope s
JOIN candidates c ON c.id = s.id
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
WHERE s.query_id = ANY($4::text[])
ORDER BY c.query_id, c.rank, c.id;

-- judge_output_tokens_per_candidate --
-- Output tokens per candidate over the earlier judging runs of one judge (null: none yet); reused judgments cost no tokens and are not counted.
SELECT sum(output_tokens)::float8 / nullif(sum(judged + failed - reused), 0) AS per_candidate,
       coalesce(sum(judged + failed - reused), 0)::bigint AS candidates
FROM ai_judging_runs
WHERE ai_judge_id = $1 AND judged + failed - reused > 0;

-- get_candidate_of_run --
-- One candidate of an evaluation run, with its query's text.
SELECT c.id, c.query_id, q.text AS query, c.doc_id, c.rank
FROM candidates c
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
WHERE c.evaluation_run_id = $1 AND c.id = $2;

-- upsert_human_judgment --
-- Record one human judge's grade of a candidate, replacing the judge's earlier one, and append the write by $6 to the grade's history.
WITH written AS (
    INSERT INTO human_judgments (candidate_id, evaluation_run_id, judge, grade, reasoning)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (candidate_id, judge) DO UPDATE
    SET grade = EXCLUDED.grade, reasoning = EXCLUDED.reasoning, created_at = clock_timestamp()
    RETURNING candidate_id, evaluation_run_id, judge, grade, reasoning, created_at
), logged AS (
    INSERT INTO human_judgment_history (candidate_id, evaluation_run_id, judge, action, grade,
                                        reasoning, changed_by)
    SELECT candidate_id, evaluation_run_id, judge, 'put', grade, reasoning, $6 FROM written
)
SELECT created_at FROM written;

-- delete_human_judgment --
-- Remove one human judge's grade of a candidate and append the delete by $4 to its history; no row (and no history) when there was none.
WITH deleted AS (
    DELETE FROM human_judgments
    WHERE candidate_id = $1 AND evaluation_run_id = $2 AND judge = $3
    RETURNING candidate_id, evaluation_run_id, judge
), logged AS (
    INSERT INTO human_judgment_history (candidate_id, evaluation_run_id, judge, action,
                                        changed_by)
    SELECT candidate_id, evaluation_run_id, judge, 'delete', $4 FROM deleted
)
SELECT candidate_id FROM deleted;

-- human_judgment_history --
-- The writes and deletes of candidate $1's human grades (of judge $2, or every judge), newest first, keyset-paginated on seq ($3).
SELECT seq, candidate_id::text, judge, action, grade, reasoning, changed_by AS by,
       changed_at AS at
FROM human_judgment_history
WHERE candidate_id = $1
  AND ($2::text IS NULL OR judge = $2)
  AND ($3::bigint IS NULL OR seq < $3)
ORDER BY seq DESC
LIMIT $4;

-- human_judges_of_run --
-- The human judges of an evaluation run, the one with the most judgments first.
SELECT judge, count(*)::int AS judgments
FROM human_judgments
WHERE evaluation_run_id = $1
GROUP BY judge
ORDER BY count(*) DESC, judge;

-- export_current_judgments_page --
-- A page of an evaluation run's current judgments (AI and human) for export, filtered, in
-- (query_id, rank, candidate id, source, judge) order after the given key.
SELECT c.id AS candidate_id, c.query_id, q.text AS query, c.doc_id, c.rank, j.grade,
       j.reasoning, j.source, j.judge, j.ai_judging_run_id, j.created_at
FROM candidates c
CROSS JOIN LATERAL (
    SELECT 'ai'::text AS source, a.judge, a.grade, a.reasoning, a.ai_judging_run_id,
           a.created_at
    FROM ai_judgments a WHERE a.candidate_id = c.id
    UNION ALL
    SELECT 'human'::text, h.judge, h.grade, h.reasoning, NULL::uuid, h.created_at
    FROM human_judgments h WHERE h.candidate_id = c.id
) j
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
WHERE c.evaluation_run_id = $1
  AND ($2::text IS NULL OR j.source = $2)
  AND ($3::int IS NULL OR j.grade >= $3)
  AND ($4::int IS NULL OR j.grade <= $4)
  AND ($5::text IS NULL OR j.judge = $5)
  -- The first condition lets the candidates' index start at the key's candidate.
  AND ($6::text IS NULL OR (
        (c.query_id, c.rank, c.id) >= ($6, $7::int, $8::uuid)
        AND (c.query_id, c.rank, c.id, j.source, j.judge)
            > ($6, $7::int, $8::uuid, $9::text, $10::text)))
ORDER BY c.query_id, c.rank, c.id, j.source, j.judge
LIMIT $11;

-- run_judgments_page --
-- A page of every judgment one judging run produced (current or overwritten since), with the run each reused one came from.
-- Filtered by grade ($3, $4; null: any), in (query_id, rank, candidate id) order after the given key.
SELECT c.id AS candidate_id, c.query_id, q.text AS query, c.doc_id, c.rank, j.grade,
       j.reasoning, j.created_at, coalesce(a.ai_judging_run_id = j.ai_judging_run_id, false)
       AS current, j.reused_from
FROM candidates c
JOIN ai_run_judgments j ON j.candidate_id = c.id AND j.ai_judging_run_id = $2
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
LEFT JOIN ai_judgments a ON a.candidate_id = c.id
WHERE c.evaluation_run_id = $1
  AND ($3::int IS NULL OR j.grade >= $3)
  AND ($4::int IS NULL OR j.grade <= $4)
  AND ($5::text IS NULL OR (c.query_id, c.rank, c.id) > ($5, $6::int, $7::uuid))
ORDER BY c.query_id, c.rank, c.id
LIMIT $8;

-- ids_unfit_for_qrels --
-- A candidate whose query or document id holds white space (TREC files split on it).
SELECT query_id, doc_id FROM candidates
WHERE evaluation_run_id = $1 AND (query_id ~ '\s' OR doc_id ~ '\s')
LIMIT 1;

-- sample_current_judgments --
-- $4 current judgments of an evaluation run drawn at random (fixed by the seed $3).
WITH j AS ({current_judgments}),
drawn AS (
    SELECT * FROM j
    WHERE ($2::text IS NULL OR j.source = $2)
    ORDER BY md5($3::text || j.candidate_id::text || j.source || j.judge)
    LIMIT $4
)
SELECT d.candidate_id, c.query_id, q.text AS query, c.doc_id, c.rank, d.grade, d.reasoning,
       d.source, d.judge, d.ai_judging_run_id, d.created_at
FROM drawn d
JOIN candidates c ON c.id = d.candidate_id
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
ORDER BY c.query_id, c.rank, d.source, d.judge;

-- sample_candidates --
-- $4 candidates of an evaluation run drawn at random (fixed by the seed $3); with a human
-- judge ($2), only candidates that judge graded, with the grade.
SELECT c.id, c.query_id, q.text AS query, c.doc_id, c.rank, c.title, c.text, c.fields,
       h.grade AS human_grade
FROM candidates c
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
LEFT JOIN human_judgments h ON h.candidate_id = c.id AND h.judge = $2
WHERE c.evaluation_run_id = $1 AND ($2::text IS NULL OR h.judge IS NOT NULL)
ORDER BY md5($3::text || c.id::text)
LIMIT $4;

-- agreement_counts --
-- (human grade, AI grade) pair counts over the candidates one judging run judged and one
-- human judge graded.
SELECT h.grade AS human, j.grade AS ai, count(*)::int AS pairs
FROM ai_run_judgments j
JOIN human_judgments h ON h.candidate_id = j.candidate_id AND h.judge = $2
WHERE j.ai_judging_run_id = $1
GROUP BY h.grade, j.grade;

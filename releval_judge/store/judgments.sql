-- current_judgments --
-- Part of other statements ({current_judgments}): the current judgments of evaluation run $1, AI and human, as (candidate_id, source, judge, grade, reasoning, ai_judging_run_id, created_at).
SELECT a.candidate_id, 'ai'::text AS source, a.judge, a.grade, a.reasoning,
       a.ai_judging_run_id, a.created_at
FROM ai_judgments a WHERE a.evaluation_run_id = $1
UNION ALL
SELECT h.candidate_id, 'human'::text, h.judge, h.grade, h.reasoning, NULL::uuid,
       h.created_at
FROM human_judgments h WHERE h.evaluation_run_id = $1;

-- judgment_filters --
-- Part of the listings below ({judgment_filters}): the filters $2-$8 on j (a current judgment) and c (its candidate).
    ($2::text IS NULL OR j.source = $2)
AND ($3::int IS NULL OR j.grade = $3)
AND ($4::int IS NULL OR j.grade >= $4)
AND ($5::int IS NULL OR j.grade <= $5)
AND ($6::int IS NULL OR c.rank <= $6)
AND ($7::text IS NULL OR c.query_id = $7)
AND ($8::uuid IS NULL OR j.ai_judging_run_id = $8)

-- list_judgments --
-- An evaluation run's current judgments, filtered ($2-$8), for any sort: every current judgment of the run is read and sorted. store/judgments.py adds the keyset condition ($9…), the ORDER BY and the LIMIT of the sort asked for.
WITH j AS ({current_judgments})
SELECT j.candidate_id, c.query_id, q.text AS query, c.doc_id, c.rank, j.grade, j.reasoning,
       j.source, j.judge, j.ai_judging_run_id, j.created_at
FROM j
JOIN candidates c ON c.id = j.candidate_id
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
WHERE {judgment_filters}

-- list_judgments_by_query --
-- The same listing for a sort that starts with query_id (the default, query_id then rank): candidates are read in candidates_stream_idx order and each one's judgments looked up by primary key, so a page reads about as many rows as it returns instead of every judgment of the run (docs/benchmarks.md, "Reads while a run writes"). The same additions as list_judgments.
SELECT j.candidate_id, c.query_id,
       (SELECT q.text FROM queries q
        WHERE q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id) AS query,
       c.doc_id, c.rank, j.grade, j.reasoning, j.source, j.judge, j.ai_judging_run_id,
       j.created_at
FROM candidates c
CROSS JOIN LATERAL (
    SELECT a.candidate_id, 'ai'::text AS source, a.judge, a.grade, a.reasoning,
           a.ai_judging_run_id, a.created_at
    FROM ai_judgments a WHERE a.candidate_id = c.id
    UNION ALL
    SELECT h.candidate_id, 'human'::text, h.judge, h.grade, h.reasoning, NULL::uuid,
           h.created_at
    FROM human_judgments h WHERE h.candidate_id = c.id
) j
WHERE c.evaluation_run_id = $1 AND {judgment_filters}

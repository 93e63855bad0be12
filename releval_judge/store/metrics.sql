-- ranked_grades --
-- Every query of evaluation run $1 with its candidates in position order and their grades.
-- AI: the current judgment, or judging run $2's own; human: judge $3's, or the latest of
-- any judge. A query without candidates is one row with null candidate columns.
SELECT q.query_id, c.doc_id, c.rank,
       CASE WHEN $2::uuid IS NULL THEN a.grade ELSE r.grade END AS ai_grade,
       h.grade AS human_grade
FROM queries q
LEFT JOIN candidates c ON c.evaluation_run_id = q.evaluation_run_id AND c.query_id = q.query_id
LEFT JOIN ai_judgments a ON $2::uuid IS NULL AND a.candidate_id = c.id
LEFT JOIN ai_run_judgments r ON r.ai_judging_run_id = $2::uuid AND r.candidate_id = c.id
LEFT JOIN LATERAL (
    SELECT hj.grade FROM human_judgments hj
    WHERE hj.candidate_id = c.id AND ($3::text IS NULL OR hj.judge = $3::text)
    ORDER BY hj.created_at DESC, hj.judge
    LIMIT 1
) h ON true
WHERE q.evaluation_run_id = $1
ORDER BY q.query_id, c.rank, c.doc_id;

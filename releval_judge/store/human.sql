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

-- ui_grade_counts_current --
-- Current AI judgments of evaluation run $1 per grade (the run page's distribution).
SELECT grade, count(*)::int AS n FROM ai_judgments
WHERE evaluation_run_id = $1
GROUP BY grade ORDER BY grade;

-- ui_grade_counts_run --
-- Judgments AI judging run $1 produced per grade, overwritten ones included.
SELECT grade, count(*)::int AS n FROM ai_run_judgments
WHERE ai_judging_run_id = $1
GROUP BY grade ORDER BY grade;

-- ui_judgments_of_candidates --
-- Every current judgment (AI and human) of the candidates $2 of evaluation run $1.
SELECT a.candidate_id, 'ai'::text AS source, a.judge, a.grade, a.reasoning
FROM ai_judgments a
WHERE a.evaluation_run_id = $1 AND a.candidate_id = ANY($2::uuid[])
UNION ALL
SELECT h.candidate_id, 'human'::text, h.judge, h.grade, h.reasoning
FROM human_judgments h
WHERE h.evaluation_run_id = $1 AND h.candidate_id = ANY($2::uuid[])
ORDER BY 1, 2, 3;

-- ui_queue_documents --
-- The documents of candidates $2 of evaluation run $1 (title, text, fields), each with its current AI judgment's reasoning and the document rules (max_document_chars, fields) of the judge snapshot that gave it (nulls: no AI judgment yet).
SELECT c.id AS candidate_id, c.title, c.text, c.fields, a.reasoning,
       r.judge_config -> 'max_document_chars' AS max_document_chars,
       r.judge_config -> 'fields' AS judge_fields,
       a.ai_judging_run_id IS NOT NULL AS judged
FROM candidates c
LEFT JOIN ai_judgments a ON a.candidate_id = c.id
LEFT JOIN ai_judging_runs r ON r.id = a.ai_judging_run_id
WHERE c.evaluation_run_id = $1 AND c.id = ANY($2::uuid[]);

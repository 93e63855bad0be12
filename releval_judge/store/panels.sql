-- insert_panel --
-- Create a judge panel.
INSERT INTO judge_panels (name, aggregation, ai_judge_ids) VALUES ($1, $2, $3::uuid[])
RETURNING *;

-- missing_judges --
-- The ids among $1 that name no AI judge.
SELECT wanted.id FROM unnest($1::uuid[]) AS wanted (id)
WHERE NOT EXISTS (SELECT 1 FROM ai_judges j WHERE j.id = wanted.id);

-- get_panel --
-- One judge panel.
SELECT * FROM judge_panels WHERE id = $1;

-- list_panels --
-- Newest first, keyset-paginated on (created_at, id).
SELECT * FROM judge_panels
WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $3;

-- get_panel_for_update --
-- Hold a panel's row while it is deleted (a panel run that starts meanwhile waits).
SELECT id FROM judge_panels WHERE id = $1 FOR UPDATE;

-- count_running_panel_runs_of_panel --
-- Running panel runs of a panel (a panel in use is not deleted).
SELECT count(*) FROM panel_runs WHERE panel_id = $1 AND status = 'running';

-- delete_panel --
-- Delete a panel; its ended panel runs keep its name and aggregation.
DELETE FROM judge_panels WHERE id = $1;

-- count_active_judging_runs --
-- Queued or running judging runs on one evaluation run (the panel's members count too).
SELECT count(*) FROM ai_judging_runs
WHERE evaluation_run_id = $1 AND status IN ('queued', 'running');

-- insert_panel_run --
-- A panel run of panel $1 on evaluation run $4 started by $5, running until its members end.
INSERT INTO panel_runs (panel_id, panel_name, aggregation, evaluation_run_id, scope, members,
                        created_by)
SELECT id, name, aggregation, $4, $2, $3, $5 FROM judge_panels WHERE id = $1
RETURNING *;

-- insert_panel_run_member --
-- Record member judging run $3 at position $2 of panel run $1.
INSERT INTO panel_run_members (panel_run_id, position, ai_judging_run_id) VALUES ($1, $2, $3);

-- get_panel_run --
-- One panel run.
SELECT * FROM panel_runs WHERE id = $1;

-- list_panel_runs --
-- The panel runs of an evaluation run, newest first, keyset-paginated on seq.
SELECT * FROM panel_runs
WHERE evaluation_run_id = $1 AND ($2::bigint IS NULL OR seq < $2)
ORDER BY seq DESC
LIMIT $3;

-- latest_completed_panel_run --
-- The evaluation run's most recent completed panel run, if any (the review queue's).
SELECT id FROM panel_runs WHERE evaluation_run_id = $1 AND status = 'completed'
ORDER BY seq DESC LIMIT 1;

-- panel_run_members --
-- The member judging runs of a panel run, in the panel's order, with their progress.
SELECT m.position, r.id, r.ai_judge_id, r.ai_judge_name, r.status, r.total, r.judged,
       r.failed, r.error
FROM panel_run_members m JOIN ai_judging_runs r ON r.id = m.ai_judging_run_id
WHERE m.panel_run_id = $1
ORDER BY m.position;

-- running_panel_runs --
-- Panel runs left running (resumed at start-up).
SELECT id FROM panel_runs WHERE status = 'running' ORDER BY seq;

-- panel_member_grades --
-- Per candidate that at least one member of panel run $1 graded: those members' grades.
SELECT j.candidate_id, array_agg(j.grade ORDER BY m.position) AS grades
FROM panel_run_members m
JOIN ai_run_judgments j ON j.ai_judging_run_id = m.ai_judging_run_id
WHERE m.panel_run_id = $1
GROUP BY j.candidate_id;

-- end_panel_run --
-- A running panel run becomes $2 (failed or cancelled, with error $3; cancelled by $4, null: by the service itself); null once it ended.
UPDATE panel_runs
SET status = $2, error = $3, cancelled_by = $4, finished_at = clock_timestamp()
WHERE id = $1 AND status = 'running'
RETURNING *;

-- finish_panel_run --
-- Write the aggregate in one statement: the panel's judgments, the current AI judgments (the panel is their judge of record, $3; run_seq the latest member's, so a judging run created later still wins) and the agreement; nothing when the panel run is no longer running or the evaluation run is locked (its row held FOR SHARE, as record_batch does).
WITH panel AS (
    SELECT id FROM panel_runs WHERE id = $2 AND status = 'running' FOR UPDATE
), evaluation AS (
    SELECT locked FROM evaluation_runs WHERE id = $1 FOR SHARE
), writable AS (
    SELECT EXISTS (SELECT 1 FROM panel)
           AND coalesce((SELECT NOT locked FROM evaluation), false) AS ok
), member_seq AS (
    SELECT max(r.seq) AS seq
    FROM panel_run_members m JOIN ai_judging_runs r ON r.id = m.ai_judging_run_id
    WHERE m.panel_run_id = $2
), rows AS (
    SELECT a.candidate_id, a.grade, a.disagreement, a.reasoning
    FROM unnest($4::uuid[], $5::int[], $6::bool[], $7::text[])
         AS a (candidate_id, grade, disagreement, reasoning)
    WHERE (SELECT ok FROM writable)
), aggregate AS (
    INSERT INTO panel_judgments (panel_run_id, candidate_id, grade, disagreement)
    SELECT $2, candidate_id, grade, disagreement FROM rows
    ON CONFLICT DO NOTHING
), current_judgments AS (
    INSERT INTO ai_judgments (candidate_id, evaluation_run_id, ai_judging_run_id, run_seq, judge,
                              grade, reasoning)
    SELECT candidate_id, $1, $2, (SELECT seq FROM member_seq), $3, grade, reasoning FROM rows
    ON CONFLICT (candidate_id) DO UPDATE
    SET ai_judging_run_id = EXCLUDED.ai_judging_run_id, run_seq = EXCLUDED.run_seq,
        judge = EXCLUDED.judge, grade = EXCLUDED.grade, reasoning = EXCLUDED.reasoning,
        created_at = clock_timestamp()
    WHERE ai_judgments.run_seq <= EXCLUDED.run_seq
), finished AS (
    UPDATE panel_runs
    SET status = 'completed', candidates = $8, complete_candidates = $9, disagreements = $10,
        fleiss_kappa = $11, krippendorff_alpha = $12, finished_at = clock_timestamp()
    WHERE id = $2 AND (SELECT ok FROM writable)
)
SELECT (SELECT ok FROM writable) AS ok, EXISTS (SELECT 1 FROM panel) AS running;

-- list_panel_judgments --
-- A panel run's aggregate judgments with every member's grade (null: that member did not grade it), in (query_id, rank, id) order from keyset ($3, $4, $5); $2 filters on the disagreement flag.
SELECT p.candidate_id, c.query_id, c.doc_id, c.rank, p.grade, p.disagreement,
       (SELECT array_agg(j.grade ORDER BY m.position)
        FROM panel_run_members m
        LEFT JOIN ai_run_judgments j
               ON j.ai_judging_run_id = m.ai_judging_run_id AND j.candidate_id = p.candidate_id
        WHERE m.panel_run_id = p.panel_run_id) AS member_grades
FROM panel_judgments p
JOIN candidates c ON c.id = p.candidate_id
WHERE p.panel_run_id = $1
  AND ($2::boolean IS NULL OR p.disagreement = $2)
  AND ($3::text IS NULL OR (c.query_id, c.rank, c.id) > ($3, $4::int, $5::uuid))
ORDER BY c.query_id, c.rank, c.id
LIMIT $6;

-- review_queue_candidates --
-- Candidates of evaluation run $1 without any human grade, with their AI grade, whether their query is in the human sample (has a human grade) and the disagreement flag of panel run $2 (null: no panel run).
WITH sampled AS (
    SELECT DISTINCT c.query_id
    FROM human_judgments h JOIN candidates c ON c.id = h.candidate_id
    WHERE h.evaluation_run_id = $1
)
SELECT c.id AS candidate_id, c.query_id, q.text AS query, c.doc_id, c.rank, c.title,
       a.grade AS ai_grade, a.judge AS ai_judge,
       pj.disagreement AS panel_disagreement,
       c.query_id IN (SELECT query_id FROM sampled) AS query_sampled
FROM candidates c
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
LEFT JOIN ai_judgments a ON a.candidate_id = c.id
LEFT JOIN panel_judgments pj ON pj.panel_run_id = $2::uuid AND pj.candidate_id = c.id
WHERE c.evaluation_run_id = $1
  AND NOT EXISTS (SELECT 1 FROM human_judgments h WHERE h.candidate_id = c.id);

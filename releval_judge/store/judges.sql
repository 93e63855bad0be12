-- insert_judge --
-- Create an AI judge from $1, its settings as a JSON object ({settings}: a column for each field of JudgeConfig, named by store/judges.py); $2 created it and is its last changer.
INSERT INTO ai_judges ({settings}, created_by, updated_by)
SELECT {settings}, $2, $2 FROM jsonb_populate_record(NULL::ai_judges, $1::jsonb)
RETURNING *;

-- update_judge --
-- Replace every setting of AI judge $1 by those of $2 (as insert_judge's $1); $3 changed it.
UPDATE ai_judges
SET ({settings}, updated_at, updated_by) = (
    SELECT {settings}, clock_timestamp(), $3::text
    FROM jsonb_populate_record(NULL::ai_judges, $2::jsonb)
)
WHERE id = $1
RETURNING *;

-- get_judge --
-- One AI judge by id.
SELECT * FROM ai_judges WHERE id = $1;

-- get_judge_for_update --
-- One AI judge, locked so a judging run cannot start on it while it is deleted or edited.
SELECT * FROM ai_judges WHERE id = $1 FOR UPDATE;

-- list_judges --
-- Newest first, keyset-paginated on (created_at, id).
SELECT * FROM ai_judges
WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $3;

-- count_active_runs_of_judge --
-- Queued or running judging runs that use a judge.
SELECT count(*) FROM ai_judging_runs
WHERE ai_judge_id = $1 AND status IN ('queued', 'running');

-- delete_judge --
-- Delete an AI judge; earlier judging runs keep its name and configuration.
DELETE FROM ai_judges WHERE id = $1;

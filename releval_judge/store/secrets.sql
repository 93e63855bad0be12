-- get_secret_canary --
-- The value every replica's RELEVAL_SECRET_KEY must decrypt (none before the first start).
SELECT token FROM secret_canary WHERE id = 1;

-- insert_secret_canary --
-- Store the canary unless another replica stored one first; the canary that is kept.
WITH inserted AS (
    INSERT INTO secret_canary (id, token) VALUES (1, $1)
    ON CONFLICT (id) DO NOTHING
    RETURNING token
)
SELECT token FROM inserted
UNION ALL
SELECT token FROM secret_canary WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM inserted);

-- replace_secret_canary --
-- RELEVAL_SECRET_KEY_RESET: the new key becomes the database's key.
INSERT INTO secret_canary (id, token) VALUES (1, $1)
ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, created_at = clock_timestamp();

-- sample_encrypted_api_key --
-- One provider API key stored encrypted (a judge's, else a judging run's snapshot), to check the key against a database from before the canary.
SELECT api_key_encrypted FROM (
    (SELECT api_key_encrypted FROM ai_judges WHERE api_key_encrypted IS NOT NULL LIMIT 1)
    UNION ALL
    (SELECT judge_config->>'api_key_encrypted' FROM ai_judging_runs
     WHERE judge_config->>'api_key_encrypted' IS NOT NULL LIMIT 1)
) k LIMIT 1;

-- lock_judge_keys --
-- Every judge's encrypted provider key, locked until the rotation commits.
SELECT id, api_key_encrypted FROM ai_judges WHERE api_key_encrypted IS NOT NULL FOR UPDATE;

-- set_judge_key --
-- A judge's provider key, re-encrypted.
UPDATE ai_judges SET api_key_encrypted = $2 WHERE id = $1;

-- lock_run_snapshot_keys --
-- Every judging run's snapshot of its judge's encrypted key, locked until the rotation commits.
SELECT id, judge_config->>'api_key_encrypted' AS api_key_encrypted FROM ai_judging_runs
WHERE judge_config->>'api_key_encrypted' IS NOT NULL FOR UPDATE;

-- set_run_snapshot_key --
-- A judging run's snapshot key, re-encrypted.
UPDATE ai_judging_runs
SET judge_config = jsonb_set(judge_config, '{api_key_encrypted}', to_jsonb($2::text))
WHERE id = $1;

-- lock_secret_canary --
-- The canary, locked until the rotation commits.
SELECT token FROM secret_canary WHERE id = 1 FOR UPDATE;

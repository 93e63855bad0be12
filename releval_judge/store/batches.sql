-- record_batch --
-- Write one batch in one statement (one round trip, one transaction): the run's judgments, the current judgments unless a later-created run wrote one, the failures, the counters; nothing when the evaluation run is locked (its row is held FOR SHARE so a lock waits for this write or is seen by it). $14, the custom_id of a provider batch's request, marks that request done, and its tokens count only the first time. Nothing either unless the writer holds the run's lease ($15 owner, $16 epoch): the run's row is locked for the statement, so a claim by another replica comes before it (and this writes nothing) or after it. Answers 'written', 'locked' or 'lease_lost'.
WITH evaluation AS (
    SELECT locked FROM evaluation_runs WHERE id = $1 FOR SHARE
), lease AS (
    SELECT 1 FROM ai_judging_runs
    WHERE id = $2 AND lease_owner = $15 AND lease_epoch = $16
    FOR NO KEY UPDATE
), checks AS (
    SELECT coalesce((SELECT NOT locked FROM evaluation), false) AS unlocked,
           EXISTS (SELECT 1 FROM lease) AS held
), writable AS (
    SELECT unlocked AND held AS ok FROM checks
), judged AS (
    INSERT INTO ai_run_judgments (ai_judging_run_id, candidate_id, grade, reasoning)
    SELECT $2, j.candidate_id, j.grade, j.reasoning
    FROM unnest($5::uuid[], $6::int[], $7::text[]) AS j (candidate_id, grade, reasoning)
    WHERE (SELECT ok FROM writable)
    ON CONFLICT DO NOTHING
    RETURNING candidate_id, grade, reasoning
), current_judgments AS (
    INSERT INTO ai_judgments (candidate_id, evaluation_run_id, ai_judging_run_id, run_seq, judge,
                              grade, reasoning)
    SELECT candidate_id, $1, $2, $3, $4, grade, reasoning FROM judged
    ON CONFLICT (candidate_id) DO UPDATE
    SET ai_judging_run_id = EXCLUDED.ai_judging_run_id, run_seq = EXCLUDED.run_seq,
        judge = EXCLUDED.judge, grade = EXCLUDED.grade, reasoning = EXCLUDED.reasoning,
        created_at = clock_timestamp()
    WHERE ai_judgments.run_seq <= EXCLUDED.run_seq
), failed AS (
    INSERT INTO candidate_failures (ai_judging_run_id, candidate_id, reason, raw_excerpt)
    SELECT $2, f.candidate_id, f.reason, f.raw_excerpt
    FROM unnest($8::uuid[], $9::text[], $10::text[]) AS f (candidate_id, reason, raw_excerpt)
    WHERE (SELECT ok FROM writable)
    ON CONFLICT DO NOTHING
    RETURNING 1
), request_done AS (
    UPDATE provider_requests SET done = true
    WHERE judging_run_id = $2 AND custom_id = $14::text AND NOT done
      AND (SELECT ok FROM writable)
    RETURNING 1
), tokens AS (
    SELECT ($14::text IS NULL OR EXISTS (SELECT 1 FROM request_done)) AS counted
), counted AS (
    UPDATE ai_judging_runs
    SET judged = judged + (SELECT count(*) FROM judged),
        failed = failed + (SELECT count(*) FROM failed),
        input_tokens = input_tokens + CASE WHEN (SELECT counted FROM tokens) THEN $11 ELSE 0 END,
        output_tokens = output_tokens + CASE WHEN (SELECT counted FROM tokens) THEN $12 ELSE 0 END,
        cached_input_tokens = cached_input_tokens
            + CASE WHEN (SELECT counted FROM tokens) THEN $13 ELSE 0 END
    WHERE id = $2 AND (SELECT ok FROM writable)
)
SELECT CASE WHEN NOT held THEN 'lease_lost' WHEN NOT unlocked THEN 'locked' ELSE 'written' END
FROM checks;

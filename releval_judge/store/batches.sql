-- pending_candidates --
-- The next page of a run's candidates in its scope that this judging run has neither judged
-- nor failed nor sent in a provider batch, in (query_id, rank, id) order after the given key.
-- `candidates` is the only table joined: the page is one scan of candidates_stream_idx from
-- the cursor, in page order, whatever the statistics say (they are often older than the
-- evaluation). Joined to `queries`, PostgreSQL planned a loop over the evaluation's queries
-- that read each query's candidates from its first one: every page read every candidate
-- before the cursor (tests/integration/test_page_plans.py).
WITH s AS (SELECT r.scope, r.id AS run_id FROM ai_judging_runs r WHERE r.id = $2)
SELECT c.id, c.query_id,
       (SELECT q.text FROM queries q
        WHERE q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id) AS query,
       c.doc_id, c.rank, c.title, c.text, c.fields
FROM candidates c
CROSS JOIN s
WHERE c.evaluation_run_id = $1
  AND (c.query_id, c.rank, c.id) > ($3, $4, $5::uuid)
  /* in scope */
  AND (s.scope = 'all'
       OR (s.scope = 'unjudged'
           AND NOT EXISTS (SELECT 1 FROM ai_judgments a WHERE a.candidate_id = c.id))
       OR (s.scope = 'failed'
           AND EXISTS (SELECT 1 FROM candidate_failures f
                       JOIN ai_judging_runs fr ON fr.id = f.ai_judging_run_id
                       WHERE f.candidate_id = c.id
                         AND f.ai_judging_run_id IS DISTINCT FROM s.run_id
                         AND NOT EXISTS (SELECT 1 FROM ai_run_judgments j
                                         JOIN ai_judging_runs jr ON jr.id = j.ai_judging_run_id
                                         WHERE j.candidate_id = c.id AND jr.seq >= fr.seq
                                           AND j.ai_judging_run_id IS DISTINCT FROM s.run_id))))
  /* end in scope */
  /* OFFSET 0 keeps each of these a lookup by primary key for each candidate of the page.
     Without it PostgreSQL may plan a join, and it estimates the run's rows from
     statistics older than the run (one row): the join then compares every candidate of
     the page with every row of the run, and a page 18,000 judgments into a run took
     1.7 s (tests/integration/test_page_plans.py). */
  AND NOT EXISTS (SELECT 1 FROM ai_run_judgments j
                  WHERE j.ai_judging_run_id = $2 AND j.candidate_id = c.id OFFSET 0)
  AND NOT EXISTS (SELECT 1 FROM candidate_failures f
                  WHERE f.ai_judging_run_id = $2 AND f.candidate_id = c.id OFFSET 0)
  /* not already in one of this run's provider batches (batch delivery) */
  AND NOT EXISTS (SELECT 1 FROM provider_request_items i
                  WHERE i.judging_run_id = $2 AND i.candidate_id = c.id OFFSET 0)
ORDER BY c.query_id, c.rank, c.id
LIMIT $6;

-- record_batch --
-- Write one batch in one statement (one round trip, one transaction): the run's judgments, the current judgments unless a later-created run wrote one, the failures, the counters; nothing when the evaluation run is locked (its row is held FOR SHARE so a lock waits for this write or is seen by it). $14, the custom_id of a provider batch's request, marks that request done, and its tokens count only the first time. Nothing either unless the writer holds the run's lease ($15 owner, $16 epoch): the run's row is locked for the statement, so a claim by another replica comes before it (and this writes nothing) or after it. Judgments keep their fingerprints ($17) and the run each was reused from ($18, null: judged by a call of this run). Answers 'written', 'locked' or 'lease_lost'.
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
    INSERT INTO ai_run_judgments (ai_judging_run_id, candidate_id, grade, reasoning,
                                  fingerprint, reused_from)
    SELECT $2, j.candidate_id, j.grade, j.reasoning, j.fingerprint, j.reused_from
    FROM unnest($5::uuid[], $6::int[], $7::text[], $17::bytea[], $18::uuid[])
         AS j (candidate_id, grade, reasoning, fingerprint, reused_from)
    WHERE (SELECT ok FROM writable)
    ON CONFLICT DO NOTHING
    RETURNING candidate_id, grade, reasoning, reused_from
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
        reused = reused + (SELECT count(*) FROM judged WHERE reused_from IS NOT NULL),
        input_tokens = input_tokens + CASE WHEN (SELECT counted FROM tokens) THEN $11 ELSE 0 END,
        output_tokens = output_tokens + CASE WHEN (SELECT counted FROM tokens) THEN $12 ELSE 0 END,
        cached_input_tokens = cached_input_tokens
            + CASE WHEN (SELECT counted FROM tokens) THEN $13 ELSE 0 END
    WHERE id = $2 AND (SELECT ok FROM writable)
)
SELECT CASE WHEN NOT held THEN 'lease_lost' WHEN NOT unlocked THEN 'locked' ELSE 'written' END
FROM checks;

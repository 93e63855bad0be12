-- insert_provider_batch --
-- Record a provider batch about to be submitted ('submitting'), before the provider is called; no row unless the writer holds the run's lease ($6 owner, $7 epoch), so that two replicas never submit the same candidates.
INSERT INTO provider_batches (judging_run_id, seq_no, provider, state, submission_key,
                              requests, reserved_cost)
SELECT $1, (SELECT coalesce(max(seq_no), 0) + 1 FROM provider_batches WHERE judging_run_id = $1),
       $2, 'submitting', $3, $4, $5
WHERE EXISTS (SELECT 1 FROM ai_judging_runs
              WHERE id = $1 AND lease_owner = $6 AND lease_epoch = $7 FOR NO KEY UPDATE)
RETURNING id, seq_no, created_at;

-- insert_provider_requests --
-- The requests of a provider batch: custom_id and how many candidates each carries.
INSERT INTO provider_requests (judging_run_id, custom_id, provider_batch, candidates)
SELECT $1, r.custom_id, $2, r.candidates
FROM unnest($3::text[], $4::int[]) AS r(custom_id, candidates);

-- insert_provider_request_items --
-- Which request (and ordinal in it) each candidate of a provider batch went into.
INSERT INTO provider_request_items (judging_run_id, candidate_id, custom_id, ordinal)
SELECT $1, i.candidate_id, i.custom_id, i.ordinal
FROM unnest($2::uuid[], $3::text[], $4::int[]) AS i(candidate_id, custom_id, ordinal);

-- mark_provider_batch_submitted --
-- The provider accepted the batch: store its id (nothing else may depend on it before this).
UPDATE provider_batches
SET state = 'submitted', provider_batch_id = $2, provider_status = $3, request_counts = $4,
    submitted_at = clock_timestamp()
WHERE id = $1;

-- update_provider_batch_status --
-- The provider's latest status, counts and result files of a submitted batch.
UPDATE provider_batches
SET provider_status = $2, request_counts = $3, output_ref = $4, error_ref = $5, error = $6
WHERE id = $1;

-- mark_provider_batch_read --
-- Every result of the batch is written: it is done.
UPDATE provider_batches SET state = 'read' WHERE id = $1;

-- delete_provider_batch --
-- Forget a batch the provider never received (its candidates become pending again).
WITH items AS (
    DELETE FROM provider_request_items i
    USING provider_requests r
    WHERE r.provider_batch = $1 AND i.judging_run_id = r.judging_run_id
      AND i.custom_id = r.custom_id
), requests AS (
    DELETE FROM provider_requests WHERE provider_batch = $1
)
DELETE FROM provider_batches WHERE id = $1;

-- open_provider_batches --
-- A run's provider batches whose results are not all written yet, in submission order.
SELECT id, seq_no, provider, state, submission_key, provider_batch_id, provider_status,
       request_counts, requests, reserved_cost, output_ref, error_ref, error, created_at
FROM provider_batches
WHERE judging_run_id = $1 AND state <> 'read'
ORDER BY seq_no;

-- provider_batch_ids_in_use --
-- Every provider batch id this service already tracks (so a search never claims one twice).
SELECT provider_batch_id FROM provider_batches
WHERE provider = $1 AND provider_batch_id IS NOT NULL;

-- provider_request_candidates --
-- The candidates of those of some requests of a run whose result is not written yet, by custom_id, in ordinal order (a result read again after a crash finds none).
SELECT i.custom_id, i.ordinal, i.candidate_id
FROM provider_request_items i
JOIN provider_requests r ON r.judging_run_id = i.judging_run_id AND r.custom_id = i.custom_id
WHERE i.judging_run_id = $1 AND i.custom_id = ANY($2::text[]) AND NOT r.done
ORDER BY i.custom_id, i.ordinal;

-- undone_provider_requests --
-- Requests of a provider batch whose result has not been written (missing from the results).
SELECT custom_id FROM provider_requests
WHERE provider_batch = $1 AND NOT done
ORDER BY custom_id;

-- reserved_cost_of_open_batches --
-- What the provider batches of a run not yet read may still cost (for the cost limit).
SELECT coalesce(sum(reserved_cost), 0) FROM provider_batches
WHERE judging_run_id = $1 AND state <> 'read';

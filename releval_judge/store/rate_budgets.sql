-- take_rate_budget --
-- Take one call's turn on a provider key's shared budget if it is due (GCRA: request and token theoretical arrival times, a pause after a 429), in one statement; else how many seconds until it is.
WITH now AS (
    SELECT clock_timestamp() AS t
), row AS (
    INSERT INTO provider_rate_budgets (key_id) VALUES ($1)
    ON CONFLICT (key_id) DO NOTHING
), granted AS (
    UPDATE provider_rate_budgets b
    SET request_tat = greatest(b.request_tat, (SELECT t FROM now)) + make_interval(secs => $2),
        token_tat = greatest(b.token_tat, (SELECT t FROM now)) + make_interval(secs => $3)
    WHERE b.key_id = $1
      AND b.request_tat <= (SELECT t FROM now)
      AND b.token_tat <= (SELECT t FROM now)
      AND b.paused_until <= (SELECT t FROM now)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM granted) AS granted,
       coalesce((SELECT extract(epoch FROM greatest(b.request_tat, b.token_tat, b.paused_until)
                                         - (SELECT t FROM now))
                 FROM provider_rate_budgets b WHERE b.key_id = $1), 0)::float8 AS wait_s;

-- pause_rate_budget --
-- A 429 with Retry-After on this key: no replica's call on it starts before then.
INSERT INTO provider_rate_budgets (key_id, paused_until)
VALUES ($1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (key_id) DO UPDATE
SET paused_until = greatest(provider_rate_budgets.paused_until, EXCLUDED.paused_until);

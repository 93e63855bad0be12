-- The whole schema of releval-judge. Idempotent: applied at every start-up.

CREATE TABLE IF NOT EXISTS evaluation_runs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL,
    status          text NOT NULL DEFAULT 'completed'
                    CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed')),
    locked          boolean NOT NULL DEFAULT false,
    scale_min       integer NOT NULL,
    scale_max       integer NOT NULL,
    scale_labels    jsonb NOT NULL DEFAULT '{}'::jsonb,
    query_count     integer NOT NULL DEFAULT 0,
    candidate_count integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (scale_max > scale_min)
);
CREATE INDEX IF NOT EXISTS evaluation_runs_created_idx ON evaluation_runs (created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS queries (
    evaluation_run_id uuid NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
    query_id          text NOT NULL,
    text              text NOT NULL,
    PRIMARY KEY (evaluation_run_id, query_id)
);

-- No foreign key to queries: bulk imports COPY candidates before their queries are known;
-- the import inserts the queries in the same transaction.
CREATE TABLE IF NOT EXISTS candidates (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    evaluation_run_id uuid NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
    query_id          text NOT NULL,
    doc_id            text NOT NULL,
    rank              integer NOT NULL,
    title             text,
    text              text,
    fields            jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (evaluation_run_id, query_id, doc_id)
);
-- The engine streams a run's candidates in this order (keyset pagination).
CREATE INDEX IF NOT EXISTS candidates_stream_idx ON candidates (evaluation_run_id, query_id, rank, id);

CREATE TABLE IF NOT EXISTS ai_judges (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL,
    provider           text NOT NULL CHECK (provider IN ('openai', 'anthropic')),
    model              text NOT NULL,
    base_url           text,
    api_key_encrypted  text,
    api_key_env        text,
    prompt_template    text,
    batch_size         integer NOT NULL,
    concurrency        integer NOT NULL,
    temperature        double precision NOT NULL,
    max_output_tokens  integer,
    request_timeout_s  double precision NOT NULL,
    max_retries        integer NOT NULL,
    requests_per_minute integer,
    tokens_per_minute  integer,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS ai_judges_created_idx ON ai_judges (created_at DESC, id DESC);

-- seq orders runs by creation: the later-created run's judgment wins (overwrite rule).
CREATE TABLE IF NOT EXISTS ai_judging_runs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq               bigserial UNIQUE,
    evaluation_run_id uuid NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
    -- Set null when the judge is deleted later; the name and the configuration stay.
    ai_judge_id       uuid REFERENCES ai_judges (id) ON DELETE SET NULL,
    ai_judge_name     text NOT NULL,
    -- The judge as it was when the run was created (API key still encrypted), so that
    -- editing the judge never changes a run in progress or one resumed after a restart.
    judge_config      jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    total             integer NOT NULL DEFAULT 0,
    judged            integer NOT NULL DEFAULT 0,
    failed            integer NOT NULL DEFAULT 0,
    input_tokens      bigint NOT NULL DEFAULT 0,
    output_tokens     bigint NOT NULL DEFAULT 0,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE INDEX IF NOT EXISTS ai_judging_runs_eval_idx ON ai_judging_runs (evaluation_run_id, seq DESC);
CREATE INDEX IF NOT EXISTS ai_judging_runs_active_idx ON ai_judging_runs (status)
    WHERE status IN ('queued', 'running');

-- Every judgment a judging run produced, whether or not it is still current.
CREATE TABLE IF NOT EXISTS ai_run_judgments (
    ai_judging_run_id uuid NOT NULL,
    candidate_id      uuid NOT NULL,
    grade             integer NOT NULL,
    reasoning         text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (ai_judging_run_id, candidate_id)
);

-- The current AI judgment of each candidate: one per candidate, from the latest-created run.
CREATE TABLE IF NOT EXISTS ai_judgments (
    candidate_id      uuid PRIMARY KEY,
    evaluation_run_id uuid NOT NULL,
    ai_judging_run_id uuid NOT NULL,
    run_seq           bigint NOT NULL,
    judge             text NOT NULL,
    grade             integer NOT NULL,
    reasoning         text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS ai_judgments_eval_idx ON ai_judgments (evaluation_run_id);

CREATE TABLE IF NOT EXISTS human_judgments (
    candidate_id      uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    evaluation_run_id uuid NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
    judge             text NOT NULL,
    grade             integer NOT NULL,
    reasoning         text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (candidate_id, judge)
);
CREATE INDEX IF NOT EXISTS human_judgments_eval_idx ON human_judgments (evaluation_run_id);

CREATE TABLE IF NOT EXISTS candidate_failures (
    ai_judging_run_id uuid NOT NULL,
    candidate_id      uuid NOT NULL,
    reason            text NOT NULL,
    raw_excerpt       text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (ai_judging_run_id, candidate_id)
);

CREATE TABLE IF NOT EXISTS api_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Scopes (docs/security.md): tokens made before scopes existed could change everything
-- but had no token API to reach, which is what 'write' allows.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS scopes text[] NOT NULL DEFAULT '{write}'
    CHECK (scopes <@ ARRAY['read', 'write', 'admin'] AND cardinality(scopes) > 0);
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
-- Revoked tokens stay (their names are who did what), refused from then on.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS revoked_at timestamptz;

-- Review, export and calibration (issue #5). Appended, idempotent.

-- A judge's prices (per million tokens, for estimates and run costs) and its document rules:
-- max_document_chars cuts long text, fields chooses which candidate fields reach the prompt.
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS input_price_per_mtok double precision
    CHECK (input_price_per_mtok >= 0);
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS output_price_per_mtok double precision
    CHECK (output_price_per_mtok >= 0);
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS max_document_chars integer
    CHECK (max_document_chars >= 1);
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS fields text[];

-- Which candidates a judging run covers: all, those without a current AI judgment, or
-- those whose last AI attempt failed (see docs/reviewing.md).
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS scope text NOT NULL DEFAULT 'all'
    CHECK (scope IN ('all', 'unjudged', 'failed'));

-- The "failed" scope looks up every run's judgment and failure of a candidate.
CREATE INDEX IF NOT EXISTS ai_run_judgments_candidate_idx ON ai_run_judgments (candidate_id);
CREATE INDEX IF NOT EXISTS candidate_failures_candidate_idx ON candidate_failures (candidate_id);
-- Agreement and the judge test look up one human judge's judgments of a run.
CREATE INDEX IF NOT EXISTS human_judgments_eval_judge_idx
    ON human_judgments (evaluation_run_id, judge);

-- Judgments and failures carry no foreign keys to candidates, judging runs or evaluation
-- runs: every batch write would otherwise lock each referenced row (FOR KEY SHARE) and
-- contend on the judging run's row, the hottest path of the service. The engine writes
-- only ids it read from those tables, and no route deletes them. Dropped here for
-- databases created before this decision.
ALTER TABLE ai_run_judgments DROP CONSTRAINT IF EXISTS ai_run_judgments_ai_judging_run_id_fkey;
ALTER TABLE ai_run_judgments DROP CONSTRAINT IF EXISTS ai_run_judgments_candidate_id_fkey;
ALTER TABLE ai_judgments DROP CONSTRAINT IF EXISTS ai_judgments_candidate_id_fkey;
ALTER TABLE ai_judgments DROP CONSTRAINT IF EXISTS ai_judgments_evaluation_run_id_fkey;
ALTER TABLE ai_judgments DROP CONSTRAINT IF EXISTS ai_judgments_ai_judging_run_id_fkey;
ALTER TABLE candidate_failures DROP CONSTRAINT IF EXISTS candidate_failures_ai_judging_run_id_fkey;
ALTER TABLE candidate_failures DROP CONSTRAINT IF EXISTS candidate_failures_candidate_id_fkey;

-- The candidates of evaluation run $1 in judging scope $2 ('all', 'unjudged', 'failed'),
-- seen from judging run $3 (or null): one definition for the scope count of
-- store/judging_runs.sql and the totals and samples of store/review.sql. pending_candidates
-- (store/batches.sql) applies the same rules row by row, so that its keyset page can use the
-- candidates index.
CREATE OR REPLACE FUNCTION candidates_in_scope(uuid, text, uuid)
RETURNS TABLE (id uuid, query_id text)
LANGUAGE sql STABLE AS $fn$
SELECT c.id, c.query_id FROM candidates c
WHERE $2::text = 'all' AND c.evaluation_run_id = $1
UNION ALL
SELECT c.id, c.query_id FROM candidates c
WHERE $2::text = 'unjudged' AND c.evaluation_run_id = $1
  AND NOT EXISTS (SELECT 1 FROM ai_judgments a
                  WHERE a.candidate_id = c.id AND a.evaluation_run_id = $1)
UNION ALL
SELECT c.id, c.query_id FROM candidates c
WHERE $2::text = 'failed' AND c.evaluation_run_id = $1
  AND c.id IN (SELECT f.candidate_id FROM candidate_failures f
               JOIN ai_judging_runs fr ON fr.id = f.ai_judging_run_id
               WHERE fr.evaluation_run_id = $1
                 AND f.ai_judging_run_id IS DISTINCT FROM $3::uuid
                 AND NOT EXISTS (SELECT 1 FROM ai_run_judgments j
                                 JOIN ai_judging_runs jr ON jr.id = j.ai_judging_run_id
                                 WHERE j.candidate_id = f.candidate_id
                                   AND jr.evaluation_run_id = $1 AND jr.seq >= fr.seq
                                   AND j.ai_judging_run_id IS DISTINCT FROM $3::uuid));
$fn$;

-- Providers in 2026 (issue #11): reasoning models, batch delivery, prompt caching, cost limits.

-- temperature null: not sent (reasoning models refuse any value but their default).
ALTER TABLE ai_judges ALTER COLUMN temperature DROP NOT NULL;
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS delivery text NOT NULL DEFAULT 'live'
    CHECK (delivery IN ('live', 'batch'));
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS reasoning_effort text
    CHECK (reasoning_effort IN ('minimal', 'low', 'medium', 'high'));
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS cached_input_price_per_mtok double precision
    CHECK (cached_input_price_per_mtok >= 0);
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS batch_price_factor double precision
    NOT NULL DEFAULT 0.5 CHECK (batch_price_factor > 0 AND batch_price_factor <= 1);

ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS delivery text NOT NULL DEFAULT 'live'
    CHECK (delivery IN ('live', 'batch'));
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS cached_input_tokens bigint
    NOT NULL DEFAULT 0;
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS max_cost double precision
    CHECK (max_cost > 0);

-- A batch run's batches at the provider. The row (with its requests below) is written
-- before the provider is called; provider_batch_id is stored the moment the provider
-- answers, so that a restart resumes polling it instead of submitting it again. A
-- restart that finds a row 'submitting' without an id first asks the provider for a batch
-- carrying submission_key (OpenAI: metadata; Anthropic: see docs/providers.md).
CREATE TABLE IF NOT EXISTS provider_batches (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    judging_run_id    uuid NOT NULL REFERENCES ai_judging_runs (id) ON DELETE CASCADE,
    seq_no            integer NOT NULL,
    provider          text NOT NULL,
    state             text NOT NULL DEFAULT 'preparing'
                      CHECK (state IN ('preparing', 'prepared', 'submitting', 'submitted',
                                       'read')),
    submission_key    text NOT NULL,
    provider_batch_id text,
    input_file_id     text,
    provider_status   text,
    request_counts    jsonb NOT NULL DEFAULT '{}'::jsonb,
    requests          integer NOT NULL DEFAULT 0,
    reserved_cost     double precision NOT NULL DEFAULT 0,
    output_ref        text,
    error_ref         text,
    error             text,
    submitted_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (judging_run_id, seq_no)
);

-- One provider request (one batch of candidates, one query) of a provider batch.
CREATE TABLE IF NOT EXISTS provider_requests (
    judging_run_id    uuid NOT NULL REFERENCES ai_judging_runs (id) ON DELETE CASCADE,
    custom_id         text NOT NULL,
    provider_batch    uuid NOT NULL REFERENCES provider_batches (id) ON DELETE CASCADE,
    candidates        integer NOT NULL,
    done              boolean NOT NULL DEFAULT false,
    PRIMARY KEY (judging_run_id, custom_id)
);
CREATE INDEX IF NOT EXISTS provider_requests_batch_idx ON provider_requests (provider_batch);

-- Which request each candidate of a batch run went into, and its ordinal ("1", "2", …)
-- there: the map from a result back to candidates, and what keeps a candidate out of a
-- second request.
CREATE TABLE IF NOT EXISTS provider_request_items (
    judging_run_id    uuid NOT NULL REFERENCES ai_judging_runs (id) ON DELETE CASCADE,
    candidate_id      uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    custom_id         text NOT NULL,
    ordinal           integer NOT NULL,
    PRIMARY KEY (judging_run_id, candidate_id)
);
CREATE INDEX IF NOT EXISTS provider_request_items_request_idx
    ON provider_request_items (judging_run_id, custom_id);

-- A judging run's provider batches as its JSON shows them ([] for a live run), as a
-- one-row table: every query that returns a run joins it (`FROM ai_judging_runs r,
-- run_provider_batches(r.id)`) or selects it (`RETURNING *, (SELECT provider_batches FROM
-- run_provider_batches(id))`). A set-returning SQL function is inlined into the query and
-- planned with it; the scalar function it replaces was planned anew at every call: 60 µs of
-- PostgreSQL's CPU per run read, about as much as the rest of a status read
-- (docs/benchmarks.md, "uvloop and httptools").
CREATE OR REPLACE FUNCTION run_provider_batches(uuid)
RETURNS TABLE (provider_batches jsonb)
LANGUAGE sql STABLE AS $fn$
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'id', b.provider_batch_id,
           'status', coalesce(b.provider_status, b.state),
           'request_counts', b.request_counts,
           'requests', b.requests,
           'results_read', b.state = 'read')
         ORDER BY b.seq_no), '[]'::jsonb)
FROM provider_batches b WHERE b.judging_run_id = $1;
$fn$;

-- What replicas of an earlier version call while a new one starts beside them.
CREATE OR REPLACE FUNCTION judging_run_batches(uuid)
RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
SELECT provider_batches FROM run_provider_batches($1);
$fn$;
-- Judge panels (issue #13, docs/panels.md): several AI judges whose grades are aggregated.

-- A panel: its member judges (2–9, in order) and how their grades are aggregated.
CREATE TABLE IF NOT EXISTS judge_panels (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    aggregation   text NOT NULL CHECK (aggregation IN ('majority', 'mean', 'median')),
    ai_judge_ids  uuid[] NOT NULL CHECK (cardinality(ai_judge_ids) BETWEEN 2 AND 9),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS judge_panels_created_idx ON judge_panels (created_at DESC, id DESC);

-- A panel applied to one evaluation run: running until every member judging run ended,
-- then completed (the aggregate written), failed or cancelled. The panel's name and
-- aggregation are copied, so deleting or renaming the panel never changes a run.
CREATE TABLE IF NOT EXISTS panel_runs (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                  bigserial UNIQUE,
    panel_id             uuid REFERENCES judge_panels (id) ON DELETE SET NULL,
    panel_name           text NOT NULL,
    aggregation          text NOT NULL,
    evaluation_run_id    uuid NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
    scope                text NOT NULL DEFAULT 'all',
    members              integer NOT NULL,
    status               text NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    error                text,
    candidates           integer,
    complete_candidates  integer,
    disagreements        integer,
    fleiss_kappa         double precision,
    krippendorff_alpha   double precision,
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at          timestamptz
);
CREATE INDEX IF NOT EXISTS panel_runs_eval_idx ON panel_runs (evaluation_run_id, seq DESC);
CREATE INDEX IF NOT EXISTS panel_runs_running_idx ON panel_runs (status) WHERE status = 'running';

-- The member judging runs of a panel run, in the panel's order.
CREATE TABLE IF NOT EXISTS panel_run_members (
    panel_run_id       uuid NOT NULL REFERENCES panel_runs (id) ON DELETE CASCADE,
    position           integer NOT NULL,
    ai_judging_run_id  uuid NOT NULL REFERENCES ai_judging_runs (id) ON DELETE CASCADE,
    PRIMARY KEY (panel_run_id, position)
);

-- The panel's aggregate judgment of each candidate at least one member graded.
CREATE TABLE IF NOT EXISTS panel_judgments (
    panel_run_id  uuid NOT NULL REFERENCES panel_runs (id) ON DELETE CASCADE,
    candidate_id  uuid NOT NULL,
    grade         integer NOT NULL,
    disagreement  boolean NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (panel_run_id, candidate_id)
);

-- Shared provider rate budgets (issue #12): one row per provider key (an id derived from the
-- base URL and the key, never the key), shared by every run of every replica. GCRA: a call
-- may start when the request and token theoretical arrival times have passed; each call moves
-- them on by its share of the minute. paused_until: a 429's Retry-After, for everyone.
CREATE TABLE IF NOT EXISTS provider_rate_budgets (
    key_id        text PRIMARY KEY,
    request_tat   timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    token_tat     timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    paused_until  timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00'
);

-- Many replicas on one database (issue 12) -------------------------------------------------

-- One value encrypted with RELEVAL_SECRET_KEY at the first start: a replica started with
-- another key cannot decrypt it and refuses to start (instead of failing runs later).
CREATE TABLE IF NOT EXISTS secret_canary (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    token       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Run leases: a replica judges a run only while it holds its lease (owner, epoch bumped on
-- every claim, expiry renewed by the owner's heartbeat); every write checks owner + epoch.
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS lease_owner text;
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS lease_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;
CREATE INDEX IF NOT EXISTS ai_judging_runs_active_idx ON ai_judging_runs (seq)
    WHERE status IN ('queued', 'running');

-- The X-Request-ID of the request that started a judging run: bound into every log line of
-- the run on whichever replica claims it.
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS request_id text;

-- Concurrency budgets of provider keys (issue 12): a judge's key_concurrency is how many
-- calls may be in flight on its provider key at once, counted over every run and replica.
-- One row per slot (0 .. key_concurrency - 1); a replica claims free or expired slots with
-- one statement (FOR UPDATE SKIP LOCKED), bumping the epoch like a run lease, renews the
-- ones it holds from its heartbeat and gives them back with an epoch check, so a replica
-- that lost a slot (it expired, another took it) can neither use nor free it.
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS key_concurrency integer
    CHECK (key_concurrency >= 1 AND key_concurrency <= 1024);
CREATE TABLE IF NOT EXISTS provider_key_slots (
    key_id      text NOT NULL,
    slot        integer NOT NULL,
    holder      text,
    epoch       bigint NOT NULL DEFAULT 0,
    expires_at  timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    PRIMARY KEY (key_id, slot)
);
-- Who waits at a full key, so that replicas take turns (engine/key_slots.py): a claim that
-- got fewer slots than it wanted records its holder's interest (how many it still wants,
-- since when it has waited, live until `until` unless its next claim renews it); a claim
-- leaves as many free slots as the holders that have waited longer still want.
CREATE TABLE IF NOT EXISTS provider_key_waiters (
    key_id  text NOT NULL,
    holder  text NOT NULL,
    wanted  integer NOT NULL,
    since   timestamptz NOT NULL,
    until   timestamptz NOT NULL,
    PRIMARY KEY (key_id, holder)
);

-- Who did it (issue 22, docs/security.md): the name of the token that started, cancelled or
-- changed something ('static' for RELEVAL_API_TOKENS). Null on rows from before, and
-- cancelled_by stays null for a run the service itself ended (a failure, a panel member
-- stopped because its panel could not start).
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS cancelled_by text;
ALTER TABLE panel_runs ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE panel_runs ADD COLUMN IF NOT EXISTS cancelled_by text;
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE ai_judges ADD COLUMN IF NOT EXISTS updated_by text;

-- Every write and delete of a human grade, appended in the statement that makes it. No
-- foreign keys: the history outlives what it is about (a candidate or an evaluation run
-- deleted by hand keeps it; no route deletes either), and a cascade could not delete
-- from it anyway (the trigger below refuses). seq orders the changes.
CREATE TABLE IF NOT EXISTS human_judgment_history (
    seq               bigserial PRIMARY KEY,
    candidate_id      uuid NOT NULL,
    evaluation_run_id uuid NOT NULL,
    judge             text NOT NULL,
    action            text NOT NULL CHECK (action IN ('put', 'delete')),
    grade             integer,
    reasoning         text,
    changed_by        text NOT NULL,
    changed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((action = 'put') = (grade IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS human_judgment_history_candidate_idx
    ON human_judgment_history (candidate_id, seq DESC);

-- Append-only, enforced by the database for every role, the table's owner included (the
-- service applies this schema, so it owns its tables, and an owner's or a superuser's
-- privileges cannot be revoked in a way that holds). Changing or removing history takes
-- an ALTER TABLE ... DISABLE TRIGGER by the owner: a deliberate act, never an accident.
CREATE OR REPLACE FUNCTION refuse_history_change()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$fn$;
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'human_judgment_history'::regclass
                     AND tgname = 'human_judgment_history_append_only') THEN
        CREATE TRIGGER human_judgment_history_append_only
            BEFORE UPDATE OR DELETE ON human_judgment_history
            FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'human_judgment_history'::regclass
                     AND tgname = 'human_judgment_history_no_truncate') THEN
        CREATE TRIGGER human_judgment_history_no_truncate
            BEFORE TRUNCATE ON human_judgment_history
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
    END IF;
END
$do$;

-- Reuse by fingerprint (issue 26, docs/decisions.md "Reuse"): every successful AI judgment
-- keeps the fingerprint of what decided it (query text, the candidate as the prompt shows
-- it, the scale, the judge's deciding settings: engine/fingerprints.py). A judging run with
-- reuse 'fingerprint' takes the grade of an earlier judgment with the same fingerprint
-- instead of calling the provider, and says where it came from in reused_from (the judging
-- run that called the provider). Null on judgments from before.
ALTER TABLE ai_run_judgments ADD COLUMN IF NOT EXISTS fingerprint bytea;
ALTER TABLE ai_run_judgments ADD COLUMN IF NOT EXISTS reused_from uuid;
-- One probe per candidate of each page a run reads; partial, so judgments from before
-- (null) cost nothing.
CREATE INDEX IF NOT EXISTS ai_run_judgments_fingerprint_idx
    ON ai_run_judgments (fingerprint) WHERE fingerprint IS NOT NULL;
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS reuse text NOT NULL DEFAULT 'fingerprint'
    CHECK (reuse IN ('fingerprint', 'none'));
-- Judgments this run took from an earlier one (part of judged).
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS reused integer NOT NULL DEFAULT 0;
-- The hash of the run's deciding settings (the part of every fingerprint that is not the
-- candidate's, engine/fingerprints.py): a run whose settings no other run ever had has
-- nothing to reuse, and skips the look-ups (a new judge or template costs nothing extra).
ALTER TABLE ai_judging_runs ADD COLUMN IF NOT EXISTS settings_fingerprint bytea;
CREATE INDEX IF NOT EXISTS ai_judging_runs_settings_fingerprint_idx
    ON ai_judging_runs (settings_fingerprint) WHERE settings_fingerprint IS NOT NULL;

-- Audits of AI judging runs (issue #26, DESIGN.md "Audits"): two passes over a seeded
-- sample of a run's judged candidates. Their grades are never written as judgments; only
-- the figures are kept. `attempt` counts starts: a start-up that runs an unfinished audit
-- again takes the next attempt, and only the latest attempt may write the end.
CREATE TABLE IF NOT EXISTS audits (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ai_judging_run_id uuid NOT NULL REFERENCES ai_judging_runs (id) ON DELETE CASCADE,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    seed              bigint NOT NULL,
    sample_size       integer NOT NULL,
    attempt           integer NOT NULL DEFAULT 0,
    failed            integer NOT NULL DEFAULT 0,
    calls             integer NOT NULL DEFAULT 0,
    input_tokens      bigint NOT NULL DEFAULT 0,
    output_tokens     bigint NOT NULL DEFAULT 0,
    -- {"repeat", "order", "position", "verdict"} once completed (models/audits.py).
    figures           jsonb,
    error             text,
    created_by        text,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE INDEX IF NOT EXISTS audits_run_idx ON audits (ai_judging_run_id);
CREATE INDEX IF NOT EXISTS audits_active_idx ON audits (status) WHERE status IN ('queued', 'running');

-- Audits resume like runs (docs/decisions.md, "Audits resume where they stopped"): a
-- replica runs an audit only while it holds its claim (`lease_owner`, `attempt` as the
-- epoch, bumped by every claim, `lease_expires_at` renewed by the holder's heartbeat); a
-- claim whose holder died lapses and another replica takes the audit over. Each answered
-- batch of a pass is kept as it arrives (with its calls and tokens added to the audit's in
-- the same statement), so a resumed audit asks only what is still unanswered. A grade here
-- is the audit's alone: it never becomes a judgment of the run.
ALTER TABLE audits ADD COLUMN IF NOT EXISTS lease_owner text;
ALTER TABLE audits ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;
CREATE TABLE IF NOT EXISTS audit_answers (
    audit_id     uuid NOT NULL REFERENCES audits (id) ON DELETE CASCADE,
    pass         text NOT NULL CHECK (pass IN ('repeat', 'order')),
    candidate_id uuid NOT NULL,
    -- Only grades are kept: a candidate a pass could not grade is asked again if the audit
    -- resumes (with its whole batch, so that its neighbours stay the same).
    grade        integer NOT NULL,
    PRIMARY KEY (audit_id, pass, candidate_id)
);

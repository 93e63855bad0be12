-- insert_api_token --
-- Store a new API token's hash, name, scopes and expiry (the token itself is never stored).
INSERT INTO api_tokens (name, token_hash, scopes, expires_at) VALUES ($1, $2, $3, $4)
RETURNING id::text, name, scopes, created_at, expires_at, revoked_at;

-- find_api_token --
-- The live token with this hash (not revoked, not expired), with its name and scopes.
SELECT id::text, name, scopes, expires_at FROM api_tokens
WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());

-- list_api_tokens --
-- Every token, revoked and expired ones included, newest first, keyset-paginated on (created_at, id).
SELECT id::text, name, scopes, created_at, expires_at, revoked_at FROM api_tokens
WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $3;

-- revoke_api_token --
-- Revoke a token (kept: its name is who did what); revoking it again keeps the first time.
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
WHERE id = $1
RETURNING id::text;

-- insert_api_token --
-- Store a new API token's hash, name, scopes and expiry (the token itself is never stored).
INSERT INTO api_tokens (name, token_hash, scopes, expires_at) VALUES ($1, $2, $3, $4)
RETURNING id::text, name, scopes, created_at, expires_at, revoked_at;

-- find_api_token --
-- The live token with this hash (not revoked, not expired), with its name and scopes.
SELECT id::text, name, scopes, expires_at FROM api_tokens
WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());

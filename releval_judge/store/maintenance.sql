-- analyze_candidates --
-- Refresh the planner's statistics after a bulk import (stale ones made judging 3x slower).
ANALYZE candidates, queries;

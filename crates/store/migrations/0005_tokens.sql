-- Issue 10, item 6: tokens expire and can be revoked; a rotation replaces secret_hash.

-- RFC 3339 instant after which the token answers 401; NULL: never.
ALTER TABLE tokens ADD COLUMN expires_at TEXT NULL;

-- When the token was revoked (kept, not deleted, so the audit log's actors stay named).
ALTER TABLE tokens ADD COLUMN revoked_at TEXT NULL;

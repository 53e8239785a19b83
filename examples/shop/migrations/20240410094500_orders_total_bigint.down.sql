SET lock_timeout = '2s';

ALTER TABLE orders ALTER COLUMN total_cents TYPE integer;

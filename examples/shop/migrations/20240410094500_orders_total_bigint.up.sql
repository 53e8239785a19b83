SET lock_timeout = '2s';

-- Orders above 21 million dollars: the new type rewrites the whole table under its lock.
ALTER TABLE orders ALTER COLUMN total_cents TYPE bigint;

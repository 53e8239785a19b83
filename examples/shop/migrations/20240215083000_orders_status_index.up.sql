-- no-transaction
-- Built concurrently so writes to orders continue while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status) WHERE status <> 'shipped';

CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped');

-- The foreign key locks customers while orders is created; it is empty before the launch.
-- migration-guard: ignore lock-timeout-missing -- customers is empty until the shop opens
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status order_status NOT NULL DEFAULT 'pending',
    total_cents integer NOT NULL CHECK (total_cents >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_customer_id_idx ON orders (customer_id);

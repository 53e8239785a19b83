SET lock_timeout = '2s';

ALTER TABLE customers ADD COLUMN phone text;

COMMENT ON COLUMN customers.phone IS 'E.164, optional';

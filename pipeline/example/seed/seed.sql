-- Source data of the example pipeline: regions, customers and two years of
-- orders, generated deterministically (no random()) so every shadow env holds
-- exactly the same rows and the pipeline's figures are reproducible.
--
-- Idempotent: tables are created if missing, then emptied and refilled. Run it
-- in ONE transaction so a reader never sees empty tables:
--   Rscript R/run.R seed            (what configure does; wraps it in a transaction)
--   psql -1 -v ON_ERROR_STOP=1 -f seed/seed.sql
--
-- The same file seeds PostgreSQL (the local target) and Redshift (the aws
-- target), so it keeps to what both run the same way:
--   * rows come from a ten-row digits table cross-joined with itself, not
--     generate_series(), which on Redshift runs only on the leader node and
--     cannot feed an INSERT;
--   * DELETE, not TRUNCATE: Redshift's TRUNCATE takes one table and commits
--     the open transaction, which would break the atomic refill;
--   * CAST(... AS NUMERIC(12,2)) and VARCHAR, never a bare ::numeric (on
--     Redshift that is NUMERIC(18,0) and would round amounts to whole units)
--     or ::text;
--   * REFERENCES and PRIMARY KEY are accepted but not enforced on Redshift.
-- tests/pipeline/test_seed_portability.py keeps it that way.

CREATE TABLE IF NOT EXISTS regions (
    region_id   INTEGER      NOT NULL PRIMARY KEY,
    name        VARCHAR(64)  NOT NULL,
    country     VARCHAR(64)  NOT NULL
);

CREATE TABLE IF NOT EXISTS customers (
    customer_id INTEGER      NOT NULL PRIMARY KEY,
    name        VARCHAR(128) NOT NULL,
    region_id   INTEGER      NOT NULL REFERENCES regions (region_id),
    segment     VARCHAR(16)  NOT NULL,
    signup_date DATE         NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    order_id    INTEGER       NOT NULL PRIMARY KEY,
    customer_id INTEGER       NOT NULL REFERENCES customers (customer_id),
    order_date  DATE          NOT NULL,
    amount      NUMERIC(12,2) NOT NULL,
    status      VARCHAR(16)   NOT NULL
);

-- 0..9, for generating rows portably (see above).
CREATE TABLE IF NOT EXISTS seed_digits (
    d           INTEGER      NOT NULL
);

DELETE FROM orders;
DELETE FROM customers;
DELETE FROM regions;
DELETE FROM seed_digits;

INSERT INTO seed_digits (d) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);

INSERT INTO regions (region_id, name, country) VALUES
    (1, 'North',   'Norway'),
    (2, 'South',   'Spain'),
    (3, 'East',    'Poland'),
    (4, 'West',    'Ireland'),
    (5, 'Central', 'Germany');

-- 600 customers; multiplying by a prime and taking a remainder spreads them
-- over regions, segments and signup dates without a random generator.
INSERT INTO customers (customer_id, name, region_id, segment, signup_date)
SELECT i,
       'Customer ' || lpad(CAST(i AS VARCHAR(8)), 4, '0'),
       1 + (i * 7) % 5,
       CASE WHEN i % 10 = 0 THEN 'enterprise' WHEN i % 3 = 0 THEN 'smb' ELSE 'consumer' END,
       DATE '2022-01-01' + (i * 113) % 730
  FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d AS i
          FROM seed_digits a CROSS JOIN seed_digits b CROSS JOIN seed_digits c) AS n
 WHERE i <= 600;

-- 4800 orders over 2024-2025. The amount grows with the order date at a rate
-- that differs per region (North fastest, West shrinking), so the pipeline's
-- trend model has a real signal to find; about 7% are refunded or cancelled.
INSERT INTO orders (order_id, customer_id, order_date, amount, status)
SELECT o.i,
       o.customer_id,
       DATE '2024-01-01' + o.day_offset,
       CAST((20 + (o.i * 7907) % 15000 / 100.0)
            * (1 + CASE c.region_id WHEN 1 THEN 0.40 WHEN 2 THEN 0.15 WHEN 3 THEN 0.25
                                    WHEN 4 THEN -0.10 ELSE 0.05 END
                   * o.day_offset / 730.0) AS NUMERIC(12,2)),
       CASE WHEN o.i % 23 = 0 THEN 'refunded' WHEN o.i % 31 = 0 THEN 'cancelled' ELSE 'completed' END
  FROM (SELECT i,
               1 + (i * 7919) % 600 AS customer_id,
               (i * 389) % 731      AS day_offset
          FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS i
                  FROM seed_digits a CROSS JOIN seed_digits b
                       CROSS JOIN seed_digits c CROSS JOIN seed_digits e) AS n
         WHERE i <= 4800) AS o
  JOIN customers c ON c.customer_id = o.customer_id;

-- Seed data: loaded once per env, before the migrations, so that they run
-- against data shaped like production's. Plain SQL that runs on PostgreSQL
-- and Redshift (no SERIAL, no ON CONFLICT, no ::casts).
CREATE TABLE events (
    event_id   INTEGER       NOT NULL,
    happened   DATE          NOT NULL,
    amount     NUMERIC(12,2) NOT NULL
);

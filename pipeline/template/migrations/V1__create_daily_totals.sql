-- Migrations: V<version>__<name>.sql, applied in order, each in its own
-- transaction and recorded in refinery_schema_history. Never edit one that
-- was applied: add the next version instead.
CREATE TABLE daily_totals (
    run_id    VARCHAR(250)  NOT NULL,
    day       DATE          NOT NULL,
    events    INTEGER       NOT NULL,
    total     NUMERIC(14,2) NOT NULL,
    loaded_at TIMESTAMP     NOT NULL
);

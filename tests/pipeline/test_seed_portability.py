"""The example's seed runs on PostgreSQL (local target) and on Redshift (aws
target). Redshift cannot be reached from here, so this keeps out, by text,
the PostgreSQL-only constructs that would break it there; the database tests
(test_dag_run.py, the R suite) prove the same file on PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "pipeline" / "example" / "seed" / "seed.sql"

# (pattern, why it breaks on Redshift)
NOT_ON_REDSHIFT = [
    (r"\bgenerate_series\s*\(", "runs only on the leader node: cannot feed an INSERT"),
    (r"\btruncate\b", "takes one table and commits the open transaction"),
    (r"::", "a bare ::numeric is NUMERIC(18,0) on Redshift; use CAST(x AS NUMERIC(p,s))"),
    (r"\bserial\b|\bbigserial\b", "no SERIAL on Redshift (IDENTITY instead)"),
    (r"\bon\s+conflict\b", "no upsert syntax on Redshift"),
    (r"\breturning\b", "no RETURNING on Redshift"),
    (r"\brandom\s*\(", "non-deterministic: every env must hold the same rows"),
]


def statements() -> str:
    # Comments explain the rules above and may name the constructs.
    return "\n".join(line.split("--", 1)[0] for line in SEED.read_text().splitlines())


@pytest.mark.parametrize("pattern,why", NOT_ON_REDSHIFT, ids=[p for p, _ in NOT_ON_REDSHIFT])
def test_seed_avoids_postgresql_only_sql(pattern, why):
    hits = [m.group(0) for m in re.finditer(pattern, statements(), flags=re.IGNORECASE)]
    assert hits == [], f"seed.sql uses {hits[0]!r}: {why}"


def test_every_numeric_cast_names_its_precision():
    for cast in re.findall(r"CAST\s*\(.*?\bAS\s+(NUMERIC[^)]*\)?)", statements(), flags=re.I | re.S):
        assert re.match(r"NUMERIC\s*\(\s*\d+\s*,\s*\d+\s*\)", cast, flags=re.I), cast

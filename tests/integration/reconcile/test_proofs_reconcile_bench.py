"""bench/reconcile_bench.py's direct build leaves what the translator would (issue 10, acc. 4).

The acceptance run of 10,000 people writes the synced state directly (links, snapshots, the
emulator's org) instead of syncing through the worker. If the translator's snapshots changed
shape and the shortcut did not follow, that run would time a reconcile full of false drift;
this keeps the two in step on a small org, over real HTTP to the emulator process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import reconcile_bench  # noqa: E402


def _args(tmp_path: Path, build: str) -> argparse.Namespace:
    return argparse.Namespace(
        users=24,
        departments=3,
        qps=1000.0,
        manager_every=4,
        tracemalloc=False,
        build=build,
        cache=tmp_path / build,
    )


@pytest.mark.slow  # two orgs and two emulator processes: ~15 s idle, 40 s on a busy machine
def test_the_direct_build_leaves_no_drift_and_the_same_calls_as_the_worker(
    tmp_path: Path,
) -> None:
    direct = reconcile_bench.run(_args(tmp_path, "direct"))
    synced = reconcile_bench.run(_args(tmp_path, "worker"))
    assert (direct["drift"], direct["accuracy_percent"]) == (0, 100.0)
    assert (synced["drift"], synced["accuracy_percent"]) == (0, 100.0)
    # The same org: reconcile needs the same calls of each API to read it.
    assert direct["calls_per_api"] == synced["calls_per_api"]
    assert direct["calls_estimated"] == direct["calls_made"]

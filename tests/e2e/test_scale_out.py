"""Scale-out proven (issue 14, acceptance 1): two API processes and two workers on PostgreSQL.

Concurrent IdP clients write through both APIs while both workers translate; then the worker
that ran the latest singleton tick is killed with SIGKILL in the middle of more writes. At the
end DingTalk equals what the clients were told, nobody exists twice, each scheduled singleton
ran once per tick (the survivor carried on alone), and the SLA minute rows hold exactly the
calls the emulator served: the two workers' counts are added, never counted twice.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import cluster, wait_until
from scale_processes import in_process_emulator, prepare_in_process, start_apis, stop_all
from scale_scenario import (
    Stats,
    Writer,
    counted_calls,
    differences,
    directory_differences,
    duplicates,
    engine_of,
    job_ticks,
    owner_pid,
    probes_counted,
    run_writers,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator
from scim_bridge.directory.db import normalise_url

pytestmark = pytest.mark.postgres
PG_ENV = "SCIM_BRIDGE_TEST_POSTGRES_URL"
#: Short ticks, so a test of seconds sees many of them (settings, as an operator would set).
TICKS = {
    "SCIM_BRIDGE_LAG_SAMPLE_SECONDS": "2",
    "SCIM_BRIDGE_ALERT_EVAL_SECONDS": "2",
    "SCIM_BRIDGE_SLA_PROBE_SECONDS": "5",
    "SCIM_BRIDGE_SLA_FLUSH_SECONDS": "1",
    # A killed worker's changes are taken over after this.
    "SCIM_BRIDGE_SYNC_LEASE_SECONDS": "6",
}


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty database of this test's own on the shared server (no TRUNCATE races)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (CI sets it); the scale-out test needs PostgreSQL")
    admin_url = make_url(normalise_url(base))
    name = f"scim_bridge_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    yield url.replace("postgresql+psycopg://", "postgresql://", 1)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """DingTalk, unthrottled, over HTTP on 127.0.0.1 (a thread of the test process)."""
    running = in_process_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


def test_two_apis_two_workers_singletons_once_and_the_survivor_takes_over(
    tmp_path: Path, fresh_postgres: str, emulator: RunningEmulator
) -> None:
    engine = engine_of(fresh_postgres)
    with cluster(tmp_path, fresh_postgres, **TICKS) as c:
        prepare_in_process(c, emulator.url)
        urls = start_apis(c, 2)
        c.start("worker1", "worker")
        c.start("worker2", "worker")
        stats = Stats()
        # Four IdP clients, each over both APIs in turn, at once.
        writers = [Writer(i, urls, c.token, seed=14, stats=stats) for i in range(4)]
        for writer in writers:
            writer.setup()
        assert run_writers(writers, seconds=120, max_writes=40) == []
        c.wait_converged(timeout=120)

        # SLA: both workers add into the same minutes. Counts are read before the emulator's
        # log, so at every moment counted <= served; once both flushed they are equal.
        def sla_equal() -> bool:
            counted = counted_calls(engine)
            served = len(c.emulator_calls())
            assert counted <= served, f"{counted} calls counted, {served} served: counted twice"
            return counted == served

        wait_until(sla_equal, timeout=30, what="the SLA minute rows to equal the calls served")

        # The leader of the moment: the holder of the latest lag-sample tick. Kill it while
        # the clients write again (some of its changes are leased to it then).
        wait_until(lambda: len(job_ticks(engine, "lag-sample")) >= 3, timeout=30, what="ticks")
        leader = job_ticks(engine, "lag-sample")[-1][1]
        name = next(
            n for n, p in c.procs.items() if n.startswith("worker") and p.pid == owner_pid(leader)
        )
        survivor = "worker2" if name == "worker1" else "worker1"
        more = [Writer(i, urls, c.token, seed=15, stats=stats) for i in range(4, 6)]
        for writer in more:
            writer.setup()
        errors: list[BaseException] = []
        load = threading.Thread(
            target=lambda: errors.extend(run_writers(more, seconds=120, max_writes=25))
        )
        load.start()
        time.sleep(1.0)  # the kill lands mid-load; where exactly does not matter
        c.kill(name)
        killed_at = time.time()
        load.join(timeout=300)
        assert errors == []
        c.wait_converged(timeout=120)
        wait_until(
            lambda: (
                sum(1 for t, *_ in job_ticks(engine, "lag-sample") if t.timestamp() > killed_at)
                >= 3
            ),
            timeout=30,
            what="the survivor's lag samples",
        )

        everyone = writers + more
        state = c.emulator_state()
        assert c.dead_letters() == []
        assert directory_differences(everyone, urls, c.token) == []
        assert differences(state, everyone) == []
        assert duplicates(state) == []

        survivor_pid = c.procs[survivor].pid
        for job in ("lag-sample", "alerts", "sla-probe"):
            ticks = job_ticks(engine, job)
            assert ticks, job
            # One row per tick is the primary key's; the body ran once per row (below).
            after = [holder for tick, holder, _ in ticks if tick.timestamp() > killed_at]
            assert after, job
            assert {owner_pid(h) for h in after} == {survivor_pid}, job
        # The probe's body counts each probe it makes: one per tick, never one per worker. The
        # killed worker's last tick may have ended before its count reached the database.
        killed = [t for t in job_ticks(engine, "sla-probe") if t[2] is None and t[1] == leader]

        def probes_once() -> bool:
            finished = sum(1 for t in job_ticks(engine, "sla-probe") if t[2] is not None)
            return finished <= probes_counted(engine) <= finished + len(killed)

        wait_until(probes_once, timeout=30, what="one probe per claimed tick")
        stop_all(c)
    engine.dispose()

"""The Prometheus metrics of one process, and their exposition (issue 12).

Counters and histograms are kept per process. Under gunicorn there are several processes, so
`serve` points prometheus-client's multiprocess mode at a private directory (cli/serve.py) and a
scrape sums every process's files; whichever process answers /metrics shows the whole server.
Gauges that describe the store (outbox depth, oldest change, dead letters, guard pause) are not
kept in memory at all: monitor/gauges.py computes them from the database at scrape time, so
they are right whichever process answers and however many there are.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

#: The text exposition format's content type (prometheus.io/docs/instrumenting/exposition_formats).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds from a SCIM commit to DingTalk's acknowledgement: sub-second when all is well,
#: minutes in a backoff, hours in an outage (the lag alert of issue 12 is at 300 s).
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600)
#: One HTTP request to DingTalk: a read timeout is 10 s (settings.dingtalk_read_timeout).
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The counters and histograms of this process, and the scrape over all processes."""

    def __init__(self, *, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        if multiprocess_dir is not None:
            # prometheus-client picks its value store at import time from the environment,
            # which the composition root has just set; make sure ours write to the files.
            values.ValueClass = values.get_value_class()
        # Multiprocess: the values live in files, so the metrics join no registry (the scrape
        # builds its own); one process: they join this one.
        own = None if multiprocess_dir is not None else CollectorRegistry()
        self._own = own
        self.http_requests = Counter(
            "scim_bridge_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "endpoint", "status"],
            registry=own,
        )
        self.http_duration = Histogram(
            "scim_bridge_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "endpoint"],
            registry=own,
        )
        self.sync_lag = Histogram(
            "scim_bridge_sync_lag_seconds",
            "Seconds from the first unapplied SCIM commit of a resource to DingTalk's "
            "acknowledgement of its projection.",
            buckets=LAG_BUCKETS,
            registry=own,
        )
        self.dingtalk_calls = Counter(
            "scim_bridge_dingtalk_calls",
            "HTTP requests to DingTalk, by API path and outcome.",
            ["api", "outcome"],
            registry=own,
        )
        self.dingtalk_duration = Histogram(
            "scim_bridge_dingtalk_call_duration_seconds",
            "Time of one HTTP request to DingTalk, by API path.",
            ["api"],
            buckets=CALL_BUCKETS,
            registry=own,
        )
        self.token_refreshes = Counter(
            "scim_bridge_dingtalk_token_refreshes",
            "DingTalk access-token fetches, by outcome (ok | failed).",
            ["outcome"],
            registry=own,
        )
        self.guard_pauses = Counter(
            "scim_bridge_guard_pauses",
            "Times the mass-change guard began holding removals back for an operator.",
            registry=own,
        )
        self._extra: list[Collector] = []

    # --- recording ---------------------------------------------------------------------------

    def observe_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request (``endpoint`` is a route template, never a path)."""
        self.http_requests.labels(method, endpoint, str(status)).inc()
        self.http_duration.labels(method, endpoint).observe(seconds)

    def observe_lag(self, seconds: float) -> None:
        """Record one resource projected, ``seconds`` after its first unapplied change."""
        self.sync_lag.observe(max(0.0, seconds))

    def call_finished(self, api: str, outcome: str, seconds: float) -> None:
        """Count one HTTP request to DingTalk (the client's CallObserver)."""
        self.dingtalk_calls.labels(api, outcome).inc()
        self.dingtalk_duration.labels(api).observe(max(0.0, seconds))

    def token_fetched(self, ok: bool) -> None:
        """Count one token fetch (the client's CallObserver)."""
        self.token_refreshes.labels("ok" if ok else "failed").inc()

    def guard_paused(self) -> None:
        """Count the guard starting to hold removals back."""
        self.guard_pauses.inc()

    # --- exposition --------------------------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        """Add a collector computed at scrape time (the database gauges)."""
        self._extra.append(collector)

    def exposition(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        registry = CollectorRegistry(auto_describe=False)
        if self.multiprocess_dir is not None:
            _SettledFilesCollector(registry, path=str(self.multiprocess_dir))
        else:
            assert self._own is not None
            registry.register(_Forward(self._own))
        for collector in self._extra:
            registry.register(_Forward(collector))
        return generate_latest(registry)


class _Forward(Collector):
    """Hand on another registry's or collector's families without describing them up front."""

    def __init__(self, source: CollectorRegistry | Collector) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        """Yield the source's families."""
        yield from self._source.collect()


#: One parsed sample: its name, its labels, its value.
Parsed = list[tuple[str, dict[str, str], float]]


def parse(exposition: bytes) -> Parsed:
    """Parse an exposition into samples (for tests and benchmarks)."""
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    ]


def total(parsed: Parsed, name: str, **labels: str) -> float:
    """Sum the samples called ``name`` whose labels include ``labels``."""
    return sum(
        value
        for sample, have, value in parsed
        if sample == name and all(have.get(k) == v for k, v in labels.items())
    )


class _SettledFilesCollector(MultiProcessCollector):
    """prometheus-client's multiprocess scrape, minus the files a process is creating right now.

    A process creates its file empty and only then sizes it (mmap_dict.MmapedDict opens with
    "a+b", then truncates); a scrape by a sibling in between would fail to read the empty file
    and answer 500. An empty file holds no value yet, so skipping it loses nothing."""

    def collect(self) -> Iterable[Metric]:
        """Merge every process's file that has been sized (a non-empty one)."""
        files = [f for f in glob.glob(os.path.join(self._path, "*.db")) if _sized(f)]
        return self.merge(files, accumulate=True)


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # gone since the glob: a process that exited and was cleaned up
        return False

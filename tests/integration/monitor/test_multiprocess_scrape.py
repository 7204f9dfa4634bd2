"""A scrape while a sibling process is creating its metric file still answers (issue 12).

prometheus-client creates a process's file empty and sizes it a moment later; a scrape that
read the empty file failed with struct.error, which /metrics answered as a 500. Run in a child
interpreter: multiprocess mode picks its value store from the environment at import time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, sys
from pathlib import Path
directory = Path(sys.argv[1])
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
from scim_bridge.monitor.metrics import Metrics, parse, total
metrics = Metrics(multiprocess_dir=directory)
metrics.http_requests.labels("GET", "/scim/v2/Users", "200").inc(3)
(directory / "counter_424242.db").touch()   # a sibling between open() and truncate()
exposition = metrics.exposition()
print(total(parse(exposition), "scim_bridge_http_requests_total"))
"""


def test_scrape_skips_a_file_a_sibling_is_still_creating(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) == 3.0

"""Acceptance: the public SCIM conformance tools find no failure that is ours.

Slow (a few minutes) and needs PyPI on its first run, so it runs only when asked:

    SCIM_BRIDGE_CONFORMANCE=1 .venv/bin/pytest tests/conformance -m slow

It runs scripts/conformance.py, which starts the server as `make run` does and runs
scim2-tester, scim2-cli and scim-sanity (docs/conformance.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("SCIM_BRIDGE_CONFORMANCE"),
    reason="set SCIM_BRIDGE_CONFORMANCE=1 to run the public conformance tools (slow, needs PyPI)",
)
def test_public_conformance_tools_find_nothing_of_ours() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "conformance.py")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

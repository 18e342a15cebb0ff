"""The one-minute soak (`bench/soak.py`, 30 minutes for docs/reliability.md) runs clean.

Mixed traffic on a real server: a peer's signed posts at 20/s, a member's posts delivered
back, three readers paging timelines. The run must end with everything processed and
delivered, no error answer, no error logged, and memory that does not run away.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.federation, pytest.mark.timeout(300)]


def test_a_one_minute_soak_processes_and_delivers_everything(tmp_path: Path) -> None:
    figures = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "1", "--json", str(figures),
         "--svg", str(tmp_path / "soak.svg")],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(figures.read_text())
    assert result["sent"] >= 300 and result["processed"] == result["sent"]
    assert result["failed"] == 0 and result["errors"] == {}
    assert result["delivered"] >= result["posted"] >= 20
    assert result["server_error_log_lines"] == 0
    # Memory: the server's own memory (RssAnon, without the mapped database file) within
    # 40 MiB of where it started (a leak at this rate shows sooner)
    own = [value for _, value in result["rss_anon_mib"]]
    assert own[-1] - own[0] < 40, own

"""The web chat benchmark's own parts work, on a few visitors: both servers start, every
visitor connects and is answered, and the table says so. (The benchmark itself is not a test:
it runs for a minute and prints figures.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.web_chat import measure, start_echo, start_kefu, table

pytestmark = pytest.mark.slow


async def test_a_few_visitors_are_measured_against_the_echo_and_kefu(tmp_path: Path) -> None:
    runs = []
    for start in (start_echo, lambda folder: start_kefu(folder, None, 5)):
        server = await start(tmp_path)
        try:
            runs.append(await measure(server, 5, 60.0))
        finally:
            await server.stop()
    echo, kefu = runs
    for run in runs:
        assert (run.connected, run.answered, run.lost, run.apologies) == (5, 5, 0, 0)
        assert run.rss_connected_mb > 0 and len(run.latencies) == 5
    assert kefu.cpu_seconds > echo.cpu_seconds
    lines = table(runs).splitlines()
    assert lines[2].startswith("| echo | 5 of 5 |") and lines[3].startswith("| kefu | 5 of 5 |")

"""The README's pre-trade example is the real contract: its curl command, run against a real
API, gets an answer with exactly the documented fields and the documented reasons."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from conftest import REPO

from aurora.api.process import ServerProcess
from aurora.testing import write_artifact

TOKEN = "readme-token"


def _blocks() -> tuple[str, dict]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- pretrade-example[^>]*-->\n```bash\n(.*?)```\n.*?```json\n(.*?)```", text, re.S)
    assert m, "README.md lost its pre-trade example (the <!-- pretrade-example --> block)"
    return m.group(1), json.loads(m.group(2))


def test_readme_curl_example_matches_the_real_api(home: Path) -> None:
    command, documented = _blocks()
    write_artifact(home / "data" / "artifacts" / "current.json", "readme")
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as api:
        env = {**os.environ, "AURORA_API_TOKEN": TOKEN}
        out = subprocess.run(["bash", "-c", command.replace("http://127.0.0.1:8000", api.url)],
                             capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) == set(documented), answer
    for key in ("allow", "reasons", "max_qty", "cooloff_s", "e_pi_bps"):
        assert answer[key] == documented[key], (key, answer)
    assert abs(answer["e_pi_bps_aurora"] - documented["e_pi_bps_aurora"]) < 1e-9, answer

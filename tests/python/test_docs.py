"""docs/python.md's quickstart runs and prints what the page says it prints."""

import os
import re
import shutil
import subprocess
import sys

from conftest import ROOT


def test_the_quickstart_prints_what_the_page_shows(tmp_path):
    page = (ROOT / "docs" / "python.md").read_text()
    code = re.search(r"## Quickstart.*?```python\n(.*?)```", page, re.S).group(1)
    shown = re.search(r"It prints:\n\n```text\n(.*?)```", page, re.S).group(1)
    # A copy of the pipelines beside the data, so the packages go to a scratch models folder.
    shutil.copytree(ROOT / "pipelines", tmp_path / "pipelines")
    os.symlink(ROOT / "data", tmp_path / "data")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown, f"docs/python.md is stale; the quickstart now prints:\n{run.stdout}"

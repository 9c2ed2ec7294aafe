"""docs/python.md's examples run and print what the page says they print."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

PAGE = (ROOT / "docs" / "python.md").read_text()


def example(section: str) -> tuple[str, str]:
    """The code of a section of the page and the output it shows."""
    found = re.search(rf"## {section}.*?```python\n(.*?)```.*?It prints:\n\n```text\n(.*?)```", PAGE, re.S)
    return found.group(1), found.group(2)


def run(code: str, folder) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The quickstart run in a scratch copy of the pipelines beside the data; its output."""
    folder = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "pipelines", folder / "pipelines")
    os.symlink(ROOT / "data", folder / "data")
    return folder, run(example("Quickstart")[0], folder)


def test_the_quickstart_prints_what_the_page_shows(quickstart):
    _, printed = quickstart
    shown = example("Quickstart")[1]
    assert printed == shown, f"docs/python.md is stale; the quickstart now prints:\n{printed}"


def test_the_engines_example_prints_what_the_page_shows(quickstart):
    pytest.importorskip("pyspark")
    pytest.importorskip("distributed")
    folder, _ = quickstart
    code, shown = example("On Spark and Dask")
    printed = run(code, folder)
    assert printed == shown, f"docs/python.md is stale; the engines' example now prints:\n{printed}"

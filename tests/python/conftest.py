"""Fixtures of the Python package's tests: the repository, the CLI built beside the wheel, the
CDNOW sample pipeline staged in a scratch folder, and one package trained from Python."""

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(os.environ.get("CHURNGUARD_ROOT", pathlib.Path(__file__).resolve().parents[2]))
CLI = pathlib.Path(os.environ.get("CHURNGUARD_BIN", ROOT / "target" / "debug" / "churnguard"))
FIXTURE = ROOT / "tests" / "fixtures" / "packages" / "format2"
AS_OF = "1998-07-01"


def stage_pipeline(folder: pathlib.Path, text: str | None = None) -> pathlib.Path:
    """The stored fixture's pipeline (CDNOW sample, small model) with its data path made absolute."""
    text = text if text is not None else (FIXTURE / "pipeline.toml").read_text()
    path = folder / "pipeline.toml"
    path.write_text(text.replace("../../../../data", str(ROOT / "data")))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    """Runs the churnguard command line; the caller checks the outcome."""
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def pipeline_path(tmp_path_factory) -> pathlib.Path:
    return stage_pipeline(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def trained(tmp_path_factory, pipeline_path):
    """A package trained from Python, with its models folder."""
    import churnguard

    models = tmp_path_factory.mktemp("models")
    package = churnguard.train(churnguard.Pipeline.load(str(pipeline_path)), models=str(models))
    return package, models


@pytest.fixture()
def stored_package(tmp_path) -> pathlib.Path:
    """A copy of the stored format-2 package, trained by the CLI (scoring keeps a list beside it)."""
    return pathlib.Path(shutil.copytree(FIXTURE / "package", tmp_path / "package"))


def assert_close_tables(ours, expected, rtol: float = 1e-12) -> None:
    """Equal columns and rows, floating values to `rtol` (a sum taken over rows in another order
    differs in its last digits)."""
    import numpy as np
    import pyarrow as pa

    ours, expected = pa.table(ours), pa.table(expected)
    assert ours.column_names == expected.column_names
    assert ours.num_rows == expected.num_rows > 0
    for name in expected.column_names:
        a, b = ours.column(name), expected.column(name)
        if pa.types.is_floating(b.type):
            np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=rtol, atol=0, equal_nan=True, err_msg=name)
        else:
            assert a.cast(b.type).equals(b), name

"""The paper-figure notebooks: jupytext percent format, executed headless on a small runs folder."""

from pathlib import Path

import jupytext
import nbformat
import pytest

from analysis.analyze import analyze
from analysis.notebooks.run import execute_notebook, main
from tests.helpers.synthetic_runs import write_sweep

NOTEBOOKS = sorted((Path(__file__).parent.parent / "analysis" / "notebooks").glob("[!_]*.py"))
NOTEBOOKS = [path for path in NOTEBOOKS if path.name != "run.py"]


def test_notebooks_are_percent_format_with_a_parameter_cell():
    assert [p.name for p in NOTEBOOKS] == ["paper_figures.py"]
    for path in NOTEBOOKS:
        notebook = jupytext.read(path)
        assert notebook.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
        tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
        assert ["parameters"] in tags


@pytest.mark.slow
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_a_runs_folder(tmp_path: Path, source: Path):
    sweep = write_sweep(tmp_path, seeds=(0, 1))
    output = execute_notebook(
        source, sweep, tmp_path / "executed.ipynb", {"REPS": 200, "THRESHOLD_FRACTION": 0.8}
    )
    notebook = nbformat.read(output, as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [
        o for o in outputs if o.output_type in ("display_data", "execute_result") and "image/png" in o.data
    ]
    assert len(images) == 8  # every figure of the report
    # the notebook's numbers are the library's
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    result = analyze(sweep, threshold_fraction=0.8, reps=200)
    assert f"thresholds: {result.thresholds}" in text
    assert "injected-parameters" in str([cell.metadata.get("tags") for cell in notebook.cells])


def test_missing_runs_folder_is_refused(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        execute_notebook(NOTEBOOKS[0], tmp_path / "nope")


def test_command_line_refuses_a_missing_runs_folder_with_status_2(tmp_path: Path, capsys):
    assert main([str(NOTEBOOKS[0]), str(tmp_path / "nope")]) == 2
    assert f"runs folder {str(tmp_path / 'nope')!r} does not exist" in capsys.readouterr().err

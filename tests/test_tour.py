"""examples/tour.ipynb runs from top to bottom, showing what it says it shows, so it never rots."""

import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOUR = os.path.join(ROOT, "examples", "tour.ipynb")

nbformat = pytest.importorskip("nbformat")


def test_the_committed_tour_has_no_outputs():
    notebook = nbformat.read(TOUR, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_the_tour_notebook_runs_and_shows_latex_html_drawings_and_plots(monkeypatch):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    from nbclient import NotebookClient

    notebook = nbformat.read(TOUR, as_version=4)
    # The kernel imports this checkout's symgrad, as the tests do.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(TOUR)}}).execute()  # raises on an error
    shown = [{kind for output in cell.outputs for kind in output.get("data", {})}
             for cell in notebook.cells if cell.cell_type == "code"]
    assert "text/latex" in shown[0]  # micrograd's expression
    assert "text/html" in shown[1]  # its generated code
    assert "24.7041" in notebook.cells[4].outputs[0].text
    assert sum("text/html" in kinds for kinds in shown) >= 3  # and the two verify reports
    assert "image/svg+xml" in shown[4] if shutil.which("dot") else "text/html" in shown[4]
    assert "image/png" in shown[-2]  # sg.plot's figure
    assert "image/png" in shown[-1]  # the moons figure

"""Every notebook in colabs/ runs top to bottom on its SMALL settings (as on a CPU Colab runtime), and is ready for
Colab: stored without outputs, an "Open in Colab" badge for its own path, and a first code cell that installs the
package without pinning or replacing the runtime's jax and reads the SMALL flag from the environment."""

import glob
import os
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

COLABS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "colabs")
NOTEBOOKS = sorted(glob.glob(os.path.join(COLABS, "*.ipynb")))
REPOSITORY = "morl-jax/morl_jax"  # where the badges and the install cells point (GitHub owner/name)
SMALL_FLAG = "MORL_JAX_COLAB_SMALL"


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {COLABS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_ready_for_colab(path):
    nb = nbformat.read(path, as_version=4)
    name = os.path.basename(path)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.get("outputs") and cell.get("execution_count") is None for cell in code), \
        f"{name} is committed with outputs; clear them"
    badge = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/colabs/{name}"
    assert badge in nb.cells[0].source and "colab-badge.svg" in nb.cells[0].source, f"{name}: no Open in Colab badge"
    setup = code[0].source
    assert f"git+https://github.com/{REPOSITORY}" in setup and "--no-deps" in setup
    assert "morl_jax.colab_install" in setup and f'os.environ.get("{SMALL_FLAG}"' in setup
    assert not re.search(r"""requirements[-\w]*\.txt|["'\s](jax|jaxlib)(\[\w+\])?\s*([=<>~!]=|["'])""", setup), \
        f"{name}: the install cell must not pin or install jax/jaxlib"
    sources = "\n".join(cell.source for cell in nb.cells)
    assert not re.search(r"/work/|/tmp/|\.\./shared", sources), f"{name} names a path outside the repository"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path, monkeypatch, one_subprocess_job_at_a_time):
    monkeypatch.setenv(SMALL_FLAG, "1")  # the kernel inherits it: every notebook's SMALL settings
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", shutdown_kernel="immediate",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    setup = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert any("SMALL = True" in o.get("text", "") for o in setup.outputs), "the notebook did not see SMALL"

"""Every notebook in colabs/ runs top to bottom on its SMALL settings (as on a CPU Colab runtime), and is ready for
Colab: stored without outputs, an "Open in Colab" badge for its own path, and a first code cell that installs the
package without pinning or replacing the runtime's jax and reads the SMALL flag from the environment."""

import glob
import os
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupyter_client = pytest.importorskip("jupyter_client")

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


@pytest.mark.xdist_group("subprocess_jobs")  # one worker runs it and the two-process job one after the other
def test_every_notebook_runs(tmp_path, monkeypatch, one_subprocess_job_at_a_time):
    """All notebooks in one kernel, one after another (kernel start, imports and shared compilations once): before
    each, the namespace is reset and the working directory is the notebook's own, so none can lean on another."""
    monkeypatch.setenv(SMALL_FLAG, "1")  # the kernel inherits it: every notebook's SMALL settings
    kernel = jupyter_client.KernelManager(kernel_name="python3")
    kernel.start_kernel(cwd=str(tmp_path))
    try:
        for path in NOTEBOOKS:
            name = os.path.basename(path)
            workdir = tmp_path / name.removesuffix(".ipynb")
            workdir.mkdir()
            nb = nbformat.read(path, as_version=4)
            fresh = nbformat.v4.new_code_cell(f"%reset -f\nimport os\nos.chdir({str(workdir)!r})\n"
                                              "import matplotlib.pyplot\nmatplotlib.pyplot.close('all')")
            nb.cells.insert(0, fresh)
            client = nbclient.NotebookClient(nb, km=kernel, timeout=600)
            try:
                client.execute()
            except nbclient.exceptions.CellExecutionError as error:
                raise AssertionError(f"{name} failed:\n{error}") from None
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()
            errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
            assert not errors, name
            setup = [cell for cell in nb.cells if cell.cell_type == "code"][1]  # the notebook's own first cell
            assert any("SMALL = True" in o.get("text", "") for o in setup.outputs), f"{name} did not see SMALL"
    finally:
        kernel.shutdown_kernel(now=True)

"""Execute notebooks in place in a Jupyter kernel, so that their committed outputs are the docs' outputs.

    python tests/run_notebooks.py nbs/03_phasefield.ipynb nbs/03a_processing.ipynb
    python tests/run_notebooks.py --flags slow nbs/06b_dvae_eval.ipynb   # also run the `slow` cells

Cells carrying a test flag from settings.ini (`slow`, `gpu`, ...) that is not asked for keep their committed
outputs and are not run, exactly as `nbdev_test` skips them. Progress bars are silenced (`ALLOY_NB_QUIET=1`)
so that outputs stay small and repeatable. Run `nbdev_clean` afterwards (CI checks that it changes nothing).
"""
import argparse, os, re, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r'^#\|\s*(\w+)\s*$', re.M)


def cell_flags(source:str, known:set) -> set:
    "The test flags (`#| slow`, `#| gpu`, ...) a code cell carries."
    return {m for m in FLAG.findall(source) if m in known}


def run_notebook(path:Path, flags=(), timeout:int=3600) -> float:
    "Execute `path` in place, skipping cells with flags not in `flags`; return the seconds taken."
    from nbdev.config import get_config
    known = set(get_config().tst_flags.split())
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}})
    t0 = time.time()
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != 'code' or (cell_flags(cell.source, known) - set(flags)): continue
            client.execute_cell(cell, i)
        client.set_widgets_metadata()   # JupyterLab shows the saved explorers before a reader runs anything
    nbformat.write(nb, path)
    return time.time() - t0


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='+', type=Path)
    p.add_argument('--flags', nargs='*', default=[], help='test flags whose cells run too (e.g. slow)')
    p.add_argument('--timeout', type=int, default=3600, help='seconds per cell')
    a = p.parse_args()
    os.environ.update(ALLOY_NB_QUIET='1')
    os.environ.pop('IN_TEST', None)
    for nb in a.notebooks:
        print(f'{nb}: {run_notebook(nb.resolve(), a.flags, a.timeout):.0f} s', flush=True)
    sys.exit(0)

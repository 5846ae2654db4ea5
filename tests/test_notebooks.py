"Run every notebook under nbdev's test machinery (cells flagged with `tst_flags` skipped): one test per notebook."
import os, subprocess, sys, tempfile
import pytest
from conftest import ROOT

NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
RUNNER = """
import sys
from pathlib import Path
from nbdev.config import get_config
from nbdev.test import test_nb
cfg = get_config()
ok, secs = test_nb(Path(sys.argv[1]), skip_flags=cfg.tst_flags.split(), basepath=cfg.config_path)
print(f'{Path(sys.argv[1]).name}: {"passed" if ok else "FAILED"} in {secs:.1f}s')
sys.exit(0 if ok else 1)
"""


def test_notebooks_found():
    assert {'00_core.ipynb', 'index.ipynb'} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb):
    with tempfile.TemporaryDirectory() as xdg:
        env = {**os.environ, 'XDG_DATA_HOME': xdg, 'ALLOY_NB_QUIET': '1', 'MPLBACKEND': 'Agg'}
        env.pop('ALLOY_NB_DEVICE', None)
        res = subprocess.run([sys.executable, '-c', RUNNER, str(nb)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, f"{nb.name} failed:\n{res.stdout[-3000:]}\n{res.stderr[-8000:]}"

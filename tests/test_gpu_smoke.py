"""The GPU smoke test (tests/gpu_smoke.py) where there is no GPU: as a script it writes the one JSON it promises,
saying why it skipped, and exits 0; as a pytest module it is skipped with that reason, never failed."""
import json, subprocess, sys
import pytest
import torch
from conftest import ROOT

SMOKE = ROOT/'tests'/'gpu_smoke.py'
REASON = f'no CUDA GPU visible to torch {torch.__version__}'
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA GPU is here: run `pytest tests/gpu_smoke.py`')


def test_script_writes_skipped_json(tmp_path):
    res = subprocess.run([sys.executable, str(SMOKE), '--out', str(tmp_path/'smoke.json')],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path/'smoke.json').read_text()) == {'skipped': REASON}
    assert [p.name for p in tmp_path.iterdir()] == ['smoke.json']              # no temporary file left beside it


def test_pytest_module_skips_with_the_reason():
    res = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-rs', '-p', 'no:cacheprovider', str(SMOKE)],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0 and '1 skipped' in res.stdout and REASON in res.stdout, res.stdout + res.stderr

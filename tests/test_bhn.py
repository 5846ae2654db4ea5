"The Bayesian hypernetwork's console scripts end to end, and their bad-input errors (one clear line, nothing written)."
import subprocess
import pandas as pd
import pytest
import torch
from conftest import ROOT

CSV = ROOT/'data'/'phasefield_recipes.csv'


def run(args, env, cwd, timeout=900): return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture
def env(clean_env, tmp_path):
    "Quiet, CPU, and the simulation cache in a temporary folder."
    return {**clean_env, 'XDG_CACHE_HOME': str(tmp_path/'cache'), 'ALLOY_NB_DEVICE': 'cpu'}


def files(folder): return sorted(p.name for p in folder.iterdir() if p.name not in ('cache', 'xdg'))


def test_train_on_a_csv_writes_a_loadable_checkpoint(tmp_path, env):
    pd.read_csv(CSV).iloc[:40].to_csv(tmp_path/'mine.csv', index=False)
    res = run(['alloy_nb_train_bhn', '--out', 'm.pt', '--data', 'mine.csv', '--max_steps', '60', '--quiet'], env, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'trained on 40 recipes' in res.stdout and files(tmp_path) == ['m.pt', 'mine.csv']
    from alloy_nb.hypernet import load_bhn, predict
    m = load_bhn(tmp_path/'m.pt', device='cpu')
    assert predict(m, pd.read_csv(CSV).iloc[:3], 10).mean.shape == (3, len(m.columns))


def _csv(tmp_path, change):
    df = pd.read_csv(CSV).iloc[:40]
    change(df) if callable(change) else None
    df.to_csv(tmp_path/'in.csv', index=False)


@pytest.mark.parametrize('change,args,message', [
    (lambda df: df.drop(columns=['deformation'], inplace=True), [], "lacks column(s) ['deformation']"),
    (lambda df: df.loc.__setitem__((3, 'temperature'), 900.), [], 'temperature=900 is outside the valid range'),
    (lambda df: df.loc.__setitem__((5, 'yield_strength'), float('nan')), [], 'row 7: yield_strength is not a number'),
    (lambda df: df.drop(index=range(30), inplace=True), [], 'training needs at least 20'),
    (None, ['--device', 'tpu'], "'cpu', 'cuda' or 'cuda:N'"),
    (None, ['--max_steps', '0'], 'max_steps must be a positive integer'),
    (None, ['--seed', '-1'], 'seed must be'),
    (None, ['--seed', '1', '--seed', '2'], 'option --seed is given more than once'),
    (None, ['--data', 'folder'], "Data file 'folder' is a folder, not a file"),
])
def test_train_bad_input(tmp_path, env, change, args, message):
    _csv(tmp_path, change)
    if 'folder' in args: (tmp_path/'folder').mkdir()
    data = [] if '--data' in args else ['--data', 'in.csv']          # each option once
    res = run(['alloy_nb_train_bhn', '--out', 'm.pt', *data, *args], env, tmp_path, timeout=300)
    assert res.returncode != 0 and message in res.stderr and 'Traceback' not in res.stderr, res.stderr[-2000:]
    assert files(tmp_path) == sorted(['in.csv'] + (['folder'] if 'folder' in args else []))   # no checkpoint, no temporary file


def test_train_empty_csv_and_missing_cuda(tmp_path, env):
    (tmp_path/'in.csv').write_text('')
    res = run(['alloy_nb_train_bhn', '--out', 'm.pt', '--data', 'in.csv'], env, tmp_path)
    assert res.returncode != 0 and 'not a readable CSV' in res.stderr
    if not torch.cuda.is_available():
        res = run(['alloy_nb_train_bhn', '--out', 'm.pt', '--device', 'cuda'], env, tmp_path)
        assert res.returncode != 0 and 'no CUDA GPU' in res.stderr
    assert files(tmp_path) == ['in.csv']


def test_train_keeps_an_existing_checkpoint(tmp_path, env):
    (tmp_path/'m.pt').write_text('precious')
    res = run(['alloy_nb_train_bhn', '--out', 'm.pt'], env, tmp_path)
    assert res.returncode != 0 and 'pass --force' in res.stderr and (tmp_path/'m.pt').read_text() == 'precious'


def test_train_never_writes_over_its_data(tmp_path, env):
    pd.read_csv(CSV).iloc[:40].to_csv(tmp_path/'in.pt', index=False)
    before = (tmp_path/'in.pt').read_bytes()
    res = run(['alloy_nb_train_bhn', '--out', 'in.pt', '--data', 'in.pt', '--force'], env, tmp_path)
    assert res.returncode != 0 and 'never writes over its input' in res.stderr and (tmp_path/'in.pt').read_bytes() == before


def test_a_dvae_checkpoint_is_not_a_bhn():
    from alloy_nb.core import CheckpointError
    from alloy_nb.files import artefact
    from alloy_nb.hypernet import load_bhn
    with pytest.raises(CheckpointError, match='not an alloy_nb BHN checkpoint'): load_bhn(artefact('dvae_single_vs_multi.pt'))


def test_bench_bad_input(tmp_path, env):
    res = run(['alloy_nb_bench_bhn', '--json', 'b.txt'], env, tmp_path)
    assert res.returncode != 0 and 'must end in .json' in res.stderr
    res = run(['alloy_nb_bench_bhn', '--device', 'bogus'], env, tmp_path)
    assert res.returncode != 0 and "'cpu', 'cuda' or 'cuda:N'" in res.stderr and files(tmp_path) == []
    (tmp_path/'b.json').write_text('{"kept": 1}')
    res = run(['alloy_nb_bench_bhn', '--json', 'b.json'], env, tmp_path)
    assert res.returncode != 0 and 'pass --overwrite' in res.stderr and (tmp_path/'b.json').read_text() == '{"kept": 1}'


def test_quick_bench_writes_speed_ceiling_interval_and_width_sensitivity(tmp_path, env):
    "The benchmark JSON keeps its keys and adds the surrogate's speed and the noise ceiling's bootstrap interval."
    res = run(['alloy_nb_bench_bhn', '--quick', '--json', 'b.json'], env, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    import json
    out = json.loads((tmp_path/'b.json').read_text())
    assert {'simulator', 'noise_ceiling', 'time_to_target', 'borg', 'device', 'device_name'} <= set(out)
    speed = out['surrogate_speed']
    assert speed['bhn_recipes_per_s'] > speed['simulate_recipes_per_s'] > 0 and 'faster' in res.stdout
    assert set(out['noise_ceiling_ci']) == set(out['noise_ceiling'])
    assert all(lo <= out['noise_ceiling'][t] <= hi for t, (lo, hi) in out['noise_ceiling_ci'].items())
    assert set(out['init_sensitivity']) == {'width_ratio', 'width_ratio_last', 'last_step'}
    assert out['init_sensitivity']['width_ratio'] >= 1 and out['init_sensitivity']['last_step'] == 300

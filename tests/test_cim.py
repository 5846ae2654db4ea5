"The `alloy_nb_cim` console script end to end (small `--n`) and its bad-input cases."
import json, subprocess
import pytest


def run(args, env, timeout=900): return subprocess.run(['alloy_nb_cim', *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_cim_writes_the_documented_json(clean_env, tmp_path):
    out = tmp_path/'cim.json'
    res = run(['--json', str(out), '--n', '300', '--seed', '1', '--device', 'cpu'], clean_env)
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    assert set(r) == {'graph', 'effects', 'optimisation'}
    assert set(r['graph']) == {'adjacency_precision', 'adjacency_recall', 'orientation_precision', 'orientation_recall', 'shd', 'seconds'}
    assert set(r['optimisation']) == {'recipe', 'baseline_recipe', 'baseline_strength', 'optimised_strength', 'brute_force_strength',
                                      'simulator_calls', 'brute_force_calls'}
    assert len(r['effects']['pairs']) == 25 and 0 <= r['effects']['coverage'] <= 1
    assert all(p['lo'] <= p['hi'] for p in r['effects']['pairs'])
    o = r['optimisation']
    assert o['optimised_strength'] > o['baseline_strength'] and o['simulator_calls'] < o['brute_force_calls']
    assert set(o['recipe']) == set(o['baseline_recipe']) == {'solute', 'temperature', 'hold_time', 'cooling_rate', 'deformation'}
    assert 'adjacency precision' in res.stdout and str(out) in res.stdout


@pytest.mark.parametrize('args, message', [
    (['--tiers', 'solute,temperature;grain_szie'], "unknown variable 'grain_szie' in tiers"),
    (['--tiers', 'solute;yield_strength;solute'], "the tier list contradicts itself: 'solute' is in tier 0 and in tier 2"),
    (['--alpha', '0'], 'alpha must lie in (0, 1)'),
    (['--alpha', '1'], 'alpha must lie in (0, 1)'),
    (['--n', '12'], '12 rows are too few for the fisherz test'),
    (['--n', '5000'], 'n must be an integer in 1 … 2000'),
    (['--test', 'fisher'], "unknown independence test 'fisher'"),
    (['--device', 'bogus'], "'cpu', 'cuda' or 'cuda:N'"),
])
def test_bad_input_is_one_line_and_writes_nothing(clean_env, tmp_path, args, message):
    out = tmp_path/'cim.json'
    res = run(['--json', str(out), *args], clean_env, timeout=300)
    assert res.returncode != 0 and message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and 'Traceback' not in res.stderr
    assert not out.exists()


def test_json_is_required_and_must_end_in_json(clean_env, tmp_path):
    res = run([], clean_env)
    assert res.returncode != 0 and '--json FILE.json is required' in res.stderr
    res = run(['--json', str(tmp_path/'cim.txt')], clean_env)
    assert res.returncode != 0 and 'must end in .json' in res.stderr and not (tmp_path/'cim.txt').exists()

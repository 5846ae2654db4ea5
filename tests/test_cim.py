"""The `alloy_nb_cim` console script end to end (small `--n`) and its bad input.

The end-to-end case runs the installed script; the bad-input cases run its entry point in-process (`cim_main(argv)`,
what the installed script calls), as tests/test_bad_input.py does for the other commands."""
import json, subprocess, time
import pytest
from test_bad_input import run as run_main, refused, snapshot, write, quiet_env  # noqa: F401 (quiet_env is a fixture)
from alloy_nb.cli import cim_main

CIM = 'alloy_nb_cim'


def run(args, env, timeout=900): return subprocess.run([CIM, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_cim_writes_the_documented_json(clean_env, tmp_path):
    out = write(tmp_path/'cim.json', '{"earlier": true}')
    res = run(['--json', str(out), '--n', '300', '--seed', '1', '--device', 'cpu', '--overwrite'], clean_env)
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    assert set(r) == {'graph', 'effects', 'optimisation'}                       # the earlier file was replaced, as --overwrite asks
    assert set(r['graph']) == {'adjacency_precision', 'adjacency_recall', 'orientation_precision', 'orientation_recall', 'shd', 'seconds'}
    assert set(r['optimisation']) == {'recipe', 'baseline_recipe', 'baseline_strength', 'optimised_strength', 'brute_force_strength',
                                      'simulator_calls', 'brute_force_calls', 'training_calls', 'total_calls'}
    assert len(r['effects']['pairs']) == 25 and 0 <= r['effects']['coverage'] <= 1
    assert all(p['lo'] <= p['hi'] for p in r['effects']['pairs'])
    o = r['optimisation']
    assert o['optimised_strength'] > o['baseline_strength'] and o['simulator_calls'] < o['brute_force_calls']
    assert o['total_calls'] == o['training_calls'] + o['simulator_calls'] == 2016   # every call counted, training too
    assert set(o['recipe']) == set(o['baseline_recipe']) == {'solute', 'temperature', 'hold_time', 'cooling_rate', 'deformation'}
    assert 'adjacency precision' in res.stdout and str(out) in res.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name != 'xdg'] == ['cim.json']   # no temporary file left beside it


@pytest.mark.parametrize('args, message', [
    (['--tiers', 'solute,temperature;grain_szie'], "unknown variable 'grain_szie' in tiers"),
    (['--tiers', 'solute;yield_strength;solute'], "the tier list contradicts itself: 'solute' is in tier 0 and in tier 2"),
    (['--tiers', ' ; '], '--tiers names no variable'),
    (['--alpha', '0'], 'alpha must lie in (0, 1)'),
    (['--alpha', '1'], 'alpha must lie in (0, 1)'),
    (['--alpha', 'nan'], 'alpha must lie in (0, 1)'),
    (['--n', '12'], '12 rows are too few for the fisherz test'),
    (['--n', '0'], 'n must be a positive integer'),
    (['--n', '5000'], 'n must be a positive integer no larger than 2,000, got 5000'),
    (['--seed', '-1'], 'seed must be a non-negative integer below 2**32'),
    (['--seed', str(2 ** 32)], 'seed must be a non-negative integer below 2**32'),
    (['--test', 'fisher'], "unknown independence test 'fisher'"),
    (['--device', 'bogus'], "'cpu', 'cuda' or 'cuda:N'"),
])
def test_bad_input_is_one_line_before_work_and_leaves_nothing(quiet_env, args, message):
    t0 = time.time()
    refused(run_main(cim_main, '--json', quiet_env/'cim.json', *args), CIM, message)
    assert time.time() - t0 < 10 and snapshot(quiet_env) == {}                 # refused before PC starts; no file, no temporary file


def test_bad_input_keeps_an_earlier_json(quiet_env):
    "A refused run never touches an earlier output, even with --overwrite."
    out = write(quiet_env/'cim.json', '{"earlier": true}'); before = snapshot(quiet_env)
    refused(run_main(cim_main, '--json', out, '--alpha', '2', '--overwrite'), CIM, 'alpha must lie in (0, 1)')
    assert snapshot(quiet_env) == before


def test_existing_json_is_kept_without_overwrite(quiet_env):
    out = write(quiet_env/'cim.json', '{"earlier": true}'); before = snapshot(quiet_env)
    t0 = time.time()
    refused(run_main(cim_main, '--json', out), CIM, 'exists; pass --overwrite to replace it')
    assert time.time() - t0 < 10 and snapshot(quiet_env) == before


@pytest.mark.parametrize('argv', [['--seed', '1', '--seed', '2'], ['--n', '300', '--n', '400'], ['--overwrite', '--overwrite']])
def test_option_given_twice_is_refused(quiet_env, argv):
    refused(run_main(cim_main, '--json', quiet_env/'cim.json', *argv), CIM, 'is given more than once; give it once', usage=True)
    assert snapshot(quiet_env) == {}


def test_json_is_required_and_must_end_in_json(quiet_env):
    refused(run_main(cim_main), CIM, 'the following arguments are required: --json', usage=True)   # argparse's message, before any work
    refused(run_main(cim_main, '--json', quiet_env/'cim.txt'), CIM, 'must end in .json')
    refused(run_main(cim_main, '--json', quiet_env/'missing'/'cim.json'), CIM, 'does not exist')
    assert snapshot(quiet_env) == {}

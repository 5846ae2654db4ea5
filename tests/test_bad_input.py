"""Bad input, class by class: every case asserts the message (one line naming the problem) and that nothing was
lost or left behind (inputs and earlier outputs byte-identical, no stray or hidden files).

Console scripts run in-process through their entry points (`*_main(argv)`, exactly what the installed scripts call),
so each case costs milliseconds to seconds; the interrupt cases start real processes and send real signals."""
import contextlib, io, json, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from alloy_nb.core import AlloyInputError, CheckpointError, MEMORY_ENV, seed_everything
from alloy_nb.files import MARKER, artefact
from alloy_nb.composition import parse_formula, composition_matrix
from alloy_nb.processing import plan_batch, simulation_memory, simulate, sample_recipes, SimSettings
from alloy_nb.dvae import predict_proba, DVAEConfig
from alloy_nb.dvae_training import load_dvae
from alloy_nb.cli import featurize_main, simulate_main, train_dvae_main, bench_dvae_main, report_main, info_main


# ------------------------------------------------------------------ helpers

@contextlib.contextmanager
def cd(folder):
    old = os.getcwd(); os.chdir(folder)
    try: yield
    finally: os.chdir(old)


def run(main, *argv, cwd=None):
    "Run a console script's entry point in-process: (exit status, stdout, stderr) as a shell would see them."
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), cd(cwd or os.getcwd()):
        try: main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
            if isinstance(e.code, str): print(e.code, file=err)
    return code, out.getvalue(), err.getvalue()


def snapshot(*folders) -> dict:
    "Every file and folder under `folders`, hidden ones included, with its bytes."
    return {str(p): (p.read_bytes() if p.is_file() else 'folder') for d in folders for p in sorted(Path(d).rglob('*'))}


def refused(result, prog, *fragments, usage=False):
    """Assert a failed run that says `PROG: error: ...` in one line naming the problem (argparse puts its usage before
    it; a list of bad rows may follow it) and contains every fragment, with no traceback; return the error line."""
    code, _, err = result
    lines = [l for l in err.splitlines() if l.strip()]
    assert code != 0 and lines and 'Traceback' not in err, err[-2000:]
    line = lines[-1] if usage else lines[0]
    assert line.startswith(f'{prog}: error: '), err[-2000:]
    assert all(len(l) < 1000 for l in lines) and len(lines) <= (8 if usage else 52), err[-2000:]
    for f in fragments: assert f in err, (f, err[-2000:])
    return line


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding='utf-8')
    return path


@pytest.fixture
def quiet_env(tmp_path, monkeypatch):
    monkeypatch.setenv('ALLOY_NB_QUIET', '1')
    monkeypatch.delenv('ALLOY_NB_DEVICE', raising=False)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    return tmp_path


FEAT, SIM, TRAIN, BENCH, REPORT = 'alloy_nb_featurize', 'alloy_nb_simulate', 'alloy_nb_train_dvae', 'alloy_nb_bench_dvae', 'alloy_nb_report'


# ------------------------------------------------------------------ numbers at the edges

@pytest.mark.parametrize('formula, fragment', [
    ('Al' + '1' * 400 + 'Co', 'beyond floating-point range'),             # was NaN, silently
    ('Al' + '1' * 5000 + 'Co', 'beyond floating-point range'),
    ('Al' + '9' * 308 + 'Co' + '9' * 308, 'beyond floating-point range'),  # each fits, the sum does not: was a raw OverflowError
    ('Al1e-5Co', 'exponent notation (1e-5'),                                # was "a negative amount"
    ('Al1e5Co', 'exponent notation (1e5'),
    ('Al1E5Co', 'exponent notation (1E5'),
    ('Al2.5e+3Co', 'exponent notation (2.5e+3'),
    ('(CoCrFeNi)1e3Al5', 'exponent notation (1e3'),
])
def test_numbers_formula(tmp_path, formula, fragment):
    with pytest.raises(AlloyInputError, match=None) as e: parse_formula(formula)
    assert fragment in str(e.value) and len(str(e.value)) < 400
    src = write(tmp_path / 'in.csv', f'formula\nCoCrFeNi\n{formula}\n'); before = snapshot(tmp_path)
    refused(run(featurize_main, src, tmp_path / 'out.csv'), FEAT, '1 bad row(s)', 'row 2', fragment)
    assert snapshot(tmp_path) == before


def test_numbers_valid_edges():
    assert parse_formula('Al2Er1') == {'Al': 2 / 3, 'Er': 1 / 3}                      # erbium, not an exponent
    assert parse_formula('Al' + '9' * 200 + 'Co')['Co'] == pytest.approx(1e-200, rel=1e-9)
    assert composition_matrix([{'Al': 1e308, 'Co': 1e308}]).iloc[0].tolist() == [0.5, 0.5]
    assert composition_matrix(pd.DataFrame({'Al': [1e308], 'Co': [1e308]})).iloc[0].tolist() == [0.5, 0.5]


@pytest.mark.parametrize('amounts, fragment', [
    ({'Al': 'abc', 'Co': 1}, "the amount of Al is 'abc', not a number"),   # was a raw ValueError
    ({'Al': None, 'Co': 1}, 'the amount of Al is None, not a number'),     # was a raw TypeError
    ({'Al': [1], 'Co': 1}, 'not a number'),
    ({'Al': 1j, 'Co': 1}, 'not a number'),
    ({'Al': True, 'Co': 1}, 'the amount of Al is True, not a number'),     # was read as 1
    ({'Al': 10 ** 400, 'Co': 1}, 'beyond floating-point range'),           # was a raw OverflowError
    ({'Xx': 1, 'Co': 1}, "key 'Xx' is not an element symbol"),             # was accepted
    ({'al': 1, 'Co': 1}, "key 'al' is not an element symbol"),
    ({'Al': float('inf'), 'Co': 1}, 'finite, non-negative'),
])
def test_numbers_composition_dict(amounts, fragment):
    with pytest.raises(AlloyInputError) as e: composition_matrix([{'Fe': 1}, amounts])
    assert 'Composition #1' in str(e.value) and fragment in str(e.value)


def test_numbers_composition_matrix_text():
    with pytest.raises(AlloyInputError, match=r"column\(s\) \['Al'\] hold values that are not numbers, e.g. 'x'"):
        composition_matrix(pd.DataFrame({'Al': ['x'], 'Co': [1]}))


# ------------------------------------------------------------------ error positions

def test_positions_undefined_descriptors_named_by_file_row(tmp_path):
    src = write(tmp_path / 'in.csv', 'formula\nCoCrFeNi\nNbMoTaW\nThU\n'); before = snapshot(tmp_path)
    refused(run(featurize_main, src, tmp_path / 'out.csv'), FEAT, '1 bad row(s)', "row 3 (value 'ThU')", 'Th-U')   # was "alloy row(s) [2]", a position among valid rows
    assert snapshot(tmp_path) == before


def test_positions_undefined_descriptors_skipped(tmp_path):
    src = write(tmp_path / 'in.csv', 'formula,x\nCoCrFeNi,1\nThU,2\n\nNbMoTaW,4\n'); before = src.read_bytes()
    code, out, err = run(featurize_main, src, tmp_path / 'out.csv', '--skip-invalid')
    assert code == 0, err                                                  # was a failure: Th-U rows were not skipped
    assert "skipped row 2 (value 'ThU')" in err and '1 invalid rows skipped' in out
    assert pd.read_csv(tmp_path / 'out.csv').x.tolist() == [1, 4] and src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.csv', 'out.csv']


def test_positions_many_bad_rows_stay_readable(tmp_path):
    src = write(tmp_path / 'in.csv', 'formula\n' + 'AlXx\n' * 20_000); before = snapshot(tmp_path)
    line = refused(run(featurize_main, src, tmp_path / 'out.csv', '--skip-invalid'), FEAT, 'No valid rows', 'all 20,000 are invalid')
    assert len(line) < 1000                                                # was one 2 MB line
    assert snapshot(tmp_path) == before
    write(src, 'formula\nCoCrFeNi\n' + 'AlXx\n' * 20_000)
    code, out, err = run(featurize_main, src, tmp_path / 'out.csv', '--skip-invalid')
    assert code == 0 and len(err.splitlines()) == 51 and '... and 19,950 more invalid rows skipped' in err   # was 20,000 lines
    assert len(pd.read_csv(tmp_path / 'out.csv')) == 1


def test_positions_huge_value_is_shortened(tmp_path):
    src = write(tmp_path / 'in.csv', 'formula\nCoCrFeNi\n' + 'Xx' * 50_000 + '\n'); before = snapshot(tmp_path)
    refused(run(featurize_main, src, tmp_path / 'out.csv'), FEAT, 'row 2', '(100,002 characters)')   # was 300 kB on one line
    assert snapshot(tmp_path) == before


def test_positions_ragged_csv_uses_row_numbers(tmp_path):
    src = write(tmp_path / 'in.csv', 'formula,x\nCoCrFeNi,1\nNbMoTaW,2,3\n'); before = snapshot(tmp_path)
    refused(run(featurize_main, src, tmp_path / 'out.csv'), FEAT, 'row 2 has 3 fields but the header has 2')   # pandas said "line 3"
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ paths

@pytest.mark.parametrize('name', ['in.csv', './in.csv', 'link.csv', 'hard.csv'])
def test_paths_featurize_never_writes_over_its_input(tmp_path, name):
    src = write(tmp_path / 'in.csv', 'formula\nCoCrFeNi\nAlXx\n')
    (tmp_path / 'link.csv').symlink_to(tmp_path / 'in.csv'); os.link(tmp_path / 'in.csv', tmp_path / 'hard.csv')
    before = snapshot(tmp_path)
    refused(run(featurize_main, 'in.csv', name, '--skip-invalid', '--overwrite', cwd=tmp_path), FEAT, 'never writes over its input')
    assert snapshot(tmp_path) == before and (tmp_path / 'link.csv').is_symlink()   # was: the input overwritten, invalid rows gone


def test_paths_featurize_existing_output_needs_overwrite(tmp_path):
    src, out = write(tmp_path / 'in.csv', 'formula\nCoCrFeNi\n'), write(tmp_path / 'out.csv', 'precious\n')
    before = snapshot(tmp_path)
    refused(run(featurize_main, src, out), FEAT, 'exists; pass --overwrite')              # was overwritten without a flag
    assert snapshot(tmp_path) == before
    code, _, err = run(featurize_main, src, out, '--overwrite')
    assert code == 0 and pd.read_csv(out).formula.tolist() == ['CoCrFeNi'] and sorted(p.name for p in tmp_path.iterdir()) == ['in.csv', 'out.csv']


@pytest.mark.parametrize('case, fragment', [
    ('input is a folder', 'is a folder, not a file'),                      # was "does not exist"
    ('output is a folder', 'is a folder; give a file name'),
    ('output folder is a file', 'is a file, not a folder'),               # was "does not exist"
    ('output is a pipe', 'exists and is not a regular file'),              # was replaced by a regular file
    ('output folder is not writable', 'is not writable'),                  # was a PermissionError traceback
])
def test_paths_featurize(tmp_path, case, fragment):
    if case == 'output folder is not writable' and not Path('/sys/kernel').is_dir(): pytest.skip('needs a read-only sysfs')
    src = write(tmp_path / 'in.csv', 'formula\nCoCrFeNi\n'); (tmp_path / 'dir').mkdir(); os.mkfifo(tmp_path / 'pipe.csv')
    args = {'input is a folder': (tmp_path / 'dir', tmp_path / 'out.csv'), 'output is a folder': (src, tmp_path / 'dir'),
            'output folder is a file': (src, src / 'out.csv'), 'output is a pipe': (src, tmp_path / 'pipe.csv', '--overwrite'),
            'output folder is not writable': (src, '/sys/alloy_nb_out.csv')}[case]
    before = snapshot(tmp_path)
    refused(run(featurize_main, *args), FEAT, fragment)
    assert snapshot(tmp_path) == before and (tmp_path / 'pipe.csv').is_fifo()


@pytest.mark.skipif(not Path('/sys/kernel').is_dir(), reason='needs a read-only sysfs')
@pytest.mark.parametrize('main, prog, argv', [
    (simulate_main, SIM, ['--n', 300, '--grid', 64, '--out', '/sys/alloy_nb_x.csv']),   # was found only after simulating
    (train_dvae_main, TRAIN, ['--out', '/sys/alloy_nb_m.pt']),                          # was found only after training
    (bench_dvae_main, BENCH, ['--quick', '--json', '/sys/alloy_nb_b.json']),
    (report_main, REPORT, ['--out', '/sys/alloy_nb_report', '--quick']),
])
def test_paths_unwritable_output_refused_before_work(quiet_env, main, prog, argv):
    t0 = time.time()
    refused(run(main, *argv), prog, 'is not writable')
    assert time.time() - t0 < 10


def user_folder(tmp_path):
    home = tmp_path / 'home'; home.mkdir()
    write(home / 'thesis.tex', 'years of work'); (home / 'data').mkdir(); write(home / 'data' / 'x.csv', 'a\n1\n')
    return home


@pytest.mark.parametrize('out', ['.', 'HOME'])
def test_paths_report_force_never_deletes_user_files(quiet_env, out):
    home = user_folder(quiet_env); before = snapshot(quiet_env)
    target = '.' if out == '.' else home                                    # `--out ~` as a shell expands it
    refused(run(report_main, '--out', target, '--force', '--quick', cwd=home), REPORT, 'was not written by alloy_nb', '--force will not replace it')
    assert snapshot(quiet_env) == before                                    # was: every file deleted


def test_paths_report_force_keeps_a_report_with_added_files(quiet_env):
    rep = quiet_env / 'report'; rep.mkdir()
    write(rep / MARKER, json.dumps({'written_by': 'alloy_nb_report', 'files': ['index.html']})); write(rep / 'index.html', '<html>')
    write(rep / 'my notes.txt', 'keep me'); before = snapshot(quiet_env)
    refused(run(report_main, '--out', rep, '--force', '--quick'), REPORT, "did not write ('my notes.txt')", 'move them away')
    assert snapshot(quiet_env) == before


@pytest.mark.parametrize('option', ['json', 'csv'])
def test_paths_bench_existing_output_needs_overwrite(quiet_env, option):
    out = write(quiet_env / f'b.{option}', 'precious'); before = snapshot(quiet_env)
    refused(run(bench_dvae_main, '--quick', f'--{option}', out), BENCH, 'exists; pass --overwrite')   # was overwritten
    refused(run(bench_dvae_main, '--quick', f'--{option}', quiet_env / 'b.txt'), BENCH, f'must end in .{option}')
    assert snapshot(quiet_env) == before


def test_paths_simulate_output_checks(quiet_env):
    write(quiet_env / 'f.npz', 'precious'); before = snapshot(quiet_env)
    refused(run(simulate_main, '--n', 2, '--grid', 32, '--out', quiet_env / 'x.csv', '--fields', quiet_env / 'f.npz'), SIM, 'exists; pass overwrite=True (--overwrite)')
    refused(run(simulate_main, '--n', 2, '--grid', 32, '--out', quiet_env), SIM, 'must end in .csv')
    assert snapshot(quiet_env) == before


# ------------------------------------------------------------------ sizes

def test_sizes_grid_memory_refused_up_front(quiet_env, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, '256MiB')
    t0 = time.time()
    refused(run(simulate_main, '--n', 1, '--grid', 1000, '--out', quiet_env / 'x.csv'), SIM, '1000×1000 grid', 'needs about', 'ALLOY_NB_MEMORY')
    assert time.time() - t0 < 5 and snapshot(quiet_env) == {}              # was: a 105 GiB allocation in the Voronoi start
    assert simulation_memory(SimSettings(grid=1000), 1, 1) < 2**30           # what it needs, and gets without the cap


def test_sizes_recipe_count_memory_refused_up_front(quiet_env):
    refused(run(simulate_main, '--n', 10 ** 10, '--grid', 32, '--out', quiet_env / 'x.csv'), SIM, '10,000,000,000 recipe(s)', 'needs about')
    assert snapshot(quiet_env) == {}                                        # was: a 373 GiB allocation


def test_sizes_batches_are_chunked_to_fit(quiet_env, monkeypatch):
    s = SimSettings(grid=256)
    full = plan_batch(s, 100, 64)
    monkeypatch.setenv(MEMORY_ENV, '300MiB')
    assert full == 64 and 1 <= plan_batch(s, 100, 64) < 64
    monkeypatch.setenv(MEMORY_ENV, '1MiB')
    recipes = sample_recipes(5, seed=3)
    assert plan_batch(SimSettings(grid=32), 5, 64) < 5
    chunked = simulate(recipes, grid=32, seed=3)                             # same numbers in smaller batches
    monkeypatch.delenv(MEMORY_ENV)
    pd.testing.assert_frame_equal(chunked, simulate(recipes, grid=32, seed=3))


def test_sizes_voronoi_memory_grows_with_area_only():
    import tracemalloc
    from alloy_nb.phasefield import periodic_voronoi, VORONOI_CHUNK
    tracemalloc.start()
    periodic_voronoi(np.random.default_rng(0).uniform(0, 256, (3000, 2)), 256)
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert peak < 4 * VORONOI_CHUNK                                         # was 3 × 1.5 GB (3000 × 256² distances at once)


# ------------------------------------------------------------------ arguments

@pytest.mark.parametrize('main, prog, argv, fragments', [
    (simulate_main, SIM, ['--n', 2, '--grid', 32, '--do', 'temperature=600', '--do', 'temperature=620'], ["intervention on 'temperature' is given more than once"]),
    (simulate_main, SIM, ['--n', 2, '--grid', 32, '--seed', 2 ** 32], ['seed must be a non-negative integer below 2**32']),
    (simulate_main, SIM, ['--n', 2, '--grid', 32, '--n_fields', -3, '--fields', 'f.npz'], ['n_fields must be a positive integer, got -3']),
    (simulate_main, SIM, ['--n', 2, '--grid', 32, '--n_fields', 0, '--fields', 'f.npz'], ['n_fields must be a positive integer, got 0']),
    (train_dvae_main, TRAIN, ['--z_dim', 0], ['z_dim must be a positive integer, got 0']),
    (train_dvae_main, TRAIN, ['--seed', 2 ** 32], ['seed must be a non-negative integer below 2**32']),
    (train_dvae_main, TRAIN, ['--epochs', 'nan'], ['epochs must be positive']),
    (train_dvae_main, TRAIN, ['--epochs', 'inf'], ['epochs must be positive']),
    (train_dvae_main, TRAIN, ['--holdout_fold', -2], ['holdout_fold must be one of 0–4 or None (-1 on the command line), got -2']),
    (bench_dvae_main, BENCH, ['--quick', '--n_jobs', 0], ['n_jobs must be a positive integer']),
    (bench_dvae_main, BENCH, ['--quick', '--seeds', '-1'], ['seed must be a non-negative integer']),
    (bench_dvae_main, BENCH, ['--quick', '--seeds', '1,1'], ['seed 1 is given more than once']),
    (bench_dvae_main, BENCH, ['--quick', '--splits', 'grouped,bogus'], ["Unknown split 'bogus'", "'random'"]),
    (bench_dvae_main, BENCH, ['--quick', '--splits', 'random,random'], ["split 'random' is given more than once"]),
    (report_main, REPORT, ['--quick', '--seed', 2 ** 32], ['seed must be a non-negative integer below 2**32']),
    (report_main, REPORT, ['--quick', '--seed', -1], ['seed must be a non-negative integer']),
    (report_main, REPORT, ['--quick', '--tau', 0], ['tau must lie in (0, 1]']),
    (report_main, REPORT, ['--quick', '--tau', 'nan'], ['tau must lie in (0, 1]']),
    (report_main, REPORT, ['--quick', '--nudging', 'replace'], ["nudging must be 'search', 'gradient' or 'loop', got 'replace'"]),
    (report_main, REPORT, ['--quick', '--allow', 'Pt,Xx'], ["['Xx']", 'do not cover']),
])
def test_arguments_refused_before_work(quiet_env, main, prog, argv, fragments):
    out = {SIM: ['--out', 'x.csv'], TRAIN: ['--out', 'm.pt'], BENCH: ['--json', 'b.json'], REPORT: ['--out', 'r']}[prog]
    t0 = time.time()
    refused(run(main, *argv, *out, cwd=quiet_env), prog, *fragments)
    assert time.time() - t0 < 10 and snapshot(quiet_env) == {}             # was: deep inside scikit-learn or joblib, or a useless model


@pytest.mark.parametrize('main, prog, argv', [
    (simulate_main, SIM, ['--n', 2, '--grid', 32, '--seed', 1, '--seed', 2, '--out', 'x.csv']),
    (simulate_main, SIM, ['--n', 2, '--grid', 32, '--out', 'x.csv', '--out', 'y.csv']),
    (train_dvae_main, TRAIN, ['--out', 'm.pt', '--z_dim', 2, '--z_dim', 3]),
    (featurize_main, FEAT, ['in.csv', 'out.csv', '--formula-col', 'formula', '--formula_col', 'alloy']),
    (report_main, REPORT, ['--out', 'r', '--quick', '--quick']),
    (info_main, 'alloy_nb_info', ['--json', '--json']),
])
def test_arguments_option_given_twice(quiet_env, main, prog, argv):
    write(quiet_env / 'in.csv', 'formula,alloy\nCoCrFeNi,NbMoTaW\n'); before = snapshot(quiet_env)
    refused(run(main, *argv, cwd=quiet_env), prog, 'is given more than once; give it once', usage=True)   # argparse kept the last one
    assert snapshot(quiet_env) == before


def test_arguments_repeatable_do_still_works(quiet_env):
    code, _, err = run(simulate_main, '--n', 2, '--grid', 32, '--do', 'temperature=600', '--do', 'deformation=0.25', '--out', quiet_env / 'x.csv')
    assert code == 0, err
    df = pd.read_csv(quiet_env / 'x.csv')
    assert (df.temperature == 600).all() and (df.deformation == 0.25).all()


def test_arguments_config_fields():
    for bad, msg in [(dict(z_dim=0), 'z_dim must be a positive integer'), (dict(lr=0), 'lr must be positive'), (dict(dropout=1), 'dropout must be in [0, 1)'),
                     (dict(batch_size=2.5), 'batch_size must be a positive integer'), (dict(palette=('Al', 'Xx')), "['Xx']")]:
        with pytest.raises(AlloyInputError, match=None) as e: DVAEConfig(**bad)
        assert msg in str(e.value)


# ------------------------------------------------------------------ devices

@pytest.mark.parametrize('main, prog, argv', [
    (bench_dvae_main, BENCH, ['--quick', '--device', 'bogus']),            # was found after a minute
    (train_dvae_main, TRAIN, ['--out', 'm.pt', '--device', 'tpu']),
    (simulate_main, SIM, ['--n', 2, '--grid', 32, '--out', 'x.csv', '--device', 'tpu']),
    (report_main, REPORT, ['--out', 'r', '--quick', '--device', 'gpu']),
    (info_main, 'alloy_nb_info', ['--device', 'bogus']),
])
def test_devices_refused_before_work(quiet_env, main, prog, argv):
    t0 = time.time()
    refused(run(main, *argv, cwd=quiet_env), prog, "use 'cpu', 'cuda' or 'cuda:N'")
    assert time.time() - t0 < 10 and snapshot(quiet_env) == {}


def test_devices_environment_variable_checked_first(quiet_env, monkeypatch):
    monkeypatch.setenv('ALLOY_NB_DEVICE', 'bogus')
    t0 = time.time()
    refused(run(bench_dvae_main, '--quick'), BENCH, '$ALLOY_NB_DEVICE', "'bogus'")
    assert time.time() - t0 < 10


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message on a machine without a GPU')
def test_devices_missing_gpu(quiet_env):
    refused(run(train_dvae_main, '--out', quiet_env / 'm.pt', '--device', 'cuda'), TRAIN, 'no CUDA GPU is available')
    assert snapshot(quiet_env) == {}


# ------------------------------------------------------------------ checkpoints

@pytest.fixture(scope='module')
def ckpt():
    return torch.load(artefact('dvae_single_vs_multi.pt'), map_location='cpu', weights_only=True)


def with_weight(ck, name, fn):
    sd = {k: v.clone() for k, v in ck['state_dict'].items()}
    fn(sd[name])
    return {**ck, 'state_dict': sd}


CHECKPOINTS = {
    'no config': (lambda ck: {k: v for k, v in ck.items() if k != 'config'}, "its 'config' is missing, not a dict"),       # was KeyError
    'no state_dict': (lambda ck: {k: v for k, v in ck.items() if k != 'state_dict'}, "its 'state_dict' is missing"),       # was KeyError
    'config a list': (lambda ck: {**ck, 'config': [1, 2]}, "its 'config' is list, not a dict"),
    'state_dict a list': (lambda ck: {**ck, 'state_dict': [1, 2]}, "its 'state_dict' is list, not a dict"),                # was TypeError
    'z_dim a string': (lambda ck: {**ck, 'config': {**ck['config'], 'z_dim': '2'}}, 'z_dim must be a positive integer'),   # was TypeError
    'z_dim 0': (lambda ck: {**ck, 'config': {**ck['config'], 'z_dim': 0}}, 'z_dim must be a positive integer'),
    'hidden negative': (lambda ck: {**ck, 'config': {**ck['config'], 'hidden': -1}}, 'hidden must be a positive integer'),  # was RuntimeError
    'hidden huge': (lambda ck: {**ck, 'config': {**ck['config'], 'hidden': 10 ** 9}}, 'weights do not fit'),                # would allocate 250 GB
    'dropout 5': (lambda ck: {**ck, 'config': {**ck['config'], 'dropout': 5}}, 'dropout must be in [0, 1)'),               # was ValueError
    'lr a string': (lambda ck: {**ck, 'config': {**ck['config'], 'lr': 'fast'}}, "lr must be positive"),                   # was accepted
    'use_composition a string': (lambda ck: {**ck, 'config': {**ck['config'], 'use_composition': 'yes'}}, 'True or False'),
    'unknown palette element': (lambda ck: {**ck, 'config': {**ck['config'], 'palette': ['Xx'] + ck['config']['palette'][1:]}}, "['Xx']"),
    'unknown feature': (lambda ck: {**ck, 'config': {**ck['config'], 'features': ['magic']}}, "got ['magic']"),
    'seed negative': (lambda ck: {**ck, 'config': {**ck['config'], 'seed': -1}}, 'seed must be a non-negative integer'),
    'NaN weight': (lambda ck: with_weight(ck, 'classifier.0.0.weight', lambda t: t.__setitem__((0, 0), float('nan'))), 'weight classifier.0.0.weight has 1 non-finite'),
    'previous format (one classifier)': (lambda ck: {**ck, 'format_version': 1}, 'checkpoint format 1'),
    'inf weight': (lambda ck: with_weight(ck, 'decoder.4.bias', lambda t: t.__setitem__(0, float('inf'))), 'weight decoder.4.bias has 1 non-finite'),
    'NaN scaler': (lambda ck: with_weight(ck, 'scaler.mean', lambda t: t.__setitem__(0, float('nan'))), 'weight scaler.mean has 1 non-finite'),
    'zero scale': (lambda ck: with_weight(ck, 'scaler.std', lambda t: t.zero_()), 'scaler.std must be positive'),          # was accepted
    'integer weights': (lambda ck: {**ck, 'state_dict': {**ck['state_dict'], 'scaler.mean': ck['state_dict']['scaler.mean'].long()}}, 'scaler.mean is torch.int64'),
    'missing weight': (lambda ck: {**ck, 'state_dict': {k: v for k, v in ck['state_dict'].items() if k != 'prior.coef'}}, 'weights do not fit the configured model: prior.coef is missing, expected torch.float32 (2, 3)'),
    'ragged history': (lambda ck: {**ck, 'history': {'step': [1, 2], 'loss': [1.0]}}, 'training history is malformed'),  # was ValueError
    'format version a string': (lambda ck: {**ck, 'format_version': '1'}, "has checkpoint format '1'"),
}


@pytest.mark.parametrize('case', CHECKPOINTS)
def test_checkpoints(tmp_path, ckpt, case):
    change, fragment = CHECKPOINTS[case]
    p = tmp_path / 'm.pt'; torch.save(change(ckpt), p); before = snapshot(tmp_path)
    with pytest.raises(CheckpointError) as e: predict_proba(load_dvae(p, 'cpu'), ['CoCrFeNi'])
    msg = str(e.value)
    assert msg.startswith(str(p)) and fragment in msg and '\n' not in msg and len(msg) < 600, msg
    assert snapshot(tmp_path) == before


def test_checkpoints_folder_and_malicious_pickle(tmp_path):
    (tmp_path / 'm.pt').mkdir()
    with pytest.raises(CheckpointError, match='No checkpoint at .*: it is a folder'): load_dvae(tmp_path / 'm.pt')

    class Evil:
        def __reduce__(self): return (os.system, (f'touch {tmp_path / "pwned"}',))
    torch.save({'format': 'alloy_nb.dvae', 'x': Evil()}, tmp_path / 'evil.pt')
    with pytest.raises(CheckpointError, match='is not a readable checkpoint'): load_dvae(tmp_path / 'evil.pt')
    assert not (tmp_path / 'pwned').exists()


def test_checkpoints_the_shipped_one_still_loads(ckpt):
    m = load_dvae(artefact('dvae_single_vs_multi.pt'), 'cpu')
    assert np.isfinite(predict_proba(m, ['CoCrFeNi'])).all()


# ------------------------------------------------------------------ interrupts

SCRIPT = Path(sys.executable).parent


def start(args, **kw):
    "Start a command as a user would; Ctrl-C restored to its default (a shell that runs jobs in the background ignores it)."
    return subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def wait_for(pred, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred(): return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_interrupts_folder_write_leaves_nothing(tmp_path, sig):
    "A command stopped while it writes its output folder leaves neither the folder nor a hidden temporary one."
    code = ("import time, sys; from alloy_nb.files import atomic_folder; from alloy_nb.console import command_errors\n"
            "with command_errors('demo'):\n"
            "    with atomic_folder(sys.argv[1], overwrite=True) as tmp:\n"
            "        (tmp / 'a.png').write_text('x'); time.sleep(60)\n")
    old = tmp_path / 'report'; old.mkdir()
    (old / MARKER).write_text(json.dumps({'files': ['a.png']})); (old / 'a.png').write_text('old')
    before = snapshot(tmp_path)
    p = start([sys.executable, '-c', code, old])
    assert wait_for(lambda: any(q.name.startswith('.report.') for q in tmp_path.iterdir()), 60), 'the temporary folder never appeared'
    p.send_signal(sig); err = p.communicate(timeout=60)[1]
    assert p.returncode == 130 and err.strip() == 'demo: interrupted; nothing half-written was left behind.', err
    assert snapshot(tmp_path) == before                                     # the old report intact, no hidden folder


def test_interrupts_report_write_phase(quiet_env, sig=signal.SIGTERM):
    "The real report, stopped during its write phase (was: a hidden temporary folder left beside --out; Ctrl-C is tested above)."
    env = {**os.environ, 'ALLOY_NB_QUIET': '1'}
    p = start([SCRIPT / 'alloy_nb_report', '--out', quiet_env / 'r', '--quick', '--device', 'cpu'], env=env)
    assert wait_for(lambda: any(q.name.startswith('.r.') for q in quiet_env.iterdir()), 300), 'never reached the write phase'
    p.send_signal(sig); err = p.communicate(timeout=120)[1]
    assert p.returncode == 130 and err.strip().splitlines()[-1] == 'alloy_nb_report: interrupted; nothing half-written was left behind.', err[-2000:]
    assert list(quiet_env.iterdir()) == []


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_interrupts_simulate_with_workers(quiet_env, sig):
    "Ctrl-C (to the whole process group, as a terminal sends it) or SIGTERM (to the parent) stops the parent and its workers, quietly."
    env = {**os.environ, 'ALLOY_NB_QUIET': '1', 'ALLOY_NB_DEVICE': 'cpu'}
    p = start([SCRIPT / 'alloy_nb_simulate', '--n', 3000, '--grid', 64, '--workers', 2, '--out', quiet_env / 'x.csv', '--fields', quiet_env / 'x.npz'],
              env=env, start_new_session=True)
    group = lambda: subprocess.run(['pgrep', '-g', str(p.pid)], capture_output=True, text=True).stdout.split()
    assert wait_for(lambda: len(group()) >= 4, 120), 'the workers never started'    # the command, its resource tracker, two workers
    time.sleep(3)
    assert p.poll() is None, 'finished before it could be interrupted'
    if sig == signal.SIGINT: os.killpg(p.pid, sig)                          # Ctrl-C in a terminal reaches the workers too
    else: p.send_signal(sig)                                                # `kill PID`, a service manager: the parent only
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130 and err.strip() == 'alloy_nb_simulate: interrupted; nothing half-written was left behind.', err[-2000:]
    assert wait_for(lambda: not group(), 30), 'workers still running'
    assert list(quiet_env.iterdir()) == []


# ------------------------------------------------------------------ reproducibility

def test_reproducibility_beeswarm_is_seeded_and_leaves_numpy_alone(tmp_path):
    import shap, matplotlib
    matplotlib.use('Agg')
    from alloy_nb import report
    rng = np.random.default_rng(0)
    e = shap.Explanation(rng.normal(size=(60, 4)), data=rng.normal(size=(60, 4)), feature_names=list('abcd'))
    run_ = type('Run', (), {'explanation': e, 'plan': type('Plan', (), {'seed': 5})})
    np.random.seed(123); state = np.random.get_state()[1].copy()
    report._shap_figures(run_, tmp_path)
    first = (tmp_path / 'shap_beeswarm.png').read_bytes()
    assert (np.random.get_state()[1] == state).all()                       # the caller's stream is untouched
    np.random.seed(99)                                                     # a different global state does not matter
    report._shap_figures(run_, tmp_path)
    assert (tmp_path / 'shap_beeswarm.png').read_bytes() == first          # was: different jitter, different image


def test_reproducibility_seeds_are_not_folded():
    with pytest.raises(AlloyInputError, match='below 2\\*\\*32'): seed_everything(2 ** 32)   # was: the same numbers as seed 0
    a = seed_everything(2 ** 32 - 1).random()
    assert a == seed_everything(2 ** 32 - 1).random()


def test_reproducibility_same_seed_same_numbers_in_any_batching(quiet_env):
    recipes = sample_recipes(6, seed=2)
    a = simulate(recipes, grid=32, seed=2, batch=6)
    b = simulate(recipes, grid=32, seed=2, batch=2)
    pd.testing.assert_frame_equal(a, b)

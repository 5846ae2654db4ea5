"""Bad input to the processing commands and APIs: each case is refused with a message naming the problem, before any
work where it can be, and nothing a user had is lost. Each test says what happened before it was fixed."""
import math, subprocess, warnings
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT
from alloy_nb.core import AlloyInputError, CheckpointError, NumericalInstabilityError, SEED_LIMIT, derived_seed
from alloy_nb.processing import knob_quantile, knob_value, check_recipes
from alloy_nb.processing_data import ProcessingSet, TargetScaler, check_targets, scale_warnings, TARGETS
from alloy_nb.training import FitConfig, train_loop
from alloy_nb.hypernet import BHN, BHNConfig, predict, save_bhn, load_bhn, fit_bhn
from alloy_nb.causal import learn_graph, COLUMNS
from alloy_nb.causal_effects import effect
from alloy_nb.recipe_optimiser import optimise_recipe, pick_batch, uniform_recipes, optimisation_goals

CSV = ROOT/'data'/'phasefield_recipes.csv'
DATA = pd.read_csv(CSV)


def run(args, env, cwd, timeout=600): return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd,
                                                             timeout=timeout)


@pytest.fixture
def env(clean_env, tmp_path):
    return {**clean_env, 'XDG_CACHE_HOME': str(tmp_path/'cache'), 'ALLOY_NB_DEVICE': 'cpu'}


@pytest.fixture(scope='module')
def small_bhn(tmp_path_factory):
    "A BHN trained for a few steps on 200 bundled recipes (targets and S₂ columns as a real one)."
    from alloy_nb.processing_data import bundled_set
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('XDG_CACHE_HOME', str(tmp_path_factory.mktemp('cache')))     # the S₂ cache stays out of the user's
        return fit_bhn(bundled_set(200), config=BHNConfig(max_steps=20, eval_every=10), device='cpu', quiet=True)


# --- 1. a failed training never replaces a good model -------------------------------------------------------------

def test_diverging_csv_keeps_the_good_model(tmp_path, env):
    "Before: 3e38 in two rows trained to NaN, wrote NaN weights over model.pt (with --force), then a raw traceback."
    bad = DATA.iloc[:40].copy()
    bad.loc[[3, 9], 'yield_strength'] = 3e38
    bad.to_csv(tmp_path/'diverge.csv', index=False)
    (tmp_path/'model.pt').write_text('a good model')
    res = run(['alloy_nb_train_bhn', '--out', 'model.pt', '--data', 'diverge.csv', '--max-steps', '30', '--force'], env,
              tmp_path)
    assert res.returncode == 1 and 'Traceback' not in res.stderr
    assert "row 5: yield_strength = 3e+38 is outside the plausible range 5–5000 MPa (1 more row(s) too)" in res.stderr
    assert (tmp_path/'model.pt').read_text() == 'a good model'


def test_training_that_diverges_stops_with_one_line():
    "Before: a diverging loss trained on to NaN weights and the history ended in NaN, silently."
    net = torch.nn.Linear(2, 1)
    X, y = torch.randn(64, 2), torch.randn(64, 1)
    def loss(b, step): return ((net(X[b]) - y[b]) ** 2).mean() * (math.inf if step > 3 else 1)
    with pytest.raises(NumericalInstabilityError, match='training diverged by step 5: the loss is nan'):
        train_loop(net, loss, lambda: 0.5, 64, FitConfig(max_steps=50, eval_every=5, patience=5), quiet=True)


def test_a_model_with_nan_weights_is_never_written(tmp_path, small_bhn):
    "Before: save_bhn wrote whatever it was given, NaN weights included."
    broken = BHN(small_bhn.config, small_bhn.columns)
    broken.load_state_dict(small_bhn.state_dict())
    with torch.no_grad(): broken.net.layers[0].b.fill_(float('nan'))
    (tmp_path/'m.pt').write_text('kept')
    with pytest.raises(NumericalInstabilityError, match='weight net.layers.0.b has .* non-finite'):
        save_bhn(broken, tmp_path/'m.pt', overwrite=True)
    assert (tmp_path/'m.pt').read_text() == 'kept' and sorted(p.name for p in tmp_path.iterdir()) == ['m.pt']


def test_save_bhn_does_not_overwrite_unasked(tmp_path, small_bhn):
    "Before: save_bhn replaced an existing file without being asked."
    (tmp_path/'m.pt').write_text('kept')
    with pytest.raises(AlloyInputError, match=r'exists; pass overwrite=True \(--force\)'): save_bhn(small_bhn, tmp_path/'m.pt')
    assert (tmp_path/'m.pt').read_text() == 'kept'


# --- 2. silent wrong numbers ----------------------------------------------------------------------------------------

def test_learn_graph_refuses_a_constant_column():
    "Before: a column that never varies (as `alloy_nb_simulate --do` writes) was joined to all 9 other variables."
    d = DATA.head(500).copy()
    d['temperature'] = 600.
    with pytest.raises(AlloyInputError, match=r"\['temperature'\] never vary"): learn_graph(d)


def test_learn_graph_refuses_a_dominant_row():
    "Before: 30 copies of one row were accepted and changed the learned graph; a bootstrap resample stays allowed."
    d = pd.concat([DATA.head(300)] + [DATA.head(1)] * 30, ignore_index=True)
    with pytest.raises(AlloyInputError, match='one row appears 31 times in 330 rows'): learn_graph(d)
    learn_graph(DATA.sample(len(DATA), replace=True, random_state=0))       # duplicates spread thin: fine


def test_learn_graph_refuses_absurd_magnitudes():
    "Before: values ×1e200 gave a graph of edges everywhere."
    d = DATA.head(300).copy()
    d['deformation'] *= 1e200
    with pytest.raises(AlloyInputError, match="column 'deformation' reaches .* beyond any measurement"): learn_graph(d)


def test_effect_refuses_values_outside_the_data():
    "Before: values of [1000, 5000] K gave an effect of 0.0 with interval [0, 0]; [-1e9, 1e9] gave 8.0."
    g = learn_graph(DATA)
    with pytest.raises(AlloyInputError, match=r'temperature = 1000 lies outside the observed range'):
        effect(DATA, g, 'temperature', 'yield_strength', [1000, 5000], n_boot=5)
    with pytest.raises(AlloyInputError, match='outside the observed range'):
        effect(DATA, g, 'temperature', 'yield_strength', [-1e9, 1e9], n_boot=5)


def test_effect_refuses_a_treatment_that_never_varies():
    "Before: a constant treatment gave an effect of 0.0 with interval [0, 0]."
    d = DATA.copy()
    d['solute'] = 0.3
    with pytest.raises(AlloyInputError, match='solute never varies in the data'):
        effect(d, learn_graph(DATA), 'solute', 'yield_strength', [0.3, 0.3], n_boot=5)


def test_effect_refuses_too_few_rows():
    "Before: two rows gave numbers."
    with pytest.raises(AlloyInputError, match='2 rows are too few'):
        effect(DATA.head(2), learn_graph(DATA), 'solute', 'yield_strength', [DATA.solute[:2].min(), DATA.solute[:2].max()])


def test_predict_refuses_to_answer_inf(small_bhn):
    "Before: a scaler mean of 1e4 loaded and predicted `inf` MPa, with exit status 0."
    broken = BHN(small_bhn.config, small_bhn.columns)
    broken.load_state_dict(small_bhn.state_dict())
    with torch.no_grad(): broken.scaler.mean.add_(1e4)
    with pytest.raises(NumericalInstabilityError, match='predicts non-finite values'): predict(broken, DATA.head(3))


def test_a_checkpoint_with_an_overflowing_scaler_is_refused(tmp_path, small_bhn):
    "Before: it loaded, and every prediction was inf."
    save_bhn(small_bhn, tmp_path/'m.pt')
    ck = torch.load(tmp_path/'m.pt', weights_only=True)
    ck['state_dict']['scaler.mean'] = ck['state_dict']['scaler.mean'] + 1e4
    torch.save(ck, tmp_path/'bad.pt')
    with pytest.raises(CheckpointError, match='target scaler overflows'): load_bhn(tmp_path/'bad.pt')


def test_load_bhn_checks_the_target_names(tmp_path, small_bhn):
    "Before: renamed targets loaded (and failed later with raw errors); swapped names loaded, strength read as ~0.2 MPa."
    save_bhn(small_bhn, tmp_path/'m.pt')
    ck = torch.load(tmp_path/'m.pt', weights_only=True)
    for cols in (['strength'] + ck['columns'][1:], ck['columns'][4:5] + ck['columns'][1:4] + ck['columns'][:1] + ck['columns'][5:]):
        torch.save({**ck, 'columns': cols}, tmp_path/'bad.pt')
        with pytest.raises(CheckpointError, match='followed by S₂ columns'): load_bhn(tmp_path/'bad.pt')


def test_rcit_follows_the_seed():
    "Before: `alloy_nb_cim --test rcit` ignored --seed (two runs at n = 300: adjacency precision 0.92 vs 1.0)."
    d = DATA.head(300)
    a, b = (learn_graph(d, test='rcit', kernel_rows=150, seed=3) for _ in range(2))
    assert sorted(a.graph.edges) == sorted(b.graph.edges)


def test_pick_batch_refuses_a_batch_of_none(small_bhn):
    "Before: pick_batch(model, 0) and pick_batch(model, -1) returned 286 recipes."
    for batch in (0, -1):
        with pytest.raises(AlloyInputError, match='batch must be a positive integer'): pick_batch(small_bhn, batch, n=200)


def test_uniform_recipes_refuses_a_nan_width():
    "Before: uniform_recipes(width=nan) returned NaN recipes."
    with pytest.raises(AlloyInputError, match=r'width must be in \(0, 1\]'):
        uniform_recipes(5, centre=DATA.iloc[0].to_dict(), width=float('nan'))


# --- 3. late or wrong refusals ----------------------------------------------------------------------------------------

def test_every_seed_in_range_derives_seeds_in_range():
    "Before: a seed ≥ 2³² − 303 was accepted, ran, then failed naming 'seed 4294967598' (VERIFY_SEED added to it)."
    assert derived_seed(SEED_LIMIT - 1, 303) == 302 and derived_seed(7, 303) == 310
    p = optimise_recipe_small(seed=SEED_LIMIT - 1)
    assert set(p.recipe) == set(DATA.columns[:5])


def optimise_recipe_small(**kw):
    from alloy_nb.hypernet import shipped_bhn
    return optimise_recipe(shipped_bhn('cpu'), 'lcb', **(dict(n=200, rounds=5) | kw))


@pytest.mark.parametrize('kwargs, message', [
    (dict(n=0), 'n must be an integer ≥ 4'), (dict(rounds=-1), 'rounds must be a non-negative integer'),
    (dict(seed=-1), 'seed must be a non-negative integer'), (dict(knobs=('colour',)), "unknown or no knob(s) ['colour']"),
])
def test_optimise_recipe_checks_its_arguments(kwargs, message):
    "Before: n=0, rounds=-1 and seed=-1 raised raw numpy/pandas errors."
    with pytest.raises(AlloyInputError, match=re_escape(message)): optimise_recipe_small(**kwargs)


def re_escape(s): return __import__('re').escape(s)


def test_bench_bhn_refuses_an_empty_json_path(tmp_path, env):
    "Before: `alloy_nb_bench_bhn --json '' --quick` ran the whole benchmark, wrote nothing and exited 0."
    res = run(['alloy_nb_bench_bhn', '--json', '', '--quick'], env, tmp_path, timeout=120)
    assert res.returncode != 0 and 'The output path is empty' in res.stderr


def test_load_bhn_refuses_a_tensor_history(tmp_path, small_bhn):
    "Before: a checkpoint whose history is a tensor raised a raw RuntimeError."
    save_bhn(small_bhn, tmp_path/'m.pt')
    ck = torch.load(tmp_path/'m.pt', weights_only=True)
    torch.save({**ck, 'history': torch.zeros(3)}, tmp_path/'bad.pt')
    with pytest.raises(CheckpointError, match='training history must be a dict of lists'): load_bhn(tmp_path/'bad.pt')


@pytest.mark.parametrize('kwargs, message', [
    (dict(n_samples=2.5), 'n_samples must be an integer ≥ 2'), (dict(seed=2**64), 'seed must be a non-negative integer'),
    (dict(quantiles=(1.5,)), 'each of quantiles must be in [0, 1]'),
])
def test_predict_checks_its_arguments(small_bhn, kwargs, message):
    "Before: these raised raw torch or numpy errors."
    with pytest.raises(AlloyInputError, match=re_escape(message)): predict(small_bhn, DATA.head(2), **kwargs)


def test_predict_takes_one_recipe_as_a_dict_of_numbers(small_bhn):
    "Before: a dict of scalars raised pandas' 'If using all scalar values, you must pass an index'."
    p = predict(small_bhn, DATA.iloc[0, :5].to_dict(), 10)
    assert p.mean.shape == (1, len(small_bhn.columns))


@pytest.mark.parametrize('kwargs, message', [
    (dict(n_boot=0), 'n_boot must be an integer ≥ 2'), (dict(level=1.5), 'level must be in (0, 1)'),
    (dict(values=[]), 'values must be two or more finite numbers'), (dict(values=[0.2, float('nan')]), 'finite numbers'),
    (dict(seed=-1), 'seed must be a non-negative integer'),
])
def test_effect_checks_its_arguments(kwargs, message):
    "Before: raw errors from numpy (n_boot=0, values=[]) or silent numbers (NaN values, level 1.5)."
    args = dict(values=[0.2, 0.4]) | kwargs
    with pytest.raises(AlloyInputError, match=re_escape(message)):
        effect(DATA, learn_graph(DATA), 'solute', 'yield_strength', **args)


def test_learn_graph_argument_checks():
    "Before: duplicate columns raised an AssertionError, kernel_rows=-5 a raw error, and alpha=np.float32(0.05) was refused."
    with pytest.raises(AlloyInputError, match='listed more than once'): learn_graph(DATA, columns=list(COLUMNS) + ['solute'], tiers=None)
    with pytest.raises(AlloyInputError, match='kernel_rows must be an integer ≥ 30'): learn_graph(DATA, test='rcit', kernel_rows=-5)
    assert learn_graph(DATA.head(300), alpha=np.float32(0.05)).alpha == pytest.approx(0.05)


def test_knob_quantile_names_an_unknown_knob():
    "Before: knob_quantile('foo') raised a KeyError."
    with pytest.raises(AlloyInputError, match="unknown recipe parameter 'foo'"): knob_quantile('foo', 1.)
    with pytest.raises(AlloyInputError, match="unknown recipe parameter 'foo'"): knob_value('foo', 0.5)


def test_optimisation_goals_without_a_brute_force_gain():
    "Before: optimisation_goals divided by zero when brute force was no stronger than current practice."
    g = optimisation_goals(dict(optimised_strength=400., baseline_strength=350., brute_force_strength=350.,
                                simulator_calls=16, brute_force_calls=2016))
    assert math.isnan(g.measured['share_of_brute_force_gain']) and not g.met['share_of_brute_force_gain']


# --- 4. plausibility -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('column, factor, message', [
    ('yield_strength', 1e-3, 'yield_strength = 0.'), ('yield_strength', -1, 'yield_strength = -'),
    ('yield_strength', 1e20 / 400, 'outside the plausible range 5–5000 MPa'),
    ('precipitate_radius', 1e308, 'outside the plausible range'),
])
def test_implausible_targets_are_refused_with_their_row(column, factor, message):
    "Before: strength ÷1000, negative or 1e20 was accepted; 1e308 was called 'NaN or infinite' after RuntimeWarnings."
    y = DATA.head(30).copy()
    y.loc[4, column] *= factor
    with warnings.catch_warnings():
        warnings.simplefilter('error')                       # and no RuntimeWarning on the way
        with pytest.raises(AlloyInputError, match=f'row 4: {column}'): check_targets(y)
    with pytest.raises(AlloyInputError, match=re_escape(message)): check_targets(y)


def test_a_column_in_another_unit_is_warned_about():
    "Before: grain size ×1000 (nm read as µm) was accepted silently."
    y = check_targets(DATA.head(50).assign(grain_size=DATA.grain_size.head(50) * 1000))
    (w,) = scale_warnings(y)
    assert w.startswith('grain_size: median') and 'check the unit' in w
    assert scale_warnings(check_targets(DATA.head(50))) == []


def test_recipe_errors_name_the_row():
    "Before: 'temperature=900 is outside the valid range' without saying which recipe."
    r = DATA.head(10).copy()
    r.loc[6, 'temperature'] = 900.
    with pytest.raises(AlloyInputError, match='row 8: temperature=900 is outside the valid range'): check_recipes(r, 2)


def test_the_scaler_refuses_targets_it_cannot_standardise():
    "Before: values near the float32 limit overflowed into a NaN mean, found only later as NaN losses."
    Y = np.c_[np.full(10, 3e38), np.linspace(1, 2, 10)]
    with pytest.raises(AlloyInputError, match='cannot be standardised in float32'): TargetScaler(2).fit(Y, [False, False])


@pytest.mark.parametrize('damage', ['short', 'nan', 'truncated'])
def test_a_damaged_simulation_cache_is_rebuilt(tmp_path, monkeypatch, damage):
    "Before: 5 rows for 25 recipes or NaN values were returned as they were; a truncated file broke every later run."
    from alloy_nb.processing_data import simulate_set, cache_dir
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    recipes = DATA.iloc[:6, :5]
    good = simulate_set(recipes, grid=32, cache=True, quiet=True)
    (path,) = cache_dir().glob('processing_set_*.npz')
    if damage == 'truncated': path.write_bytes(path.read_bytes()[:100])
    else:
        t, s = good.targets.to_numpy(), good.s2.copy()
        if damage == 'short': t, s = t[:2], s[:2]
        else: t = t.copy(); t[1, 0] = np.nan
        with open(path, 'wb') as f: np.savez(f, targets=t, s2=s)
    with pytest.warns(UserWarning, match='is damaged'): again = simulate_set(recipes, grid=32, cache=True, quiet=True)
    np.testing.assert_array_equal(again.targets.to_numpy(), good.targets.to_numpy())
    np.testing.assert_array_equal(again.s2, good.s2)


def test_processing_state_on_a_small_grid(small_bhn):
    "Before: processing_state(grid=32) was refused with 'bins=32 must lie in 1 … 16', a parameter the user never passed."
    from alloy_nb.widgets import processing_state
    s = processing_state(small_bhn, DATA.iloc[0, :5].to_dict(), grid=32, n_samples=10)
    assert len(s['s2_simulated']) == len(s['s2']) and np.isfinite(s['s2_simulated'][:16]).all()
    assert np.isnan(s['s2_simulated'][16:]).all()                 # beyond half the grid there is no measurement


def test_the_largest_seed_runs_end_to_end(tmp_path, env):
    "Before: `alloy_nb_cim --seed 4294967295` failed after 12 s naming 'seed 4294967598', one the user never gave."
    res = run(['alloy_nb_cim', '--json', 'c.json', '--n', '300', '--seed', str(SEED_LIMIT - 1), '--device', 'cpu'], env,
              tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path/'c.json').is_file()


def test_a_model_that_would_predict_inf_is_never_written(tmp_path, small_bhn):
    "Before: a model whose target scaler overflows (it predicts inf) was saved like any other."
    broken = BHN(small_bhn.config, small_bhn.columns)
    broken.load_state_dict(small_bhn.state_dict())
    with torch.no_grad(): broken.scaler.mean.add_(1e4)
    with pytest.raises(NumericalInstabilityError, match='target scaler overflows'): save_bhn(broken, tmp_path/'m.pt')
    assert not (tmp_path/'m.pt').exists()

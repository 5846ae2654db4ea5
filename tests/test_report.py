"`alloy_nb_report` end to end: files, bad input that leaves nothing behind, and the page in headless Chromium."
import json, subprocess
import numpy as np
from pathlib import Path
import pandas as pd
import pytest
from test_docs import CHROMIUM_ARGS
from alloy_nb.composition import HEA_ELEMENTS

FILES = ['.alloy_nb', 'candidates.csv', 'columns.csv', 'design_summary.png', 'index.html', 'influence_map.png', 'latent_proposals.png',
         'nudging.png', 'nudging_paths.csv', 'optimised_microstructure.png', 'processing_candidates.csv', 'processing_graph.png',
         'processing_graph_scores.csv', 'processing_knobs.csv', 'shap_bar.png', 'shap_beeswarm.png', 'shap_ranking.csv',
         'summary.csv']


def run(args, env): return subprocess.run(['alloy_nb_report', *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    "One quick report, shared by the tests of this module."
    import os
    d = tmp_path_factory.mktemp('r') / 'report'
    env = {**{k: v for k, v in os.environ.items() if k != 'ALLOY_NB_DEVICE'}, 'ALLOY_NB_QUIET': '1',
           'XDG_DATA_HOME': str(tmp_path_factory.mktemp('xdg')), 'XDG_CACHE_HOME': str(tmp_path_factory.mktemp('cache'))}
    res = run(['--out', str(d), '--quick', '--device', 'cpu'], env)
    assert res.returncode == 0, res.stderr[-3000:]
    return d, res, env


def test_files_and_columns(report):
    d, res, _ = report
    assert sorted(p.name for p in d.iterdir()) == FILES
    c = pd.read_csv(d / 'candidates.csv')
    assert set(c.strategy) == {'screening', 'latent', 'nudging'}
    assert {'formula', 'p_single', 'p_checker', 'confirmed', 'novelty', 'nearest_alloy', 'valid', 'known', 'smix', 'delta'} <= set(c.columns)
    assert {'n_elements', 'mixing_enthalpy', 'p_dvae', 'sound'} <= set(c.columns)
    assert c.p_single.between(0, 1).all() and (c.novelty >= 0).all()
    s = pd.read_csv(d / 'summary.csv', index_col=0)
    assert list(s.index) == ['screening', 'latent', 'nudging'] and s.index.name == 'strategy'
    assert {'proposals', 'confirmed', 'null_confirmed', 'null'} <= set(s.columns)
    assert s[['confirmed', 'null_confirmed']].stack().between(0, 1).all()
    assert 'null_confirmed' in res.stdout and 'wrote' in res.stdout
    p = pd.read_csv(d / 'processing_candidates.csv', index_col=0)
    assert {'current practice', 'best observed', 'BHN, LCB, all knobs', 'brute force (shipped)'} <= set(p.index)
    assert p.loc['BHN, LCB, all knobs', 'resimulated'] > p.loc['current practice', 'resimulated']
    assert 'Processing: causal influence map and the strongest recipe' in (d / 'index.html').read_text(encoding='utf-8')


def csv_columns(d):
    "Columns of every CSV file of the report, by file (the index column included)."
    return {f.name: list(pd.read_csv(f, nrows=0).columns) for f in sorted(d.glob('*.csv'))}


def test_every_column_is_in_the_glossary(report):
    "Each column of each CSV has a glossary entry (meaning and unit), and the page's glossary lists it."
    from alloy_nb.report_tables import GLOSSARY
    from alloy_nb.composition import HEA_ELEMENTS
    d = report[0]
    cols = csv_columns(d)
    assert len(cols) == 8
    missing = {f: [c for c in cs if c not in GLOSSARY] for f, cs in cols.items()}
    assert not any(missing.values()), missing
    assert all(m and u for m, u in GLOSSARY.values())
    page = (d / 'index.html').read_text(encoding='utf-8')
    glossary = page[page.index('<h2 id="glossary">'):]
    shown = {c for cs in cols.values() for c in cs if c not in HEA_ELEMENTS}
    assert all(f'<td>{c}</td>' in glossary.replace('&amp;', '&') for c in shown), [c for c in shown if f'<td>{c}</td>' not in glossary]
    assert 'not described' not in glossary and 'element symbols' in glossary


def test_candidates_columns_in_order(report):
    "Identity, composition, descriptors, model outputs, verdicts; only elements that occur, 0 where absent; integer ranks."
    from alloy_nb.composition import HEA_ELEMENTS
    from alloy_nb.descriptors import DESCRIPTOR_UNITS
    from alloy_nb.report_tables import IDENTIFYING, MODEL_OUTPUTS, VERDICTS
    d = report[0]
    c = pd.read_csv(d / 'candidates.csv')
    cols = list(c.columns)
    assert cols[:4] == ['rank', 'formula', 'n_elements', 'strategy']
    order = ['identity', 'element', 'descriptor', 'output', 'verdict']
    kind = ['identity' if k in IDENTIFYING else 'element' if k in HEA_ELEMENTS else 'descriptor' if k in DESCRIPTOR_UNITS
            else 'output' if k in MODEL_OUTPUTS else 'verdict' if k in VERDICTS else 'other' for k in cols]
    assert 'other' not in kind and kind == sorted(kind, key=order.index), kind
    assert cols[kind.index('descriptor')] == 'mixing_enthalpy'   # the enthalpy a reader checks first
    els = [k for k in cols if k in HEA_ELEMENTS]
    assert els == [e for e in HEA_ELEMENTS if e in els] and len(els) > 5
    assert c[els].notna().all().all() and (c[els].sum() > 0).all()   # 0 where absent; no column that is 0 everywhere
    ranks = (d / 'candidates.csv').read_text().splitlines()[1:26]
    assert [r.split(',')[0] for r in ranks] == [str(i) for i in range(1, 26)]     # written as integers, not 1.0
    assert c['rank'].notna().sum() == (c.strategy == 'screening').sum()
    assert pd.read_csv(d / 'shap_ranking.csv', nrows=0).columns[0] == 'feature'


def test_csv_files_read_alone(report):
    "columns.csv defines every column of every CSV; floats keep four significant digits; counts are integers."
    d = report[0]
    glossary = pd.read_csv(d / 'columns.csv', keep_default_na=False)   # a column is called 'null'
    assert list(glossary.columns) == ['column', 'meaning', 'unit', 'files']
    assert glossary.meaning.notna().all() and glossary.unit.notna().all() and 'not described' not in set(glossary.meaning)
    named = set(glossary.column)
    for f, cols in csv_columns(d).items():
        assert all(c in named for c in cols if c not in HEA_ELEMENTS), (f, [c for c in cols if c not in named])
    for f in d.glob('*.csv'):
        text = f.read_text(encoding='utf-8')
        floats = [v for v in text.replace('\n', ',').split(',') if '.' in v and v.replace('.', '', 1).lstrip('-').isdigit()]
        long = [v for v in floats if len(v.lstrip('-').replace('.', '').strip('0')) > 4]
        assert not long, (f.name, long[:5])   # no float noise such as 0.30000000000000004
    p = (d / 'processing_candidates.csv').read_text().splitlines()
    assert all(line.rsplit(',', 1)[1].isdigit() for line in p[1:])   # n_seeds: 4, not 4.0
    assert pd.read_csv(d / 'processing_candidates.csv')[['predicted', 'epistemic']].notna().all().all()


def test_summary_counts_match_the_files(report):
    "The summary's counts per strategy are the row counts of candidates.csv, and its nudging count that of nudging_paths.csv."
    d = report[0]
    c = pd.read_csv(d / 'candidates.csv')
    s = pd.read_csv(d / 'summary.csv', index_col='strategy')
    assert s.candidates.to_dict() == c.strategy.value_counts().to_dict()
    assert s.proposals.to_dict() == c[c.in_summary].strategy.value_counts().reindex(s.index, fill_value=0).to_dict()
    lat = c[c.strategy == 'latent']
    assert (lat.in_summary == ((lat.target == 'single-phase') & ~lat.duplicate & lat.sound)).all()
    nud = c[c.strategy == 'nudging']
    assert s.loc['nudging', 'proposals'] == (nud.reached & ~nud.duplicate & nud.sound & (nud.moved >= 0.01)).sum()
    assert s.loc['screening', 'proposals'] == 25
    # sound chemistry: every proposal has 4–7 elements, each 5–35 at.%, none from the element policy
    props = c[c.in_summary]
    F = props[[e for e in HEA_ELEMENTS if e in c.columns]].fillna(0).to_numpy()
    assert props.n_elements.between(4, 7).all() and ((F == 0) | ((F >= 0.05 - 1e-6) & (F <= 0.35 + 1e-6))).all()
    from alloy_nb.design import excluded_elements
    banned = [e for e in excluded_elements() if e in c.columns]
    assert (props[banned].fillna(0) == 0).all().all()
    els = [e for e in HEA_ELEMENTS if e in c.columns]
    for _, g in c[c.in_summary].groupby('strategy'):                  # proposals are distinct: none within 5% of atoms of another
        A = g[els].fillna(0).to_numpy(); D = 0.5 * np.abs(A[:, None] - A[None]).sum(-1)
        assert (D[np.triu_indices(len(A), 1)] > 0.05).all()
    P = pd.read_csv(d / 'nudging_paths.csv')
    assert P[P.step > 0].alloy.nunique() == s.loc['nudging', 'candidates']


def test_page_states_the_counts_of_the_files(report):
    "The page's counts are those of the CSV files: the screening table holds every screening candidate, nudging says k of n."
    import re
    d = report[0]
    c = pd.read_csv(d / 'candidates.csv')
    page = (d / 'index.html').read_text(encoding='utf-8')
    nud, scr = c[c.strategy == 'nudging'], c[c.strategy == 'screening']
    assert f"the {len(scr)} best by the proposer" in page
    assert f"{nud.reached.sum()} of {len(nud)}" in page and f"{len(nud)} were at or below P(single) = 0.6" in page
    lat = c[(c.strategy == 'latent') & (c.target == 'single-phase')]
    assert f"{(lat.p_target > 0.5).sum()} of {len(lat)}" in page
    shares = [(int(k.replace(',', '')), int(n.replace(',', '')), float(p)) for k, n, p in re.findall(r'([\d,]+) of ([\d,]+) \(([\d.]+)%\)', page)]
    assert len(shares) >= 5 and all((p == 100) == (k == n) and (p == 0) == (k == 0) for k, n, p in shares), shares   # never rounded to 0% or 100%
    assert all(h.count('<tr') == 1 for h in re.findall(r'<thead>.*?</thead>', page, re.S))                # no index-name header rows
    assert 'arXiv:2409.06740' in page and 'Effect of a high value</em> is' in page and 'departs from the paper' in page
    retro = page[page.index('Retrospective screening on real labels'):]; retro = retro[:retro.index('</table>')]
    from alloy_nb.design import held_out_alloys
    rows = re.findall(r'<tr>\s*<td>([^<]+)</td>((?:\s*<td>[^<]*</td>)+)', retro)
    assert {'DVAE', 'proposer (phase forest)', 'judge'} <= {r[0] for r in rows} and '<th>precision@100</th>' in retro
    assert all(f"<td>{held_out_alloys(0)[1].mean():.3g}</td>" in r[1] for r in rows)      # every row's base rate is the fold's single-phase share


def test_writes_only_inside_the_report_folder(report):
    "The processing section simulates without the package's cache and writes nothing beside the report (no temporary folder either)."
    d, _, env = report
    assert [p.name for p in d.parent.iterdir()] == ['report']
    assert not (Path(env['XDG_CACHE_HOME']) / 'alloy_nb').exists()
    assert set(json.loads((d / '.alloy_nb').read_text())['files']) == set(FILES) - {'.alloy_nb'}


def test_refuses_non_empty_folder_and_keeps_it(report):
    d, _, env = report
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    res = run(['--out', str(d), '--quick'], env)
    assert res.returncode != 0 and 'is not empty; pass --force' in res.stderr and 'Traceback' not in res.stderr
    assert {p.name: p.stat().st_mtime_ns for p in d.iterdir()} == before


@pytest.mark.parametrize('args, message', [
    (['--elements', 'Co,Ni,Xx'], "'Xx'"),
    (['--elements', 'Co'], 'at least two elements'),
    (['--device', 'gpu'], "'cpu', 'cuda' or 'cuda:N'"),
])
def test_bad_input_writes_nothing(report, tmp_path, args, message):
    _, _, env = report
    out = tmp_path / 'new'
    res = run(['--out', str(out), '--quick', *args], env)
    assert res.returncode != 0 and message in res.stderr and 'Traceback' not in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []      # no half-written folder, no temp folder


def test_missing_out_is_an_error(report):
    res = run(['--quick'], report[2])
    assert res.returncode == 2 and 'alloy_nb_report: error: the following arguments are required: --out' in res.stderr   # argparse's message, before any work


def test_page_in_chromium(report, chromium, tmp_path):
    "The page opens from disk (offline), shows every figure and the summary table."
    from playwright.sync_api import sync_playwright
    d, _, _ = report
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path / 'profile'), executable_path=chromium, headless=True,
                                                   args=CHROMIUM_ARGS, viewport={'width': 1200, 'height': 900})
        pg = ctx.new_page()
        failed = []
        pg.on('requestfailed', lambda r: failed.append(r.url))
        pg.goto((d / 'index.html').as_uri()); pg.wait_for_load_state('load')
        widths = pg.eval_on_selector_all('img', 'els => els.map(e => e.naturalWidth)')
        headers = pg.eval_on_selector_all('table:first-of-type th', 'els => els.map(e => e.textContent)')
        title = pg.title()
        ctx.close()
    assert title == 'alloy_nb inverse-design report' and not failed
    assert len(widths) == 8 and min(widths) > 100
    assert 'confirmed' in headers and 'null_confirmed' in headers

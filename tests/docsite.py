"""Build the documentation site into `_docs/` and regenerate README.md from `nbs/index.ipynb`.

    python tests/docsite.py            # regenerate README.md, then build the site
    python tests/docsite.py --readme   # only regenerate README.md
    python tests/docsite.py --site     # only build the site (Quarto's `nbdev_docs` when on PATH, else smalldocs)

Without Quarto the site is built in two steps that read the same top-level `_quarto.yml` (through the
`nbs/_quarto.yml` symlink): nbdev's notebook processing (what `nbdev_proc_nbs` does, minus its attempt to
download and install Quarto), then `smalldocs render` on the processed notebooks. Pages are renamed to
the `output-file` nbdev gives them (`00_core.ipynb` -> `core.html`), so both paths publish the same URLs. The processed
copies then lose what only Quarto reads (`output-file`, `keep-md`, the `commonmark` format), and each cell that only
tests is folded behind a "Tests" summary (`fold_tests`), so the reading flow is the prose and its worked examples.

Either way the built pages are then finished so that the site reads offline and stands on its own
(`finish_site`): maths is pre-rendered to MathML (no KaTeX from a CDN), links to the hosted docs
(`doc_host`/`doc_baseurl` in settings.ini) become relative links between pages, "source" links to the
repository host are dropped (the exported code is shown on the page itself), and the theme's web font
is not fetched (the system's sans-serif is used).
"""
import ast, base64, configparser, html, json, os, re, shutil, subprocess, sys, warnings
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def process_notebooks(root=ROOT):
    "Run nbdev's docs preprocessing (as `nbdev_proc_nbs`, without installing Quarto); return `_proc/`."
    os.chdir(root)
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__()
    with _mixed_cells_reported(): return proc_nbs(get_config().nbs_path, n_workers=0, force=True)


@contextmanager
def _mixed_cells_reported():
    """Report each cell that nbdev runs because it mixes imports with other code as one `warning:` line naming its
    notebook and cell. nbdev's own `UserWarning` names neither, and the notebooks run in this process: one that changes
    the warning filters (a library its setup cell imports) would hide the warnings about every notebook after it."""
    import nbdev.processors as procs
    do_eval, call, where = procs._do_eval, procs.exec_show_docs.__call__, {}
    def located(self, cell):
        if where.get('path') != self.nb.path_:   # cell ids: nbdev renumbers cells as it adds some
            ids = [c.get('id') for c in json.loads(Path(self.nb.path_).read_text(encoding='utf-8'))['cells']]
            where.update(path=self.nb.path_, ids=ids)
        return call(self, cell)
    def reported(cell):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            res = do_eval(cell)
        code = next((l for l in cell.source.splitlines() if l.strip() and not l.startswith('#|')), '')
        n = where['ids'].index(cell.get('id')) if cell.get('id') in where.get('ids', ()) else '?'
        for w in caught:
            print(f"warning: {Path(where.get('path', '?')).name} cell {n}: {str(w.message).splitlines()[0]} ({code})",
                  file=sys.stderr)
        return res
    procs._do_eval, procs.exec_show_docs.__call__ = reported, located
    try: yield
    finally: procs._do_eval, procs.exec_show_docs.__call__ = do_eval, call


def _output_file(nb:Path):
    "The `output-file` nbdev wrote into the notebook's front matter, if any."
    for cell in json.loads(nb.read_text(encoding='utf-8'))['cells']:
        m = re.search(r'^output-file:\s*(\S+)\.html\s*$', ''.join(cell['source']), re.M)
        if m: return m.group(1)


def _relink(nb:Path, names:dict):
    """Point markdown links to renamed notebooks (`](07_design.ipynb)`) at their new names, as Quarto resolves them, and
    drop the `output-file` of the front matter: the page's name says it now, and smalldocs does not read the key."""
    d = json.loads(nb.read_text(encoding='utf-8'))
    pat = re.compile(r'\]\((' + '|'.join(map(re.escape, names)) + r')(#[^)]*)?\)') if names else None
    if d['cells'] and d['cells'][0]['cell_type'] == 'raw':
        d['cells'][0]['source'] = re.sub(r'^output-file:.*\n?', '', ''.join(d['cells'][0]['source']), flags=re.M)
    for cell in d['cells']:
        if pat and cell['cell_type'] == 'markdown':
            src = ''.join(cell['source'])
            cell['source'] = pat.sub(lambda m: '](' + names[m.group(1)] + (m.group(2) or '') + ')', src)
    nb.write_text(json.dumps(d, indent=1), encoding='utf-8')


def rename_pages(proc:Path):
    "Rename processed notebooks to the page names Quarto would publish, and point the sidebar at them."
    names = {nb.name: f'{stem}.ipynb' for nb in proc.glob('*.ipynb') if (stem := _output_file(nb)) and f'{stem}.ipynb' != nb.name}
    for old, new in names.items(): (proc/old).rename(proc/new)
    for nb in proc.glob('*.ipynb'): _relink(nb, names)
    sb = proc/'sidebar.yml'
    cfg = yaml.safe_load(sb.read_text())
    contents = cfg['website']['sidebar']['contents']
    cfg['website']['sidebar']['contents'] = [names.get(o, o) if isinstance(o, str) else o for o in contents]
    sb.write_text(yaml.safe_dump(cfg, sort_keys=False))


QUARTO_ONLY = {'format': ['commonmark'], 'format.html': ['keep-md', 'html-math-method']}   # finish_site makes MathML


def smalldocs_config(proc:Path):
    "Drop from the processed `_quarto.yml` what only Quarto reads (smalldocs makes only HTML and warns of each)."
    cfg_file = proc/'_quarto.yml'
    cfg = yaml.safe_load(cfg_file.read_text(encoding='utf-8'))
    for where, keys in QUARTO_ONLY.items():
        d = cfg
        for k in where.split('.'): d = d.get(k) or {}
        for k in keys: d.pop(k, None)
    cfg_file.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding='utf-8')


def _is_check(s) -> bool:
    "Whether a statement is an `assert`, a call of a `test...` function, or a `for`, `with` or `if` holding only those."
    if isinstance(s, ast.Assert): return True
    if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
        f = s.value.func
        return (f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else '').startswith('test')
    return isinstance(s, (ast.For, ast.With, ast.If)) and all(map(_is_check, s.body + getattr(s, 'orelse', [])))


def only_tests(src:str, read_later=frozenset()) -> int:
    """How many checks a code cell makes if it only tests, else 0. Every statement must be a check (`_is_check`:
    `assert`, `test_eq(...)`, `test_fail(...)`, `test(...)`, a loop of them), bar plain assignments whose names the cell
    reads and no later cell does (`read_later`); anything else (a definition, a print, a plot, a shown value) keeps it
    open."""
    try: body = ast.parse(src).body
    except SyntaxError: return 0
    checks = [s for s in body if _is_check(s)]
    sets = [s for s in body if isinstance(s, ast.Assign)
            and all(isinstance(n, ast.Name) for t in s.targets for n in (t.elts if isinstance(t, ast.Tuple) else [t]))]
    names = {n.id for s in sets for t in s.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    read = {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if not checks or len(checks) + len(sets) < len(body) or not names <= read or names & set(read_later): return 0
    return sum(isinstance(n, (ast.Assert, ast.Expr)) and _is_check(n) for s in checks for n in ast.walk(s))


def fold_tests(proc:Path) -> int:
    """Fold the code of each processed cell that only tests (`only_tests`, and no output) behind a "Test" or "Tests"
    summary, with Quarto's `code-fold` and `code-summary` (which smalldocs reads too); return how many were folded."""
    folded = 0
    for nb in sorted(proc.glob('*.ipynb')):
        d, later = json.loads(nb.read_text(encoding='utf-8')), set()
        for cell in reversed(d['cells']):
            if cell['cell_type'] != 'code': continue
            src = ''.join(cell['source'])
            opts = _cell_options(src)
            n = 0 if cell.get('outputs') or 'code-fold' in opts or opts.get('echo') is False else only_tests(src, later)
            if n:
                cell['source'] = f"#| code-fold: true\n#| code-summary: {'Tests' if n > 1 else 'Test'}\n{src}"
                folded += 1
            later |= set(re.findall(r'[A-Za-z_]\w*', src))
        nb.write_text(json.dumps(d, indent=1), encoding='utf-8')
    return folded


def site_urls(root=ROOT) -> tuple:
    "The hosted docs' base URL and the repository URL that nbdev writes into pages (from settings.ini)."
    cfg = configparser.ConfigParser(); cfg.read(Path(root)/'settings.ini')
    d = cfg['DEFAULT']
    return d['doc_host'].rstrip('/') + '/' + d['doc_baseurl'].strip('/') + '/', d['git_url'].rstrip('/') + '/'


MATH = re.compile(r'<span class="math (inline|display)">\\[(\[](.*?)\\[)\]]</span>', re.S)   # what smalldocs leaves for KaTeX
KATEX = re.compile(r'<link[^>]*katex[^>]*>|<script[^>]*katex[^>]*></script>')
REMOTE_IMPORT = re.compile(r'@import url\(https?://[^)]*\);?')
CODE_LINK = re.compile(r'\[`([^`<>\n]+)`\]\(([^)\s]+)\)')   # nbdev's markdown link to a name, left literal inside code
DATAFRAME = re.compile(r'<table[^>]*class="dataframe"[^>]*>.*?</table>', re.S)
BREAK = re.compile(r'(?<=_)(?=\w)|(?<=[\d.])(?=[A-Z][a-z]?\d)')   # after an underscore; between the elements of a formula


def breakable(table:str) -> str:
    "A data frame's cells with line-break opportunities in long names (`precipitate_<wbr>fraction`) and formulas (`Al20<wbr>Co20...`); numbers never break."
    return re.sub(r'>([^<]+)<', lambda m: '>' + BREAK.sub('<wbr>', m.group(1)) + '<', table.group(0))


def mathml(m) -> str:
    "One maths span with its TeX turned into MathML, which browsers render with no script and no network."
    from latex2mathml.converter import convert
    kind = m.group(1)
    return f'<span class="math {kind}">{convert(html.unescape(m.group(2)), display="block" if kind == "display" else "inline")}</span>'


def finish_page(text:str, docs_url:str, git_url:str) -> str:
    "A built page, self-contained: maths as MathML, links within the docs relative, no links to the repository host."
    text = DATAFRAME.sub(breakable, MATH.sub(mathml, KATEX.sub('', text)))
    text = CODE_LINK.sub(lambda m: f'<a href="{m.group(2)}"><code>{m.group(1)}</code></a>', text)
    text = re.sub(rf'<p><a href="{re.escape(git_url)}[^"]*"[^>]*>source</a></p>\n?', '', text)
    return re.sub(rf'href="{re.escape(docs_url.rstrip("/"))}/?([^"]*)"', lambda m: f'href="{m.group(1) or "index.html"}"', text)


def _ids(text:str) -> set: return set(map(html.unescape, re.findall(r'\bid="([^"]*)"', text)))


def fix_anchors(pages:dict) -> dict:
    """Point cross-references at anchors that exist: `{page name: html}` in, the same out.

    nbdev links every documented name, but only names with their own `show_doc` get a heading: a link to a method
    without one (`design.html#designcontext.default`) goes to its class's heading, and a link to a name with no
    heading at all (a private helper) is left as plain code."""
    ids = {name: _ids(text) for name, text in pages.items()}
    def fix(m):
        target, frag = m.group(2), m.group(3)
        if target not in ids or frag in ids[target]: return m.group(0)
        while '.' in frag:
            frag = frag.rsplit('.', 1)[0]
            if frag in ids[target]: return f'<a href="{target}#{frag}"{m.group(4)}>'
        return f'<a data-unlinked="{target}#{m.group(3)}"{m.group(4)}>'   # no href: shown as its text
    link = re.compile(r'<a href="(([\w.-]+\.html)#([^"]+))"([^>]*)>')
    return {name: link.sub(fix, text) for name, text in pages.items()}


def finish_site(out:Path, root=ROOT) -> Path:
    "Finish every page of the built site in place (see `finish_page` and `fix_anchors`)."
    docs_url, git_url = site_urls(root)
    files = {p.relative_to(out).as_posix(): p for p in Path(out).glob('*.html')}
    pages = fix_anchors({name: finish_page(p.read_text(encoding='utf-8'), docs_url, git_url) for name, p in files.items()})
    for name, text in pages.items(): files[name].write_text(text, encoding='utf-8')
    index = Path(out)/'search.json'   # search snippets show names, not nbdev's markdown links
    if index.is_file(): index.write_text(CODE_LINK.sub(r'\1', index.read_text(encoding='utf-8')), encoding='utf-8')
    for css in Path(out).glob('site_libs/**/*.css'):   # the theme's web font: the system's sans-serif instead, with no request
        text = css.read_text(encoding='utf-8')
        if REMOTE_IMPORT.search(text): css.write_text(REMOTE_IMPORT.sub('', text), encoding='utf-8')
    return out


def build_site(root=ROOT) -> Path:
    "Build the docs site into `root/_docs` and return that folder."
    root = Path(root)
    if shutil.which('quarto'):
        subprocess.run(['nbdev_docs'], cwd=root, check=True)
        return finish_site(root/'_docs', root)
    proc = process_notebooks(root)
    rename_pages(proc)
    smalldocs_config(proc)
    fold_tests(proc)
    smalldocs = shutil.which('smalldocs') or str(Path(sys.executable).parent/'smalldocs')
    subprocess.run([smalldocs, 'render', '--quiet', str(proc)], check=True)
    out = root/'_docs'
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(str(proc/'_docs'), str(out))
    return finish_site(out, root)


def _fence(text, lang=''):
    return f"```{lang}\n{text.rstrip()}\n```"


README_IMAGES = 'nbs/images'   # figures of the home page, as files the README can link to


def readme_images(root=ROOT) -> dict:
    "The PNG outputs of `nbs/index.ipynb` as {relative path: bytes}, in order (`index_figure_N.png`)."
    nb = json.loads((Path(root)/'nbs'/'index.ipynb').read_text(encoding='utf-8'))
    pngs = [o['data']['image/png'] for c in nb['cells'] for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
    return {f'{README_IMAGES}/index_figure_{i + 1}.png': base64.b64decode(''.join(p)) for i, p in enumerate(pngs)}


def _cell_options(src:str) -> dict:
    "A code cell's Quarto options (`#| key: value` lines) as a dict."
    opts = yaml.safe_load('\n'.join(l[2:] for l in src.splitlines() if l.startswith('#|')) or '{}')
    return opts if isinstance(opts, dict) else {}


def readme_from_index(root=ROOT) -> str:
    "README.md text made from `nbs/index.ipynb`: title block, markdown cells, visible code and outputs (figures as image links)."
    nb = json.loads((Path(root)/'nbs'/'index.ipynb').read_text(encoding='utf-8'))
    parts, n_fig = [], 0
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':
            parts.append(re.sub(r'\]\((\d+[a-z]?_\w+\.ipynb)', r'](nbs/\1', src))   # chapters live under nbs/
            continue
        if re.match(r'#\|\s*hide', src): continue
        show_src = not re.search(r'^#\|\s*echo:\s*false', src, re.M)
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|'))
        if show_src and code.strip(): parts.append(_fence(code, 'python'))
        for o in cell.get('outputs', []):
            if 'image/png' in o.get('data', {}):
                n_fig += 1; alt = _cell_options(src).get('fig-alt') or f'figure {n_fig} of the home page'
                parts.append(f'![{alt}]({README_IMAGES}/index_figure_{n_fig}.png)'); continue
            text = ''.join(o.get('text', '') or o.get('data', {}).get('text/plain', ''))
            if text.strip(): parts.append(_fence(text))
    body = '\n\n'.join(parts)
    return f"<!-- Generated from nbs/index.ipynb by `python tests/docsite.py --readme`: edit the notebook, not this file. -->\n\n{body}\n"


def write_readme(root=ROOT):
    for f in (Path(root)/README_IMAGES).glob('index_figure_*.png'): f.unlink()
    for rel, data in readme_images(root).items():
        (Path(root)/rel).parent.mkdir(parents=True, exist_ok=True); (Path(root)/rel).write_bytes(data)
    (Path(root)/'README.md').write_text(readme_from_index(root), encoding='utf-8')


if __name__ == '__main__':
    if '--site' not in sys.argv: write_readme()
    if '--readme' not in sys.argv: print(build_site())

"Build the docs site, serve it on 127.0.0.1 and check it in headless Chromium (Playwright driving Debian's Chromium)."
import functools, inspect, json, re, subprocess, sys, threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlparse
from urllib.request import urlopen
from urllib.error import HTTPError

import pytest
from conftest import ROOT

CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']
NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))


def page_name(nb:Path) -> str:
    "The page nbdev publishes a notebook as: its name without the number prefix (`00_core` -> `core.html`)."
    return re.sub(r'^\d+[a-z]?_', '', nb.stem) + '.html'


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='module')
def site():
    res = subprocess.run([sys.executable, str(ROOT/'tests'/'docsite.py'), '--site'], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-5000:]
    docs = ROOT/'_docs'
    server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(docs)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield docs, f'http://127.0.0.1:{server.server_port}/'
    server.shutdown()


@pytest.fixture(scope='module')
def browser(chromium, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp('chrome-profile')), executable_path=chromium,
                                                   headless=True, args=CHROMIUM_ARGS, viewport={'width': 1280, 'height': 1000})
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page()
    yield pg
    pg.close()


def test_one_page_per_notebook(site):
    docs, _ = site
    for nb in NOTEBOOKS: assert (docs/page_name(nb)).is_file(), f'no page for {nb.name}'


def test_home_page(site, page, tmp_path):
    _, url = site
    assert page.goto(url).status == 200
    assert page.title().startswith('alloy_nb')
    assert 'Quick start' in page.locator('main').inner_text()
    page.screenshot(path=str(ROOT/'_docs'/'home.png'), full_page=False)


def test_every_notebook_reachable_from_sidebar(site, page):
    _, url = site
    page.goto(url)
    hrefs = {urljoin(page.url, a.get_attribute('href')) for a in page.locator('#quarto-sidebar a[href], nav.sidebar a[href], .sidebar a[href]').all()}
    for nb in NOTEBOOKS:
        target = urljoin(url, page_name(nb))
        assert target in hrefs, f'{page_name(nb)} is not linked from the sidebar'
        assert page.goto(target).status == 200
        assert page.locator('h1').first.inner_text().strip()


def test_signature_and_docstring_rendered(site, page):
    from alloy_nb.core import get_device
    _, url = site
    page.goto(urljoin(url, 'core.html'))
    text = page.locator('main').inner_text()
    assert 'def get_device(' in text
    assert inspect.getdoc(get_device).replace('`', '') in text  # markdown code spans render without backticks
    assert 'explicit choice' in text  # a docment of the signature's parameter


def _content_images(page):
    return page.eval_on_selector_all('main img', 'els => els.map(e => [e.getAttribute("src"), e.naturalWidth])')


def test_committed_figures_displayed(site, page):
    _, url = site
    seen = []
    for nb in NOTEBOOKS:
        page.goto(urljoin(url, page_name(nb)))
        page.wait_for_load_state('load')
        seen += [(page_name(nb), src, w) for src, w in _content_images(page)]
    assert seen, 'no figure on any page'
    broken = [o for o in seen if not o[2]]
    assert not broken, f'images that did not load: {broken}'


def test_no_broken_internal_links(site, page):
    _, url = site
    origin = urlparse(url).netloc
    links, pages = set(), [urljoin(url, page_name(nb)) for nb in NOTEBOOKS]
    for p in pages:
        page.goto(p)
        for href in page.eval_on_selector_all('a[href]', 'els => els.map(e => e.href)'):
            if urlparse(href).netloc == origin: links.add(href)
    assert links
    bad = []
    for link in sorted(links):
        target, _, frag = link.partition('#')
        try: html = urlopen(target, timeout=10).read().decode('utf-8', 'replace')
        except HTTPError as e:
            bad.append(f'{link} ({e.code})'); continue
        if frag and target.endswith('.html') and not re.search(rf'id=["\']{re.escape(frag)}["\']', html): bad.append(f'{link} (no #{frag})')
    assert not bad, f'broken internal links: {bad}'

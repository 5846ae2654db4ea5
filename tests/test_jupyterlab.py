"""Open the explorers chapter in JupyterLab in headless Chromium, run every cell, and use each explorer by mouse.

JupyterLab serves a temporary copy of `nbs/08_widgets.ipynb` on a free local port (nothing in the repository is
written: autosave is off and the chapter's `nbdev_export` cell is left out of the copy). Its kernel runs in test
mode (`IN_TEST=1`: temporary caches). The page is 1280 × 1000, the width the layout must fit."""
import json, os, shutil, socket, subprocess, time, urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']
EXPLORERS = {'latent': 2, 'screening': 2, 'processing': 5}   # explorer → sliders it shows
USER_SETTINGS = {   # JupyterLab user settings: every cell in the DOM, nothing saved, no news from the internet
    '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
    '@jupyterlab/docmanager-extension/plugin.jupyterlab-settings': {'autosave': False},
    '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false',
                                                                          'checkForUpdates': False},
}


def free_port() -> int:
    "A TCP port nothing listens on now."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def notebook_copy(folder:Path) -> Path:
    "The chapter without its `nbdev_export` cell (which would write the package), in `folder`."
    nb = json.loads((ROOT/'nbs'/'08_widgets.ipynb').read_text(encoding='utf-8'))
    nb['cells'] = [c for c in nb['cells'] if 'nbdev_export()' not in ''.join(c['source'])]
    path = folder/'08_widgets.ipynb'
    path.write_text(json.dumps(nb), encoding='utf-8')
    return path


def wait_for_server(url:str, proc, log:Path, timeout:float=120):
    "Return once `url` answers; fail with the end of the server's log if it exits or stays silent."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: pytest.fail(f'JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}')
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200: return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f'JupyterLab did not answer at {url} within {timeout} s')


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A JupyterLab server over a copy of the chapter; yields its base URL (`--allow-root`: CI runs as root)."
    if shutil.which('jupyter-lab') is None: pytest.skip('JupyterLab is not installed (it is a dev requirement)')
    tmp = tmp_path_factory.mktemp('lab')
    (tmp/'nbs').mkdir()
    notebook_copy(tmp/'nbs')
    for rel, value in USER_SETTINGS.items():
        (tmp/'settings'/rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp/'settings'/rel).write_text(json.dumps(value))
    env = {**os.environ, 'IN_TEST': '1', 'ALLOY_NB_QUIET': '1', 'JUPYTERLAB_SETTINGS_DIR': str(tmp/'settings'),
           'JUPYTERLAB_WORKSPACES_DIR': str(tmp/'workspaces'), 'JUPYTER_RUNTIME_DIR': str(tmp/'runtime'),
           'XDG_DATA_HOME': str(tmp/'xdg-data'), 'XDG_CACHE_HOME': str(tmp/'xdg-cache')}
    env.pop('ALLOY_NB_DEVICE', None)
    port = free_port()
    log = open(tmp/'lab.log', 'w')
    proc = subprocess.Popen([shutil.which('jupyter-lab'), '--no-browser', f'--port={port}', '--ServerApp.ip=127.0.0.1',
                             '--IdentityProvider.token=', '--ServerApp.password=', f'--ServerApp.root_dir={tmp/"nbs"}',
                             '--LabApp.expose_app_in_browser=True', '--allow-root'],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}/'
    try:
        wait_for_server(url + 'api/status', proc, tmp/'lab.log')
        yield url
    finally:
        proc.terminate()
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()


RUN_ALL = """async () => {
    const nb = window.jupyterapp.shell.currentWidget;
    await nb.context.sessionContext.ready;
    await window.jupyterapp.commands.execute('notebook:run-all-cells');
}"""
STATUS = """() => {
    const nb = window.jupyterapp.shell.currentWidget;
    const cells = nb.content.widgets.filter(c => c.model.type === 'code');
    const kernel = nb.context.sessionContext.session?.kernel;
    return {busy: kernel ? kernel.status !== 'idle' : true,
            pending: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
            unrun: cells.filter(c => c.model.executionCount === null).length,
            errors: cells.flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                              .map(o => o.ename + ': ' + o.evalue))};
}"""


@pytest.fixture(scope='module')
def chapter(lab, chromium, tmp_path_factory):
    "The chapter open in Chromium after Run All Cells; yields (page, console errors)."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp('chrome')), executable_path=chromium,
                                                       headless=True, args=CHROMIUM_ARGS,
                                                       viewport={'width': 1280, 'height': 1000})
        page = browser.new_page()
        errors = []
        page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(lab + 'lab/tree/08_widgets.ipynb')
        page.wait_for_function('() => window.jupyterapp && window.jupyterapp.shell.currentWidget && '
                               'window.jupyterapp.shell.currentWidget.content', timeout=120_000)
        page.evaluate(RUN_ALL)
        page.wait_for_function(f'() => {{ const s = ({STATUS})(); return !s.busy && !s.pending && '
                               f'(s.unrun === 0 || s.errors.length > 0); }}', timeout=600_000, polling=1000)
        time.sleep(1)   # let the last widget views attach
        yield page, errors
        browser.close()


def test_notebook_opens_with_the_kernel_and_runs_clean(chapter):
    page, _ = chapter
    status = page.evaluate(f'({STATUS})')
    assert status['errors'] == [] and status['unrun'] == 0, status
    assert page.evaluate('() => window.jupyterapp.shell.currentWidget.context.sessionContext.kernelDisplayName') \
        .lower().startswith('python'), 'the notebook names a kernel that exists, so no "Select Kernel" dialog'
    assert page.locator('.jp-Dialog').count() == 0, 'no dialog asks for a kernel'


@pytest.mark.parametrize('name', EXPLORERS)
def test_explorer_renders(chapter, name):
    page, errors = chapter
    box = page.locator(f'.alloy-nb-{name}-explorer')
    assert box.count() == 1, f'the {name} explorer is displayed once'
    assert box.locator('.widget-slider, .widget-hslider').count() >= EXPLORERS[name]
    assert 'Error displaying widget' not in page.locator('.jp-Notebook').inner_text()
    assert errors == [], errors


@pytest.mark.parametrize('name', EXPLORERS)
def test_labels_and_values_fit_at_1280px(chapter, name):
    page, _ = chapter
    box = page.locator(f'.alloy-nb-{name}-explorer')
    box.scroll_into_view_if_needed()
    cut = box.evaluate("""b => [...b.querySelectorAll('.widget-label, .widget-readout')]
        .filter(e => e.offsetWidth > 0 && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
    assert cut == [], f'labels or values cut short: {cut}'
    clipped = box.evaluate("""b => [...b.querySelectorAll('.widget-html-content')]
        .filter(e => e.scrollWidth > e.clientWidth + 1
                     || e.getBoundingClientRect().right > b.getBoundingClientRect().right + 1)
        .map(e => e.textContent.slice(0, 40))""")
    assert clipped == [], f'read-outs run past their box: {clipped}'
    tracks = box.evaluate("b => [...b.querySelectorAll('.noUi-target')].map(e => e.getBoundingClientRect().width)")
    assert tracks and min(tracks) >= 150, f'slider tracks of {tracks} px are too short to set by mouse'
    covered = box.evaluate("""b => {
        const over = (a, c) => a.left < c.right && c.left < a.right && a.top < c.bottom && c.top < a.bottom;
        const panels = [...b.querySelectorAll('.widget-html')].map(e => e.getBoundingClientRect());
        return [...b.querySelectorAll('.widget-readout')]
            .filter(r => panels.some(p => over(r.getBoundingClientRect(), p))).map(r => r.textContent); }""")
    assert covered == [], f'read-out panels cover slider values {covered}'


def click_track(page, track, at:float):
    "Click a slider's track at fraction `at` of its length (the handle jumps there: the sliders tap)."
    track.scroll_into_view_if_needed()
    r = track.bounding_box()
    page.mouse.click(r['x'] + at * r['width'], r['y'] + r['height'] / 2)


def wait_for_change(page, locator, before:str, timeout:float=60):
    "The text of `locator` once it differs from `before` (fail after `timeout` s)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        now = locator.inner_text()
        if now != before: return now
        page.wait_for_timeout(250)
    pytest.fail(f'nothing changed within {timeout} s')


def test_latent_slider_moves_the_alloy(chapter):
    page, _ = chapter
    box = page.locator('.alloy-nb-latent-explorer')
    info = box.locator('.widget-html').first
    before = info.inner_text()
    click_track(page, box.locator('.noUi-target').first, 0.15)
    after = wait_for_change(page, info, before)
    assert after.split('\n')[0] != before.split('\n')[0], 'the decoded formula follows the slider'


def test_screening_waits_for_its_button_and_says_so(chapter):
    page, _ = chapter
    box = page.locator('.alloy-nb-screening-explorer')
    table = box.locator('.widget-html').last
    before = table.inner_text()
    click_track(page, box.locator('.noUi-target').last, 0.03)    # fractions: the lower bound down to a few per cent
    page.wait_for_timeout(1000)
    assert 'press screen to rank' in box.inner_text().lower().replace('\n', ' ')
    assert table.inner_text() == before, 'nothing is screened before the button is pressed'
    box.get_by_role('button', name='screen').click()
    after = wait_for_change(page, table, before)
    assert 'compositions scored' in after


def test_processing_slider_moves_the_prediction(chapter):
    page, _ = chapter
    box = page.locator('.alloy-nb-processing-explorer')
    info = box.locator('.widget-html').first
    before = info.inner_text()
    click_track(page, box.locator('.noUi-target').nth(1), 0.1)     # temperature, near its lower bound
    after = wait_for_change(page, info, before)
    assert 'yield_strength' in after



def test_every_notebook_names_an_installed_kernel():
    "JupyterLab asks for a kernel when a notebook names none, or one that is not installed."
    from jupyter_client.kernelspec import KernelSpecManager
    installed = KernelSpecManager().find_kernel_specs()
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        spec = json.loads(nb.read_text(encoding='utf-8'))['metadata'].get('kernelspec', {})
        assert spec.get('name') in installed, f'{nb.name}: kernelspec {spec} is not one of {sorted(installed)}'

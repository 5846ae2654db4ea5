"README.md is generated from nbs/index.ipynb, and its Quick start is what CI runs."
import re
from conftest import ROOT
from docsite import readme_from_index, readme_images, README_IMAGES


def quick_start():
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    section = text.split('## Quick start', 1)[1].split('\n## ', 1)[0]
    return [b.strip() for b in re.findall(r'```sh\n(.*?)```', section, re.S)]


def test_readme_in_sync_with_index():
    assert (ROOT/'README.md').read_text(encoding='utf-8') == readme_from_index(ROOT), \
        'README.md is stale: run `python tests/docsite.py --readme`'


def test_readme_figures_in_sync_with_index():
    images = readme_images(ROOT)
    assert images, 'the home page shows figures'
    assert sorted(str(p.relative_to(ROOT)) for p in (ROOT/README_IMAGES).glob('index_figure_*.png')) == sorted(images)
    for rel, data in images.items():
        assert (ROOT/rel).read_bytes() == data, f'{rel} is stale: run `python tests/docsite.py --readme`'
        assert f']({rel})' in (ROOT/'README.md').read_text(encoding='utf-8')


def test_quick_start_has_exactly_two_commands():
    blocks = quick_start()
    assert len(blocks) == 2
    cmds = [[l for l in b.splitlines() if not l.startswith('#')] for b in blocks]
    assert all(len(c) == 1 for c in cmds)
    main_job, tests = cmds[0][0], cmds[1][0]
    assert main_job.startswith('pip install torch==2.13.0 && pip install -c constraints.txt')
    assert tests.endswith('python -m pytest tests') and '-e ".[dev]"' in tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT/'.ci'/'run').read_text()
    assert 'readme_test_command' in ci  # .ci/run extracts and runs the second Quick start command verbatim

"The `alloy_nb_info` console script, run as a user would."
import json, subprocess
import torch


def run(args, env): return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def test_info_table(clean_env):
    import alloy_nb
    res = run(['alloy_nb_info'], clean_env)
    assert res.returncode == 0, res.stderr
    assert f'alloy_nb        {alloy_nb.__version__}' in res.stdout
    assert f'torch           {torch.__version__}' in res.stdout
    assert 'pyro ' in res.stdout and 'artefacts' in res.stdout


def test_info_json_and_device_flag(clean_env):
    res = run(['alloy_nb_info', '--json', '--device', 'cpu'], clean_env)
    info = json.loads(res.stdout)
    assert info['device'] == 'cpu' and info['device_name'].startswith('cpu (')
    assert set(info) >= {'alloy_nb', 'python', 'torch', 'pyro', 'artefacts'}


def test_env_override(clean_env):
    res = run(['alloy_nb_info', '--json'], {**clean_env, 'ALLOY_NB_DEVICE': 'CPU'})
    assert res.returncode == 0 and json.loads(res.stdout)['device'] == 'cpu'


def test_bogus_device_env_fails_naming_valid_values(clean_env):
    res = run(['alloy_nb_info'], {**clean_env, 'ALLOY_NB_DEVICE': 'bogus'})
    assert res.returncode != 0
    assert "'bogus'" in res.stderr and "'cpu', 'cuda' or 'cuda:N'" in res.stderr
    assert 'Traceback' not in res.stderr and res.stdout == ''


def test_unavailable_cuda_is_an_error(clean_env):
    if torch.cuda.is_available():
        res = run(['alloy_nb_info', '--device', f'cuda:{torch.cuda.device_count()}'], clean_env)
        assert res.returncode != 0 and 'GPU(s) present' in res.stderr
    else:
        res = run(['alloy_nb_info', '--device', 'cuda'], clean_env)
        assert res.returncode != 0 and 'no CUDA GPU is available' in res.stderr


def test_help_comes_from_docments(clean_env):
    res = run(['alloy_nb_info', '--help'], clean_env)
    assert res.returncode == 0 and 'compute device to check' in res.stdout and 'print JSON instead of a table' in res.stdout

"""GPU smoke test: train a small hypernetwork, predict, run `alloy_nb_cim` and the simulator on CUDA; one JSON report.

    python tests/gpu_smoke.py --out gpu_smoke.json     # a script: exit 0 if every check passes (or there is no GPU)
    python -m pytest tests/gpu_smoke.py                # a pytest module: skipped, with the reason, without CUDA

Without a CUDA GPU the script writes `{"skipped": "<reason>"}` and exits 0. With one, the JSON holds the device,
the versions, timings (seconds per training step, simulated recipes per second, the CLI's wall time) and the
checks (finite predictions, the CLI's success, CPU and CUDA simulations agreeing within `REL_TOL`), each a bool
under "checks". `--device cpu` runs the same steps on the CPU: a dry run of the script itself.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import pytest
import torch

REL_TOL = 0.02     # CPU vs CUDA: same seed and starting fields, float32 arithmetic in another order; relative error
N_TRAIN, STEPS = 256, 300          # recipes and steps of the small hypernetwork
N_SIM, GRID = 64, 64               # recipes and grid of the timed simulation
N_COMPARE = 4                      # recipes simulated on both devices
CIM_ARGS = ['--n', '300', '--seed', '1']   # a small `alloy_nb_cim` run (as tests/test_cim.py)


def no_gpu_reason() -> str|None:
    "Why the smoke test cannot run here, or `None` when it can."
    if not torch.cuda.is_available(): return f'no CUDA GPU visible to torch {torch.__version__}'
    return None


def synced(device:str) -> float:
    "A wall clock that waits for queued CUDA work first."
    if torch.device(device).type == 'cuda': torch.cuda.synchronize(device)
    return time.perf_counter()


def train_and_predict(device:str) -> dict:
    "Train a small BHN on freshly simulated recipes for `STEPS` steps; time the steps; predict held-out recipes."
    from alloy_nb.hypernet import BHNConfig, fit_bhn, predict
    from alloy_nb.core import NumericalInstabilityError
    from alloy_nb.processing import sample_recipes
    from alloy_nb.processing_data import simulate_set
    data = simulate_set(sample_recipes(N_TRAIN, seed=0), seed=0, device=device, quiet=True)
    model = fit_bhn(data, config=BHNConfig(max_steps=STEPS, eval_every=50, patience=STEPS), device=device, quiet=True)
    h = model.history
    try: finite = bool(np.isfinite(predict(model, sample_recipes(32, seed=9), 100).samples).all())
    except NumericalInstabilityError: finite = False
    return dict(model_device=str(model.device), steps=int(h.step.iloc[-1]),
                seconds_per_step=float(h.seconds.iloc[-1] / h.step.iloc[-1]),
                val_nll_first=float(h.val_nll.iloc[0]), val_nll_best=float(h.val_nll.min()), predictions_finite=finite)


def time_simulation(device:str) -> dict:
    "Simulate `N_SIM` recipes on `device` (after a warm-up batch): recipes per second, end to end."
    from alloy_nb.processing import sample_recipes, simulate
    simulate(sample_recipes(4, seed=1), grid=GRID, seed=0, device=device, quiet=True)      # CUDA context, FFT plans
    recipes, t0 = sample_recipes(N_SIM, seed=2), synced(device)
    out = simulate(recipes, grid=GRID, seed=0, device=device, quiet=True)
    secs = synced(device) - t0
    return dict(recipes=N_SIM, grid=GRID, seconds=secs, recipes_per_second=N_SIM / secs,
                all_finite=bool(np.isfinite(out.select_dtypes('number').to_numpy()).all()))


def compare_devices(device:str) -> dict:
    "The same `N_COMPARE` recipes and seed on the CPU and on `device`: the largest relative difference per target."
    from alloy_nb.processing import sample_recipes, simulate
    from alloy_nb.processing_data import TARGETS
    recipes = sample_recipes(N_COMPARE, seed=3)
    cpu, dev = (simulate(recipes, grid=GRID, seed=0, device=d, quiet=True)[TARGETS] for d in ('cpu', device))
    rel = ((dev - cpu).abs() / cpu.abs().clip(lower=1e-12)).max()
    return dict(recipes=N_COMPARE, rel_tol=REL_TOL, max_rel_diff={k: float(v) for k, v in rel.items()},
                agree=bool((rel <= REL_TOL).all()))


def run_cim(device:str) -> dict:
    "`alloy_nb_cim` at small size on `device`, as a user runs it: return code, wall time, headline numbers."
    with tempfile.TemporaryDirectory() as d:
        out, t0 = Path(d)/'cim.json', time.perf_counter()
        env = {**os.environ, 'ALLOY_NB_QUIET': '1', 'XDG_CACHE_HOME': d}
        res = subprocess.run(['alloy_nb_cim', '--json', str(out), *CIM_ARGS, '--device', device],
                             capture_output=True, text=True, env=env, timeout=600)
        r = json.loads(out.read_text()) if res.returncode == 0 and out.is_file() else {}
    o = r.get('optimisation', {})
    return dict(returncode=res.returncode, seconds=time.perf_counter() - t0, stderr_tail=res.stderr[-500:],
                shd=r.get('graph', {}).get('shd'), optimised_strength=o.get('optimised_strength'),
                baseline_strength=o.get('baseline_strength'))


def smoke(device:str='cuda') -> dict:
    "Every step on `device`, and the checks (all must be true)."
    from alloy_nb import __version__
    from alloy_nb.core import device_name
    r = dict(device=device, device_name=device_name(device), torch=torch.__version__, cuda=torch.version.cuda,
             alloy_nb=__version__, bhn=train_and_predict(device), simulate=time_simulation(device),
             cpu_vs_device=compare_devices(device), cim=run_cim(device))
    r['checks'] = dict(bhn_on_device=r['bhn']['model_device'].startswith(device),
                       bhn_learned=r['bhn']['val_nll_best'] < r['bhn']['val_nll_first'],
                       predictions_finite=r['bhn']['predictions_finite'], simulate_finite=r['simulate']['all_finite'],
                       cpu_and_device_agree=r['cpu_vs_device']['agree'], cim_succeeded=r['cim']['returncode'] == 0)
    return r


def write_json(result:dict, out:Path):
    "Write `result` to `out` through a temporary file (never a half-written report)."
    tmp = out.with_name(out.name + '.tmp')
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', type=Path, default=Path('gpu_smoke.json'), help='the JSON report (default: %(default)s)')
    p.add_argument('--device', default='cuda', help="'cuda' (default) or 'cuda:N'; 'cpu' for a dry run")
    a = p.parse_args(argv)
    reason = None if a.device == 'cpu' else no_gpu_reason()
    result = {'skipped': reason} if reason else smoke(a.device)
    write_json(result, a.out)
    print(json.dumps(result.get('checks', result)))
    return 0 if reason or all(result['checks'].values()) else 1


# the pytest module: one test, skipped (with the reason) where there is no GPU
@pytest.mark.skipif(no_gpu_reason() is not None, reason=str(no_gpu_reason()))
def test_gpu_smoke(tmp_path):
    assert main(['--out', str(tmp_path/'gpu_smoke.json')]) == 0, (tmp_path/'gpu_smoke.json').read_text()
    checks = json.loads((tmp_path/'gpu_smoke.json').read_text())['checks']
    assert all(checks.values()), checks


if __name__ == '__main__': sys.exit(main())

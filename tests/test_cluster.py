"""Sweeps and screening on a Dask `LocalCluster` (two single-threaded worker processes): the same numbers as here,
a worker killed mid-sweep, Ctrl-C and --resume of a Parquet sweep, and an unreachable scheduler in one line."""
import os, signal, subprocess, threading, time
from functools import partial
import numpy as np, pandas as pd
import pytest
from distributed import Client
from alloy_nb.cluster import local_cluster, top_scored
from alloy_nb.processing import sample_recipes, simulate
from alloy_nb.scale import write_sweep, read_sweep, partition_name


@pytest.fixture(scope='module')
def client():
    with local_cluster(2) as lc, Client(lc.scheduler_address) as c: yield c


def test_simulate_on_cluster_is_identical(client):
    recipes = sample_recipes(40, seed=11)
    here = simulate(recipes, grid=32, seed=11)
    there = simulate(recipes, grid=32, seed=11, batch=7, executor=client)   # other tasks, other workers
    pd.testing.assert_frame_equal(there, here)
    assert here.yield_strength.nunique() == 40


def test_screening_on_cluster_finds_the_same_candidates(client):
    from alloy_nb.phase_forest import fit_phase_forest
    from alloy_nb.design import DEFAULT_SPACE, class_scores, distinct_rows
    def pick(X, top): return distinct_rows(X.to_numpy(), None, top)
    score = partial(class_scores, fit_phase_forest(0, n_jobs=1), 1)   # the proposer, shipped to the workers
    here = top_scored(DEFAULT_SPACE.sample, score, pick, 250_000, 20, seed=4, chunk=100_000)
    there = top_scored(DEFAULT_SPACE.sample, score, pick, 250_000, 20, seed=4, chunk=100_000, executor=client)
    pd.testing.assert_frame_equal(there[0], here[0])
    np.testing.assert_array_equal(there[1], here[1])
    assert here[2]['scored'] > 240_000 and here[2]['chunks'] == 3 and len(here[0]) == 20


def _wait_for(cond, timeout=120):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout: raise TimeoutError
        time.sleep(0.05)


def test_killed_worker_costs_only_its_task(client, tmp_path):
    out, opts = tmp_path/'sweep.parquet', dict(n=160, partition=10, grid=64, seed=2)
    run = threading.Thread(target=write_sweep, args=(out,), kwargs=dict(executor=client, quiet=True, **opts))
    run.start()
    _wait_for(lambda: (out/partition_name(0)).exists() or (out/partition_name(1)).exists())
    pids = client.run(os.getpid)
    victim = next(w for w, tasks in client.processing().items() if tasks)   # a worker busy with a partition
    done_at_kill = len(list(out.glob('part-*.parquet')))
    os.kill(pids[victim], signal.SIGKILL)
    run.join(300)
    assert not run.is_alive() and done_at_kill < 16
    assert pids[victim] not in client.run(os.getpid).values()        # it really died (the nanny started another)
    pd.testing.assert_frame_equal(read_sweep(out), simulate(sample_recipes(160, seed=2), grid=64, seed=2))


def test_interrupted_sweep_resumes_to_the_same_table(clean_env, tmp_path):
    out = tmp_path/'sweep.parquet'
    cmd = ['alloy_nb_simulate', '--n', '200', '--grid', '64', '--partition', '10', '--seed', '3', '--out', str(out)]
    p = subprocess.Popen(cmd, env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(list(out.glob('part-*.parquet'))) >= 2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert 'interrupted; nothing half-written was left behind' in err
    kept = sorted(f.name for f in out.iterdir())
    assert [f for f in kept if f.startswith('.') and f != '.alloy_nb'] == []   # no partial partition
    parts = [f for f in kept if f.startswith('part-')]
    assert 2 <= len(parts) < 20
    for f in parts: assert len(pd.read_parquet(out/f)) == 10                  # each one complete
    res = subprocess.run(cmd, env=clean_env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and '--resume' in res.stderr                    # not without --resume
    res = subprocess.run(cmd + ['--resume'], env=clean_env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    pd.testing.assert_frame_equal(read_sweep(out), simulate(sample_recipes(200, seed=3), grid=64, seed=3))


def test_unreachable_scheduler_is_one_line(clean_env, tmp_path):
    env = {**clean_env, 'ALLOY_NB_SCHEDULER': 'tcp://127.0.0.1:9'}
    res = subprocess.run(['alloy_nb_simulate', '--n', '5', '--out', str(tmp_path/'x.csv')], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in res.stderr and 'Traceback' not in res.stderr
    assert not (tmp_path/'x.csv').exists()

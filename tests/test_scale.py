"""Many runs on Ray: the same numbers as runs made here, two nodes used, dead workers retried, sweeps resumable."""
import os
import signal
import sys

import pytest
from ray import cloudpickle  # the copy Ray pickles tasks with

from utils import results
from utils.config import RunConfig
from utils.files import read_json, write_json
from utils.lab import ablation, series, store, sweep
from utils.lab.scale import Pool, Resources, SchedulingError, set_threads
from utils.lab.training import TrainingJob, train_job
from utils.recipes import RECIPES

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module by name

SMOKE = dict(RECIPES["05_garam_masala"], smoke=True)  # 3 epochs on 5,000 real images: seconds per run


def smoke_run(seed, data_dir, variant="base"):
    return TrainingJob(RunConfig(**SMOKE, seed=seed, device="cpu", data_dir=str(data_dir)).to_dict(), "ablation",
                       "05_garam_masala", variant)


NUMBERS = ("variant", "seed", "params", "train_loss", "train_acc", "test_loss", "test_acc", "config", "threads",
           "cpu_capability")


@pytest.mark.slow
def test_runs_on_ray_give_exactly_the_numbers_of_the_same_runs_made_here(mnist_dir):
    jobs = [smoke_run(seed, mnist_dir) for seed in (0, 1)]
    with Pool(Resources(cpus_per_run=1), runs=len(jobs)) as pool:
        assert not pool.local
        on_ray = {f.job.config["seed"]: f for f in pool.map(train_job, jobs)}
    threads = int(os.environ.get("OMP_NUM_THREADS", 0)) or None
    try:
        set_threads(1)
        here = {job.config["seed"]: train_job(job) for job in jobs}
    finally:
        set_threads(threads or os.cpu_count())
    for seed, finished in on_ray.items():
        assert not finished.error and finished.node
        assert {k: finished.result[k] for k in NUMBERS} == {k: here[seed][k] for k in NUMBERS}
    assert on_ray[0].result["test_acc"] != on_ray[1].result["test_acc"]  # two different runs, not one twice


@pytest.mark.slow
def test_a_two_node_cluster_runs_them_on_both_nodes(mnist_dir):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        jobs = [smoke_run(seed, mnist_dir) for seed in (0, 1)]
        with Pool(Resources(address=cluster.address), runs=len(jobs)) as pool:
            finished = pool.map(train_job, jobs)
        assert not any(f.error for f in finished)
        assert len({f.node for f in finished}) == 2  # one CPU per node: the two runs cannot share a node
    finally:
        cluster.shutdown()


def answer(job):
    """A run's stand-in: what Pool.map hands back, without training (the retries are the point here)."""
    return {"seed": job.config["seed"], "variant": job.variant}


def killed_once(job):
    """The first attempt dies as an out-of-memory kill would; the second answers."""
    marker = job.config.pop("marker")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return answer(job)


def fails(job):
    raise ValueError(f"this run fails by itself (seed {job.config['seed']})")


def dispatch(job):
    return {"killed once": killed_once, "fails": fails}.get(job.variant, answer)(job)


def test_a_killed_worker_is_retried_and_a_failing_run_stops_no_other(tmp_path):
    killed = smoke_run(0, tmp_path, "killed once")
    killed.config["marker"] = str(tmp_path / "first attempt")
    jobs = [killed, smoke_run(1, tmp_path, "fails"), smoke_run(2, tmp_path)]
    with Pool(Resources(cpus_per_run=1), runs=len(jobs)) as pool:
        finished = {f.job.variant: f for f in pool.map(dispatch, jobs)}
    assert (tmp_path / "first attempt").exists()  # it did die once ...
    assert not finished["killed once"].error and finished["killed once"].result["seed"] == 0  # ... and then ran
    assert finished["fails"].error == "ValueError: this run fails by itself (seed 1)"
    assert not finished["base"].error and finished["base"].result["seed"] == 2


@pytest.mark.slow
def test_bad_resources_are_refused_before_anything_runs():
    for bad in (Resources(cpus_per_run=0), Resources(cpus_per_run=1.5), Resources(gpus_per_run=2)):
        with pytest.raises(SchedulingError, match="--(cpus|gpus)-per-run"):
            bad.check()
    with pytest.raises(SchedulingError, match="asks for 64 CPUs"):
        with Pool(Resources(cpus_per_run=64)):
            pass
    assert ablation.main(["05", "--cpus-per-run", "0"]) == 2
    assert series.main(["run", "01", "02", "--smoke", "--gpus-per-run", "3"]) == 2


@pytest.mark.slow
def test_an_interrupted_ablation_keeps_what_finished_and_its_rerun_skips_it(mnist_dir, tmp_path, monkeypatch):
    stem = "05_garam_masala"
    variants = {"base": ("base", {}), "lr-0.05": ("one-cycle peak LR 0.05", {"lr": 0.05})}
    monkeypatch.setitem(ablation.ABLATIONS, stem, (SMOKE, variants))
    path = tmp_path / "05_ablation.json"

    def ctrl_c_after_the_first_run(line):
        if "min of last 3" in line:
            raise KeyboardInterrupt  # as Ctrl-C would, while the other run is still going

    with pytest.raises(KeyboardInterrupt):
        ablation.run_ablation(stem, [0], ["base", "lr-0.05"], Resources(cpus_per_run=1), path, mnist_dir,
                              log=ctrl_c_after_the_first_run)
    (kept,) = read_json(path)  # whole, and holding the run that finished
    lines = []
    records = ablation.run_ablation(stem, [0], ["base", "lr-0.05"], Resources(cpus_per_run=1), path, mnist_dir,
                                    log=lines.append)
    assert lines[0] == f"1 runs to do, 1 already in {path}"
    assert records[0] == kept and {r["variant"] for r in records} == {"base", "lr-0.05"}


def test_a_seeds_sweep_skips_the_seeds_it_has_and_keeps_one_kind_of_device(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    stem = "05_garam_masala"

    def record(seed, device="cpu", **changes):
        return {"seed": seed, "device": device, "config": RunConfig.from_recipe(stem, seed=seed, **changes).to_dict()}

    write_json([record(0), record(1, lr=0.05), record(2)], tmp_path /
               f"{stem}.seeds.json")
    done = sweep.finished_seeds(stem, [0, 1, 2, 3], {}, "cpu")
    assert sorted(done) == [0, 2]  # seed 1 was trained with another LR: it runs again
    assert sweep.finished_seeds(stem, [0, 1, 2, 3], {"lr": 0.05}, "cpu").keys() == {1}
    assert sweep.finished_seeds(stem, [0, 1, 2, 3], {}, "cuda") == {}
    lines = []
    store.add_seed_record(stem, record(3), lines.append)  # the sweep's seeds join the ones of its recipe ...
    assert read_json(tmp_path / f"{stem}.seeds.json") == [record(0), record(2), record(3)]  # ... not seed 1's LR
    store.add_seed_record(stem, {**record(0), "test_acc": [99.5]}, lines.append)  # a seed run again: the new one
    assert read_json(tmp_path / f"{stem}.seeds.json")[0]["test_acc"] == [99.5]
    store.add_seed_record(stem, record(3, device="cuda:0"), lines.append)
    assert read_json(tmp_path / f"{stem}.seeds.json") == [record(3, device="cuda:0")]
    assert lines == [f"[{stem}] {stem}.seeds.json: {n} records of another recipe or kind of device replaced by this "
                     "sweep's (one table holds one recipe on one kind of device)" for n in (1, 3)]

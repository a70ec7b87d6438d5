"""Searching without the test set: the validation split, trials on Ray Tune (embedded and on a cluster), stopped
trials' records kept, the schedulers replayed, candidates ranked."""
import os

import pytest
import torch

from utils.config import RunConfig
from utils.data import VALIDATION_PER_CLASS, load_mnist, load_validation_split, normalise, validation_indices
from utils.files import read_json, write_json
from utils.lab import candidates, search
from utils.lab.ranking import finished, rank_agreement, ranking, search_cost
from utils.lab.scale import Resources
from utils.lab.store import add_trial_record
from utils.lab.training import train
from utils.lab.tuning import make_scheduler
from utils.metrics import PARAM_LIMIT
from utils.mnist import MnistDataError, load_raw, part_files, raw_dir
from utils.models import build, count_parameters
from utils.project import RESULTS_README
from utils.recipes import RECIPE_05

# 3 epochs on 5,000 of the 50,000 training images, evaluated on 2,000 of the validation images: seconds per trial
SMOKE_BASE = {**RECIPE_05, "smoke": True, "ema_decay": 0.0, "recalibrate_average": False, "clean_epochs": 0}
GRID = {"peak-0.1": ("one-cycle peak LR 0.1", {}),
        "peak-1e-5": ("one-cycle peak LR 0.00001: learns nothing in 3 epochs", {"lr": 1e-5}),
        "peak-0.01": ("one-cycle peak LR 0.01", {"lr": 0.01})}


@pytest.fixture
def small_search(monkeypatch):
    """A search of 05's stem over the smoke grid above, in place of the real ones."""
    monkeypatch.setitem(candidates.SEARCHES, "05_garam_masala", (SMOKE_BASE, GRID))
    return "05_garam_masala"


@pytest.mark.parametrize("stem", list(candidates.SEARCHES))
def test_every_candidate_is_a_valid_config_whose_model_gives_ten_logits_under_the_limit(stem):
    plan = search.search_plan(stem)
    for name in plan.variants:
        config = plan.config(name, seed=0)
        model = build(config.model, **config.model_args).eval()
        assert config.split == "validation" and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10), name
        assert count_parameters(model) < PARAM_LIMIT, name


def test_the_validation_split_is_fixed_class_balanced_and_apart_from_the_training_images(mnist_dir):
    images, labels = load_raw(mnist_dir, parts=("train",))["train"]
    held_out = validation_indices(labels)  # checks its own SHA-256: the same 10,000 images for every run
    assert len(held_out) == 10 * VALIDATION_PER_CLASS == len(set(held_out.tolist()))
    assert torch.bincount(labels[held_out], minlength=10).tolist() == [VALIDATION_PER_CLASS] * 10
    assert held_out.min() < 6000 and held_out.max() > 54000  # spread over the whole file, not one end of it
    data = load_validation_split(mnist_dir)
    trained = torch.ones(len(labels), dtype=torch.bool)
    trained[held_out] = False
    assert torch.equal(data.train_images, normalise(images[trained]))  # the other 50,000, in their order
    assert torch.equal(data.test_images, normalise(images[held_out]))
    assert torch.equal(data.train_labels, labels[trained].long()) and len(data.test_labels) == 10000


def training_files_only(mnist_dir, folder):
    """A data folder that holds MNIST's training files and not its test files."""
    raw_dir(folder).mkdir(parents=True)
    for name in part_files(["train"]):
        os.symlink(raw_dir(mnist_dir) / name, raw_dir(folder) / name)
    return folder


def test_a_validation_run_never_opens_the_test_files(mnist_dir, tmp_path):
    folder = raw_dir(training_files_only(mnist_dir, tmp_path))
    config = RunConfig(**{**SMOKE_BASE, "epochs": 1}, split="validation", device="cpu", data_dir=str(tmp_path))
    record = train(config, "search").record
    assert record["config"]["split"] == "validation" and len(record["test_acc"]) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted(part_files(["train"]))  # none fetched either
    with pytest.raises(MnistDataError, match="t10k-images-idx3-ubyte: missing"):  # a test-set run needs them
        load_mnist(tmp_path, fetch=False)


@pytest.mark.slow
def test_a_search_on_a_small_grid_keeps_the_record_of_a_trial_stopped_early(mnist_dir, small_search, tmp_path):
    path = tmp_path / "search.json"
    data_dir = training_files_only(mnist_dir, tmp_path / "data")  # the trials need no test file either
    # ASHA's one milestone is epoch 2, where peak LR 0.1 leads by far (after epoch 1 it may still trail: warm-up)
    kept, errors = search.run_search(small_search, [0, 1], scheduler="asha", grace=2, path=path,
                                     data_dir=data_dir, log=lambda line: None)
    stored = read_json(path)
    assert not errors and len(kept) == len(stored) == 6
    stopped = [r for r in stored if not finished(r)]
    assert stopped and all(r["variant"] != "peak-0.1" for r in stopped)
    assert all(r["epochs"] == len(r["test_acc"]) == 2 < r["config"]["epochs"] for r in stopped)
    assert all(r["kind"] == "search" and r["config"]["split"] == "validation" for r in stored)
    losers = {r["variant"] for r in stopped}
    assert set(ranking(stored)[-len(losers):]) == losers  # a candidate with a trial stopped early ranks last
    assert search_cost(stored)["epochs"] == 6 * 3 - len(stopped)


@pytest.mark.slow
def test_a_search_runs_its_trials_on_a_two_node_cluster(mnist_dir, small_search, tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    monkeypatch.setitem(candidates.SEARCHES, small_search, (SMOKE_BASE, {"peak-0.1": GRID["peak-0.1"]}))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        kept, errors = search.run_search(small_search, [0, 1], scheduler="none", path=tmp_path / "search.json",
                                         resources=Resources(address=cluster.address), data_dir=mnist_dir,
                                         log=lambda line: None)
    finally:
        cluster.shutdown()
    assert not errors and sorted(r["seed"] for r in kept) == [0, 1] and all(finished(r) for r in kept)


@pytest.mark.slow
def test_replayed_schedulers_stop_the_lagging_trials_and_none_stops_nothing(mnist_dir, small_search, tmp_path):
    plan = search.search_plan(small_search)
    template = train(plan.config("peak-0.1", 0, mnist_dir), "search", small_search, "peak-0.1").record
    records = []
    for seed in (0, 1, 2):
        for name in GRID:
            accuracies = [97.0, 98.5, 99.2] if name == "peak-0.1" else [90.0, 92.0, 94.0]  # 3 epochs, as smoke
            records.append({**template, "variant": name, "seed": seed, "test_acc": accuracies,
                            "config": plan.config(name, seed, mnist_dir).to_dict()})
    write_json(records, tmp_path / "search.json")
    replays = search.compare_schedulers(small_search, graces=(1, 2), path=tmp_path / "search.json",
                                        log=lambda line: None)
    assert sorted(replays, key=str) == sorted([("asha", 1), ("asha", 2), ("median", 1), ("median", 2),
                                               ("none", None)], key=str)
    assert all(finished(r) for r in replays["none", None]) and len(replays["none", None]) == 9
    for name in ("asha", "median"):
        stopped = [r for r in replays[name, 1] if not finished(r)]
        assert stopped and all(r["variant"] != "peak-0.1" for r in stopped), name
        assert all(len(r["test_acc"]) == r["epochs"] for r in stopped)  # cut where it stopped
        assert ranking(replays[name, 1])[0] == "peak-0.1"
    table = search.comparison_table(replays, plan.titles)
    assert "| asha | 1 |" in table and "| none | – | 0 of 9 |" in table


def test_the_median_rule_lets_a_trial_go_on_while_too_few_others_reached_its_epoch():
    """Ray's rule would pause it for a waiting trial, and a paused trial, keeping no checkpoint, starts again."""
    from ray.tune.experiment import Trial

    class WaitingTrials:  # what the rule asks the controller: trials waiting to start
        def get_live_trials(self):
            return [type("Waiting", (), {"status": Trial.PENDING})()]

    rule = make_scheduler("median", epochs=8)
    assert rule._on_insufficient_samples(WaitingTrials(), "a trial", 2) == "CONTINUE"  # noqa: SLF001


def test_a_bad_search_request_is_refused_before_anything_runs(small_search, capsys):
    for argv, message in ((["05", "--only", "nope"], "unknown candidate(s) nope"),
                          (["05", "--grace", "0"], "--grace 0: a whole number of epochs from 1 to 3"),
                          (["03"], "no search for 03_dropout"), (["05", "--seeds", "3-1"], "--seeds '3-1'")):
        assert search.main(argv) == 2
        assert message in capsys.readouterr().err


def test_a_search_keeps_its_stopped_trial_beside_another_searchs_finished_one_and_replaces_its_own(tmp_path):
    config = RunConfig(**SMOKE_BASE, split="validation", device="cpu").to_dict()

    def trial(command, epochs):
        return {"variant": "peak-0.1", "seed": 0, "device": "cpu", "command": command, "epochs": epochs,
                "config": config}

    path = tmp_path / "search.json"
    add_trial_record(path, trial("python -m utils.lab.search 05 --scheduler none", 3))
    add_trial_record(path, trial("python -m utils.lab.search 05", 1))  # stopped early by another search
    assert sorted(r["epochs"] for r in read_json(path)) == [1, 3]
    add_trial_record(path, trial("python -m utils.lab.search 05", 2))  # the same search again
    assert sorted(r["epochs"] for r in read_json(path)) == [2, 3]
    add_trial_record(path, trial("python -m utils.search 05 --scheduler none", 4))  # a former name of the command
    add_trial_record(path, trial("python -m utils.lab.search 05 --scheduler none", 5))  # ... the same search
    assert sorted(r["epochs"] for r in read_json(path)) == [2, 5]


def test_a_search_recorded_under_the_commands_old_name_is_one_search_with_its_new_name(small_search, tmp_path):
    plan = search.search_plan(small_search)
    old, new = "python -m utils.search 05 --scheduler none", "python -m utils.lab.search 05 --scheduler none"
    records = [{"variant": "peak-0.1", "seed": seed, "device": "cpu", "command": command,
                "config": plan.config("peak-0.1", seed=seed).to_dict()} for seed, command in ((0, old), (1, new))]
    write_json(records, tmp_path / "search.json")
    assert {key: len(found) for key, found in search.searches(small_search, tmp_path / "search.json").items()} == {
        ("cpu", new): 2}


def test_ranking_puts_candidates_with_every_trial_finished_first_by_their_mean():
    def record(name, seed, accuracies, epochs=4):
        return {"variant": name, "seed": seed, "epochs": len(accuracies), "test_acc": accuracies,
                "config": {"epochs": epochs}, "params": 100, "fit_seconds": 1.0, "load_seconds": 0.5}

    records = [record("a", 0, [99.0, 99.3, 99.4, 99.5]), record("a", 1, [99.0, 99.5, 99.5, 99.5]),
               record("b", 0, [99.0, 99.6, 99.6, 99.6]), record("b", 1, [98.0, 98.1]),  # stopped: lost
               record("c", 0, [99.0, 99.0, 99.0, 99.0]), record("c", 1, [99.0, 99.0, 99.0, 99.1])]
    assert ranking(records) == ["a", "c", "b"]
    assert ranking(records + [record("d", 0, [99.0, 99.5, 99.5, 99.5])])[0] == "d"  # by the mean, on fewer seeds
    # a's seeds: 99.3 and 99.5 (mean 99.4). A lower mean with a better worst seed ranks above it ...
    steady = [record("e", 0, [99.0, 99.35, 99.35, 99.35]), record("e", 1, [99.0, 99.35, 99.35, 99.35])]
    assert ranking(records + steady)[:2] == ["e", "a"]
    # ... and a higher mean with a worse one below it
    uneven = [record("f", 0, [99.0, 99.9, 99.9, 99.9]), record("f", 1, [99.0, 99.2, 99.2, 99.2])]
    assert ranking(records + uneven)[:2] == ["a", "f"]
    assert rank_agreement({"a": 1, "b": 1}, {"a": 1, "b": 2}) == (None, 2)  # all tied: no order to compare
    assert search_cost(records) == {"trials": 6, "stopped": 1, "epochs": 22, "full_epochs": 24, "seconds": 9.0}
    assert rank_agreement({"a": 3, "b": 2, "c": 1}, {"a": 30, "b": 20, "c": 10, "d": 0}) == (pytest.approx(1.0), 3)
    assert rank_agreement({"a": 3, "b": 2, "c": 1}, {"a": 10, "b": 20, "c": 30})[0] == pytest.approx(-1.0)


def test_the_committed_readmes_search_section_is_what_the_stored_searches_give_now():
    assert search.search_section() in RESULTS_README.read_text()

"""Judging a change over seeds in the notebook (utils.judge): the statistics, the verdicts, the kept runs, a bad
change, and the section run through papermill."""
import json
import math
import re
import statistics
import subprocess

import nbformat
import papermill
import pytest
from scipy import stats

from utils import judge
from utils.checkpoint import CheckpointError
from utils.config import ConfigError, RunConfig
from utils.engine import build_model
from utils.judge import Judgement, changed_config, judge_change, kept_path, published_runs
from utils.metrics import paired_difference
from utils.project import NOTEBOOKS_DIR, ROOT


def git_status():
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def test_the_paired_interval_is_the_t_interval_of_the_differences():
    base, change = [99.45, 99.41, 99.50, 99.47, 99.52], [99.50, 99.45, 99.53, 99.52, 99.57]
    d = paired_difference(list(zip(base, change)))
    differences = [c - b for b, c in zip(base, change)]
    half = stats.t.ppf(0.975, 4) * statistics.stdev(differences) / math.sqrt(5)  # by hand: mean ± t·sd/√n
    assert d["mean"] == pytest.approx(statistics.mean(differences), abs=1e-9)
    assert (d["low"], d["high"]) == pytest.approx((d["mean"] - half, d["mean"] + half), abs=1e-9)
    assert (d["n"], d["higher"], d["lower"], d["verdict"]) == (5, 5, 0, "better")  # +0.044, interval above 0
    unpaired = stats.ttest_ind(change, base).confidence_interval(0.95)  # what pairing by seed buys: a narrower one
    assert d["high"] - d["low"] < unpaired.high - unpaired.low


@pytest.mark.parametrize("pairs, verdict", [
    ([(99.40, 99.48), (99.45, 99.50), (99.50, 99.57)], "better"),
    ([(99.40, 99.44), (99.45, 99.41), (99.50, 99.52)], "noise"),
    ([(99.48, 99.40), (99.50, 99.45), (99.57, 99.50)], "worse"),
    ([(99.40, 99.45), (99.45, 99.50)], "noise"),  # up by the same amount: no spread; a sign test needs more seeds
    ([(99.40 + s / 100, 99.41 + s / 100) for s in range(6)], "better"),  # ... six that all moved up
    ([(99.40, 99.50)], "noise"),  # one seed: no interval
])
def test_each_verdict(pairs, verdict):
    assert paired_difference(pairs)["verdict"] == verdict


def record(seed, last3):
    return {"seed": seed, "test_acc": [98.0, last3 + 0.02, last3 + 0.01, last3], "target_reached": last3 >= 99.4,
            "device": "cpu", "gpu": None, "cpu_capability": "AVX2", "threads": 1}


@pytest.mark.parametrize("change, words", [
    ((99.48, 99.50, 99.57), "Better over 3 seeds: +0.07 points on average (95 % interval"),
    ((99.44, 99.41, 99.52), "Within the noise of 3 seeds: +0.01 points on average (95 % interval"),
    ((99.35, 99.37, 99.42), "Worse over 3 seeds: -0.07 points on average (95 % interval"),
])
def test_the_verdict_in_plain_words_and_the_table(change, words):
    judgement = Judgement("05_garam_masala", {"weight_decay": 0}, [record(s, a) for s, a in
                                                                  enumerate((99.40, 99.45, 99.50))],
                          [record(s, a) for s, a in enumerate(change)], {"recipe": [0, 1], "change": []},
                          "the same batches and augmentation and initial weights")
    assert judgement.verdict().startswith(words)
    table = judgement.table().splitlines()
    assert table[2] == f"| 0 | 99.40 % ✓ | {change[0]:.2f} %{' ✓' if change[0] >= 99.4 else ''} " \
                       f"| {change[0] - 99.40:+.2f} |"
    assert "recipe 3 of 3, change" in table[-1]
    assert "Published runs (results/): the recipe's on seeds 0, 1; the others trained in this section" in table[-1]
    assert table[-1].endswith("Paired by seed: the same batches and augmentation and initial weights.")


def test_a_bad_change_is_refused_in_one_line_before_any_training(monkeypatch):
    monkeypatch.setattr(judge, "train_and_keep", lambda *a, **k: pytest.fail("trained"))
    config = RunConfig.from_recipe("05_garam_masala", device="cpu")
    for changes, message in (({"learning_rate": 0.1}, r"^RunConfig\.learning_rate=0\.1 is not allowed: not a field"),
                             ({"lr": -1}, r"^RunConfig\.lr=-1 is not allowed: a number in \(0, 10\]$"),
                             ({"model_args": {"width": 3}}, r"^RunConfig\.model_args=.* build arguments of "
                                                            r"'garam_masala' \(.*'width'"),
                             ({"seed": 3}, r"^RunConfig\.seed=3 is not allowed: not a field"),
                             ({"split": "validation"}, r"^RunConfig\.split='validation' is not allowed: not a field"),
                             ([("lr", 0.1)], r"^judge_changes=\[\('lr', 0\.1\)\] is not allowed: a dict")):
        for seeds in (2, 0):  # refused also when nothing would be trained
            with pytest.raises(ConfigError, match=message) as caught:
                judge_change("05_garam_masala", config, changes, seeds)
            assert len(caught.value._render_traceback_()) == 1
    for seeds in (-1, [0, 0], "3", 2.5, True):
        with pytest.raises(ConfigError, match=r"^judge_seeds=.* is not allowed: a number of seeds"):
            judge_change("05_garam_masala", config, {"lr": 0.05}, seeds)


def test_model_args_merge_into_the_recipes_and_the_rules_between_knobs_hold():
    config = RunConfig.from_recipe("06_smallest", device="cpu", checkpoint_dir="somewhere")
    changed = changed_config(config, {"model_args": {"deskew": False}, "epochs": 2}, 4)
    assert changed.model_args == {**config.model_args, "deskew": False} and changed.seed == 4
    assert changed.clean_epochs == 2 and changed.checkpoint_dir == ""  # a short run's rule; no last.pt of its own
    other = changed_config(config, {"model": "garam_masala"}, 0)  # another model: its own build arguments
    assert other.model == "garam_masala" and other.model_args == {}


def test_the_recipes_published_runs_stand_in_this_machines_first():
    config = RunConfig.from_recipe("05_garam_masala", device="cpu", seed=0, data_dir="elsewhere")
    runs = published_runs("05_garam_masala", config, 7536)
    assert {r["threads"] for r in runs} == {1, 2}  # the seeds file's (2 threads) and the ablation's base (1)
    assert all(r["seed"] == 0 and r["config"]["weight_decay"] == 1e-4 for r in runs)
    assert published_runs("05_garam_masala", config, 7000) == []  # the model's code builds another net now
    assert published_runs("05_garam_masala", RunConfig.from_recipe("05_garam_masala", device="cpu", seed=0,
                                                                  epochs=14), 7536) == []  # another experiment


def test_a_change_of_batch_size_or_model_is_paired_by_seed_alone():
    config = RunConfig.from_recipe("05_garam_masala", device="cpu", seed=0)
    assert judge.pairing(config, changed_config(config, {"weight_decay": 0}, 0)) == \
        "the same batches and augmentation and initial weights"
    assert judge.pairing(config, changed_config(config, {"batch_size": 64, "model": "param_diet"}, 0)) == \
        "nothing but the seed; other batches or augmentation and initial weights, as the change alters them"


def test_kept_runs_resume_after_a_stop_and_a_damaged_one_is_named(tmp_path, mnist_dir, monkeypatch):
    config = RunConfig.from_recipe("05_garam_masala", smoke=True, epochs=2, device="cpu", data_dir=str(mnist_dir))
    trained, real = [], judge.train_and_keep

    def stop_after_one(notebook, run, folder, on_epoch=None):
        if trained:
            raise KeyboardInterrupt  # a stop (Ctrl-C, a lost session) during the second run
        trained.append((run.seed, run.weight_decay))
        return real(notebook, run, folder, on_epoch)

    monkeypatch.setattr(judge, "train_and_keep", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        judge_change("05_garam_masala", config, {"weight_decay": 0}, 2, folder=tmp_path, log=lambda _: None)
    assert trained == [(0, 1e-4)] and len(list(tmp_path.glob("*.json"))) == 1
    trained.clear()
    monkeypatch.setattr(judge, "train_and_keep", lambda *a, **k: trained.append(a[1].seed) or real(*a, **k))
    lines = []
    judgement = judge_change("05_garam_masala", config, {"weight_decay": 0}, 2, folder=tmp_path, log=lines.append)
    assert lines[0].startswith("3 of 4 runs to train") and trained == [0, 1, 1]  # the first run was kept
    assert [r["seed"] for r in judgement.recipe] == [0, 1] and judgement.published == {"recipe": [], "change": []}
    assert judgement.pairing == "the same batches and augmentation and initial weights"
    assert judgement.comparison()["n"] == 2
    trained.clear()
    assert judge_change("05_garam_masala", config, {"weight_decay": 0}, 2, folder=tmp_path).recipe == \
        judgement.recipe and trained == []  # all kept: nothing trains
    with monkeypatch.context() as edited:
        edited.setattr(judge, "layers_digest", lambda model: "another net")  # utils/models.py edited meanwhile
        judge_change("05_garam_masala", config, {"weight_decay": 0}, 2, folder=tmp_path, log=lambda _: None)
    assert trained == [0, 0, 1, 1]  # the kept runs were of the net the code built before
    layers = judge.layers_digest(build_model(config))
    damaged = kept_path(tmp_path, replace_seed(config, 0), layers)  # the recipe's seed 0
    damaged.write_text(damaged.read_text()[:100])
    with pytest.raises(CheckpointError, match=f"^{re.escape(str(damaged))} is damaged .*: remove it"):
        judge_change("05_garam_masala", config, {"weight_decay": 0}, 2, folder=tmp_path)
    damaged.write_text(kept_path(tmp_path, config, layers).read_text())  # the recipe's seed 1 under seed 0's name
    with pytest.raises(CheckpointError, match="holds another run than seed 0 of this experiment"):
        judge_change("05_garam_masala", config, {"weight_decay": 0}, 2, folder=tmp_path)


def replace_seed(config, seed):
    return RunConfig(**{**config.to_dict(), "seed": seed})


@pytest.mark.slow
def test_the_section_through_papermill_shows_the_figure_the_table_and_the_verdict(mnist_dir, tmp_path):
    """05 as a learner runs it: 2 epochs on a small subset, judged over 2 seeds; its runs kept in checkpoint_dir."""
    before = git_status()
    out = tmp_path / "judged.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "05_garam_masala.ipynb"), str(out), kernel_name="python3",
                               cwd=str(NOTEBOOKS_DIR), progress_bar=False,
                               parameters={"smoke": True, "epochs": 2, "judge_seeds": 2,
                                           "checkpoint_dir": str(tmp_path / "kept")})
    last = nbformat.read(out, as_version=4).cells[-1]
    shown = {kind for o in last.outputs for kind in o.get("data", {})}
    assert {"image/png", "text/markdown"} <= shown  # the strip figure; the table and the verdict
    text = next(o["data"]["text/markdown"] for o in last.outputs if "text/markdown" in o.get("data", {}))
    assert text.startswith("| seed | recipe | change | change − recipe |")
    assert "**Within the noise of 2 seeds" in text or "**Better over 2 seeds" in text or "**Worse over 2" in text
    assert len(list((tmp_path / "kept" / "judge" / "05_garam_masala").glob("seed-*.json"))) == 4
    assert git_status() == before

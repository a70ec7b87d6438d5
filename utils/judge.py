"""Judge a change over seeds, in the notebook: the recipe and the recipe with a learner's changes, on the same seeds.

One run is not evidence: over seeds the min of the last 3 epochs spreads by about 0.05 points, as much as most
changes move it. So a change is trained over a few seeds, one run after another in this process, beside the recipe
on the same seeds, and compared seed by seed (utils.metrics.paired_difference, the statistics the lab's ablation
tables use too). The same seed gives both runs the same batches and augmentation, and the same initial weights
where the change leaves the model's weights as they were.

The recipe's runs are taken from results/ where a published record is the same experiment on the same kind of
device (utils.experiment), preferring one this machine repeats to the digit (same CPU capability and thread count);
the others are trained. Every run trained here is kept as its record (JSON, data only) in a folder git ignores, so
that running the cell again, or again after a lost session, trains only what is missing.
"""
import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm.std import tqdm  # a text bar, as fit's: no widget library needed

from utils.checkpoint import CheckpointError
from utils.config import ConfigError, RunConfig
from utils.data import mnist
from utils.engine import build_model, fit
from utils.experiment import WHERE_FIELDS, experiment_of, same_experiment
from utils.files import read_json, write_json
from utils.metrics import TARGET_ACCURACY, min_last, paired_difference
from utils.models import count_parameters
from utils.plots import plot_seeds
from utils.project import HEADLESS_ENV, ROOT, RUNS_DIR
from utils.provenance import machine
from utils.recipes import with_rules
from utils.report import metrics_record
from utils.results import ablation_path, device_kind, records_in, seeds_path
from utils.tables import machine_short

JUDGE_FOLDER = "judge"  # under runs/ (or the notebook's checkpoint_dir): one kept record per trained run


def changed_config(config, changes, seed):
    """`config` with the learner's `changes` ({field: value}; model_args merged into the recipe's) for `seed`,
    validated: a ConfigError names an unknown field or a value the field does not allow, before any training."""
    if not isinstance(changes, dict):
        raise ConfigError("judge_changes", changes, "a dict of RunConfig fields and their new values", owner="")
    fields = set(config.to_dict())
    for name in changes:
        if name not in fields or name == "seed" or name in WHERE_FIELDS:
            raise ConfigError(name, changes[name], "not a field of the recipe to change here (the judge picks the "
                                                   "seeds; device and folders say where, not what): one of "
                                                   + ", ".join(sorted(fields - {"seed", *WHERE_FIELDS})))
    if isinstance(changes.get("model_args"), dict):
        changes = {**changes, "model_args": {**config.model_args, **changes["model_args"]}}
    return RunConfig(**with_rules(config.to_dict(), {**changes, "seed": seed, "checkpoint_dir": ""}))


def published_runs(notebook, config):
    """The records in results/ (the notebook's seeds file and ablation) that are runs of `config` on its kind of
    device, this machine's capability and thread count first."""
    here = machine(config.resolved_device)
    runs = [r for path in (seeds_path(notebook), ablation_path(notebook)) for r in records_in(path)
            if r["seed"] == config.seed and device_kind(r) == config.resolved_device.type
            and not r["smoke"] and same_experiment(r["config"], config.to_dict())]
    return sorted(runs, key=lambda r: (r["cpu_capability"], r["threads"]) != (here["cpu_capability"],
                                                                              here["threads"]))


def kept_path(folder, config):
    """Where a run of `config` trained here is kept: its seed, device kind and a digest of its experiment."""
    digest = hashlib.sha256(json.dumps(experiment_of(config.to_dict()), sort_keys=True).encode()).hexdigest()
    return Path(folder) / f"seed-{config.seed}-{config.resolved_device.type}-{digest[:12]}.json"


def load_kept(path, config):
    """The record kept at `path` for `config`, or None when there is none; CheckpointError names a file that is
    damaged or holds another run."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
        ours = isinstance(record, dict) and record["seed"] == config.seed and same_experiment(
            record["config"], config.to_dict()) and isinstance(record["test_acc"], list) and record["test_acc"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is damaged ({type(error).__name__}): remove it to train that run again") \
            from None
    if not ours:
        raise CheckpointError(f"{path} holds another run than seed {config.seed} of this experiment: remove it to "
                              "train that run again")
    return record


def same_initial_weights(recipe, change):
    """Whether the recipe's and the change's models start from the same weights for one seed."""
    ours, theirs = build_model(recipe).state_dict(), build_model(change).state_dict()
    return ours.keys() == theirs.keys() and all(ours[k].shape == theirs[k].shape and torch.equal(ours[k], theirs[k])
                                                for k in ours)


@dataclass
class Judgement:
    """The recipe's and the change's records over the same seeds, and how each was obtained."""

    notebook: str
    changes: dict
    recipe: list  # records, in seed order
    change: list
    published: list  # the seeds whose recipe run came from results/
    same_start: bool  # the same initial weights for both, seed by seed
    seconds_per_run: float = None  # what one run took here (the notebook's own run, or the first trained)

    def comparison(self):
        """utils.metrics.paired_difference of the change against the recipe, seed by seed."""
        return paired_difference([(min_last(r["test_acc"]), min_last(c["test_acc"]))
                                  for r, c in zip(self.recipe, self.change)])

    def verdict(self):
        """One line in plain words: better, within the noise, or worse, with the interval."""
        d, n = self.comparison(), len(self.change)
        seeds = f"{n} seed{'s' if n != 1 else ''}"
        higher = f"higher on {d['higher']} of {n}, lower on {d['lower']}"
        if d["low"] is None:
            return (f"Within the noise of {seeds}: {d['mean']:+.2f} points, and one seed gives no interval "
                    "(judge over 3 or more).")
        interval = f"95 % interval {d['low']:+.2f} to {d['high']:+.2f}"
        if d["verdict"] == "noise":
            return f"Within the noise of {seeds}: {d['mean']:+.2f} points on average ({interval}, {higher})."
        word = "Better" if d["verdict"] == "better" else "Worse"
        return f"{word} over {seeds}: {d['mean']:+.2f} points on average ({interval}, {higher})."

    def table(self):
        """Per seed: the recipe's and the change's min of the last 3 epochs and their difference; then seeds at
        target, where the recipe's runs came from, and whether both started from the same weights."""
        rows = ["| seed | recipe | change | change − recipe |", "|---:|---:|---:|---:|"]
        for r, c in zip(self.recipe, self.change):
            mark = {True: " ✓", False: ""}
            rows.append(f"| {r['seed']} | {min_last(r['test_acc']):.2f} %{mark[r['target_reached']]} "
                        f"| {min_last(c['test_acc']):.2f} %{mark[c['target_reached']]} "
                        f"| {min_last(c['test_acc']) - min_last(r['test_acc']):+.2f} |")
        at_target = (f"Seeds at the target (✓, ≥ {TARGET_ACCURACY} % in each of the last 3 epochs): recipe "
                     f"{sum(r['target_reached'] for r in self.recipe)} of {len(self.recipe)}, change "
                     f"{sum(c['target_reached'] for c in self.change)} of {len(self.change)}.")
        machines = ", ".join(sorted({machine_short(r) for r in self.recipe + self.change}))
        origin = (f"The recipe's run{'s' if len(self.published) > 1 else ''} of seed"
                  f"{'s' if len(self.published) > 1 else ''} {', '.join(map(str, self.published))} "
                  f"{'are' if len(self.published) > 1 else 'is'} published (results/), every other run was trained "
                  "here" if self.published else "Every run was trained here")
        start = ("the same initial weights and batches" if self.same_start else
                 "the same batches, but other initial weights: the change alters the model's weights")
        return "\n".join(rows + ["", f"{at_target} {origin} ({machines}). Paired by seed: {start}."])

    def figure(self):
        """One strip per side, a point per seed, the 99.40 % line (utils.plots.plot_seeds); None without seeds."""
        if not self.change:
            return None
        change = ", ".join(f"{k}={v}" for k, v in self.changes.items())
        return plot_seeds({"recipe": self.recipe, f"change: {change}": self.change})

    def how_to(self):
        """What a learner reads before judging: how to, and what one seed costs on this machine."""
        cost = (f" One seed costs about {self.seconds_per_run:.0f} s of training on this machine (the run above) for "
                "the change, and as much again for the recipe where no published run stands in for it."
                if self.seconds_per_run else "")
        return (f"Nothing judged yet (`judge_seeds = 0`). To judge `judge_changes = {self.changes!r}` against the "
                "recipe, set `judge_seeds` to 3 or more in the parameters cell and run again: each seed trains the "
                f"change and compares it with the recipe on the same seed.{cost} Finished runs are kept, so a run "
                "again trains only what is missing.")

    def _repr_markdown_(self):
        return f"{self.table()}\n\n**{self.verdict()}**" if self.change else self.how_to()


def judge_change(notebook, config, changes, seeds, folder=None, seconds_per_run=None, log=print):
    """Judge `changes` to `config` (notebook `notebook`'s recipe with its knobs) over `seeds` (a count: seeds 0 to
    N-1, or a list; none: only how to, and what it costs). Returns a Judgement. folder: where trained runs are kept
    (default: judge/<notebook> in the notebook's checkpoint_dir when it has one, on
    Colab a folder in Drive, else in runs/)."""
    changed_config(config, changes, config.seed)  # a bad change stops here, whether or not anything is trained
    folder = Path(folder) if folder else Path(config.checkpoint_dir or RUNS_DIR) / JUDGE_FOLDER / notebook
    config = replace(config, checkpoint_dir="")  # the judge's runs keep records, not the notebook's last.pt
    seeds = list(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else list(seeds)
    if not seeds:
        return Judgement(notebook, changes, [], [], [], True, seconds_per_run)
    runs = {"recipe": {}, "change": {}}  # side -> {seed: record}
    published, todo = [], []
    for seed in seeds:
        for side, run in (("recipe", replace(config, seed=seed)), ("change", changed_config(config, changes, seed))):
            found = published_runs(notebook, run) if side == "recipe" else []
            if found:
                published.append(seed)
            record = found[0] if found else load_kept(kept_path(folder, run), run)
            if record:
                runs[side][seed] = record
            else:
                todo.append((side, run))
    if todo:
        shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
        log(f"{len(todo)} of {2 * len(seeds)} runs to train; the others are published or kept in {shown}")
        bar = tqdm(total=sum(run.epochs for _, run in todo), desc="judging", unit="epoch",
                   disable=bool(os.environ.get(HEADLESS_ENV)))  # under the runner: the lines below
        for side, run in todo:
            runs[side][run.seed] = train_and_keep(notebook, run, folder, on_epoch=lambda _: bar.update())
            seconds_per_run = seconds_per_run or runs[side][run.seed]["fit_seconds"]
            log(f"{side} seed {run.seed}: min of the last 3 epochs {min_last(runs[side][run.seed]['test_acc']):.2f} "
                f"%, {runs[side][run.seed]['fit_seconds']:.0f} s")
        bar.close()
    first = seeds[0]
    return Judgement(notebook, changes, [runs["recipe"][s] for s in seeds], [runs["change"][s] for s in seeds],
                     published, same_initial_weights(replace(config, seed=first), changed_config(config, changes,
                                                                                                   first)),
                     seconds_per_run)


def train_and_keep(notebook, config, folder, on_epoch=None):
    """Train `config` in this process (on_epoch(history) after each epoch), keep its record in `folder` and return
    it."""
    model = build_model(config)
    history = fit(model, mnist(config), config, progress="none", on_epoch=on_epoch)
    record = metrics_record(notebook, config, history, count_parameters(model), kind="judge")
    write_json(record, kept_path(folder, config))
    return record

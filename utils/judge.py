"""Judge a change over seeds, in the notebook: the recipe and the recipe with a learner's changes, on the same seeds.

One run is not evidence: over seeds the min of the last 3 epochs spreads by about 0.05 points, as much as most
changes move it. So a change is trained over a few seeds, one run after another in this process, beside the recipe
on the same seeds, and compared seed by seed (utils.metrics.paired_difference, the statistics the lab's ablation
tables use too). The same seed gives both runs the same batches and augmentation where the change leaves batch size
and augmentation as they are, and the same initial weights where it leaves the model's weights as they are.

A published record (results/: the notebook's run, seeds and ablation) stands in for a run of the recipe where it is
the same experiment on the same kind of device with as many parameters as today's model (utils.results.is_current),
preferring one this machine repeats to the digit; the change's runs and the others are trained. Every run trained here is kept as its
record (JSON, data only) in a folder git ignores, named by its experiment and its model's layers, so that running the
cell again trains only what is missing (after a lost Colab session too, with checkpoint_dir in Drive).
"""
import hashlib
import json
import operator
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
from utils.provenance import machine, machine_short
from utils.recipes import with_rules
from utils.report import metrics_record

JUDGE_FOLDER = "judge"  # under runs/ (or the notebook's checkpoint_dir): one kept record per trained run
FIXED = ("seed", "smoke", "split", *WHERE_FIELDS)  # the judge picks the seeds; both sides share data and device


def changed_config(config, changes, seed):
    """`config` with the learner's `changes` ({field: value}) for `seed`, validated: a ConfigError names an unknown
    field or a value the field does not allow, before any training. model_args merge into the recipe's while the
    model stays the same (06: {"model_args": {"deskew": False}} keeps the layout)."""
    if not isinstance(changes, dict):
        raise ConfigError("judge_changes", changes, "a dict of RunConfig fields and their new values", owner="")
    fields = set(config.to_dict())
    for name in changes:
        if name not in fields or name in FIXED:
            raise ConfigError(name, changes[name], "not a field of the recipe to change here (the judge picks the "
                                                   "seeds; data, device and folders are the recipe's): one of "
                                                   + ", ".join(sorted(fields - set(FIXED))))
    same_model = changes.get("model", config.model) == config.model
    if same_model and isinstance(changes.get("model_args"), dict):
        changes = {**changes, "model_args": {**config.model_args, **changes["model_args"]}}
    elif not same_model:
        changes = {"model_args": {}, **changes}  # another model: its own build arguments, none unless given
    return RunConfig(**with_rules(config.to_dict(), {**changes, "seed": seed, "checkpoint_dir": ""}))


def seed_list(seeds):
    """`seeds` as a list: a count N gives seeds 0 to N-1; a list must hold distinct non-negative integers."""
    try:
        chosen = list(range(operator.index(seeds))) if not isinstance(seeds, (list, tuple)) else \
            [operator.index(s) for s in seeds]
    except TypeError:
        chosen = None
    if chosen is None or isinstance(seeds, bool) or (not isinstance(seeds, (list, tuple)) and seeds < 0) \
            or any(s < 0 for s in chosen) or len(set(chosen)) < len(chosen):
        raise ConfigError("judge_seeds", seeds, "a number of seeds (0: judge nothing; 3 or more to judge) or a list "
                                                "of distinct seeds", owner="")
    return chosen


def published_runs(notebook, config, params, results_dir=None):
    """The records in results/ (the notebook's published run, seeds file and ablation) that are runs of `config`
    with `params` parameters on its kind of device, first those this machine repeats to the digit (the same GPU; on
    a CPU the same capability and thread count)."""
    from utils.results import ablation_path, is_current, records_in, seeds_path, single_path  # read by a judgement
    here, device = machine(config.resolved_device), config.resolved_device.type
    paths = (single_path(notebook, results_dir), seeds_path(notebook, results_dir=results_dir),
             ablation_path(notebook, results_dir))
    runs = [r for path in paths for r in records_in(path)
            if r["params"] == params and is_current(r, config.to_dict(), device)]
    repeats = ("gpu",) if device == "cuda" else ("cpu_capability", "threads")
    return sorted(runs, key=lambda r: any(r.get(k) != here[k] for k in repeats))


def layers_digest(model):
    """A short digest of a model's layers and their shapes (its printed form): it changes when the code that builds
    the model changes what it builds."""
    return hashlib.sha256(str(model).encode()).hexdigest()[:12]


def kept_path(folder, config, layers):
    """Where a run of `config` trained here is kept: its seed, device kind, and a digest of its experiment and of its
    model's `layers` (layers_digest)."""
    experiment = json.dumps(experiment_of(config.to_dict()), sort_keys=True) + layers
    digest = hashlib.sha256(experiment.encode()).hexdigest()[:12]
    return Path(folder) / f"seed-{config.seed}-{config.resolved_device.type}-{digest}.json"


def load_kept(path, config):
    """The record kept at `path` for `config`, or None when there is none; CheckpointError names a file that is
    damaged or holds another run."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
        ours = isinstance(record, dict) and record["seed"] == config.seed and same_experiment(
            record["config"], config.to_dict())
        if not (isinstance(record["test_acc"], list) and record["test_acc"]):
            raise ValueError("no epochs")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is damaged ({type(error).__name__}: {error}): remove it to train that run "
                              "again") from None
    if not ours:
        raise CheckpointError(f"{path} holds another run than seed {config.seed} of this experiment: remove it to "
                              "train that run again")
    return record


def pairing(recipe, change):
    """What the two runs of one seed share, in words: batches and augmentation (unless the change alters batch
    size or augmentation), initial weights (unless it alters the model's weights)."""
    ours, theirs = build_model(recipe).state_dict(), build_model(change).state_dict()
    weights = ours.keys() == theirs.keys() and all(ours[k].shape == theirs[k].shape and torch.equal(ours[k], theirs[k])
                                                   for k in ours)
    batches = all(getattr(recipe, name) == getattr(change, name) for name in ("batch_size", "augment", "clean_epochs"))
    shared = [what for what, same in (("batches and augmentation", batches), ("initial weights", weights)) if same]
    other = [what for what, same in (("batches or augmentation", batches), ("initial weights", weights)) if not same]
    return (f"the same {' and '.join(shared)}" if shared else "nothing but the seed") + \
        (f"; other {' and '.join(other)}, as the change alters them" if other else "")


@dataclass
class Judgement:
    """The recipe's and the change's records over the same seeds, and how each was obtained."""

    notebook: str
    changes: dict
    recipe: list  # records, in seed order
    change: list
    published: dict  # {'recipe': seeds, 'change': seeds} whose run is a published record (results/)
    pairing: str = ""  # what a seed's two runs share (pairing())
    seconds_per_run: float = None  # what one run took here (the notebook's own run, or the first trained)

    def comparison(self):
        """utils.metrics.paired_difference of the change against the recipe, seed by seed."""
        return paired_difference([(min_last(r["test_acc"]), min_last(c["test_acc"]))
                                  for r, c in zip(self.recipe, self.change)])

    def verdict(self):
        """One line in plain words: better, within the noise, or worse, with the interval."""
        d, n = self.comparison(), len(self.change)
        seeds = f"{n} seed{'s' if n != 1 else ''}"
        word = {"better": f"Better over {seeds}", "worse": f"Worse over {seeds}",
                "noise": f"Within the noise of {seeds}"}[d["verdict"]]
        if n == 1:
            return f"{word}: {d['mean']:+.2f} points, and one seed gives no interval (judge over 3 or more)."
        if d["low"] is None:
            return (f"{word}: {d['mean']:+.2f} points on every seed, no spread to give an interval (a sign test, p = "
                    f"{d['p_sign']:.2f}, needs 6 seeds that all move one way).")
        return (f"{word}: {d['mean']:+.2f} points on average (95 % interval {d['low']:+.2f} to {d['high']:+.2f}, "
                f"higher on {d['higher']} of {n}, lower on {d['lower']}).")

    def table(self):
        """Per seed: the recipe's and the change's min of the last 3 epochs and their difference; then seeds at
        target, which runs are published ones, and what a seed's two runs share."""
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
        published = [f"the {side}'s on seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
                     for side, seeds in self.published.items() if seeds]
        origin = (f"Published runs (results/): {' and '.join(published)}; the others trained in this section"
                  if published else "Every run trained in this section")
        return "\n".join(rows + ["", f"{at_target} {origin} ({machines}). Paired by seed: {self.pairing}."])

    def figure(self):
        """One strip per side, a point per seed, the 99.40 % line (utils.plots.plot_seeds); None without seeds."""
        if not self.change:
            return None
        change = ", ".join(f"{k}={v}" for k, v in self.changes.items())
        return plot_seeds({"recipe": self.recipe, f"change: {change}": self.change})

    def how_to(self):
        """What a learner reads before judging: how to, and what one seed costs on this machine."""
        cost = (f" One run costs about {self.seconds_per_run:.0f} s of training on this machine (the run above); a "
                "seed trains the change and the recipe, each unless a published run stands in for it."
                if self.seconds_per_run else "")
        return (f"Nothing judged yet (`judge_seeds = 0`). To judge `judge_changes = {self.changes!r}` against the "
                "recipe, set `judge_seeds` to 3 or more in the parameters cell and run again: each seed compares the "
                f"change with the recipe on the same seed.{cost} Finished runs are kept, so running it again trains "
                "only what is missing.")

    def _repr_markdown_(self):
        return f"{self.table()}\n\n**{self.verdict()}**" if self.change else self.how_to()


def judge_change(notebook, config, changes, seeds, folder=None, seconds_per_run=None, log=print):
    """Judge `changes` to `config` (notebook `notebook`'s recipe with its knobs) over `seeds` (a count: seeds 0 to
    N-1, or a list; none: only how to, and what it costs). Returns a Judgement. folder: where trained runs are kept
    (default: judge/<notebook> in the notebook's checkpoint_dir when it has one, else in runs/)."""
    changed_config(config, changes, config.seed)  # a bad change stops here, whether or not anything is trained
    seeds = seed_list(seeds)
    if not seeds:
        return Judgement(notebook, changes, [], [], {}, seconds_per_run=seconds_per_run)
    folder = Path(folder) if folder else Path(config.checkpoint_dir or RUNS_DIR) / JUDGE_FOLDER / notebook
    config = replace(config, checkpoint_dir="")  # the judge's runs keep records, not the notebook's last.pt
    sides = {"recipe": lambda seed: replace(config, seed=seed),
             "change": lambda seed: changed_config(config, changes, seed)}
    models = {side: build_model(make(seeds[0])) for side, make in sides.items()}  # layers and size, seed aside
    runs, published, todo = {side: {} for side in sides}, {side: [] for side in sides}, []
    for seed in seeds:
        for side, make in sides.items():
            run = make(seed)
            # the recipe's published runs stand in; the change is trained, so that it is measured here
            found = published_runs(notebook, run, count_parameters(models[side])) if side == "recipe" else []
            record = found[0] if found else load_kept(kept_path(folder, run, layers_digest(models[side])), run)
            if found:
                published[side].append(seed)
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
            record = train_and_keep(notebook, run, folder, on_epoch=lambda _: bar.update())
            runs[side][run.seed] = record
            seconds_per_run = seconds_per_run or record["fit_seconds"]
            log(f"{side} seed {run.seed}: min of the last 3 epochs {min_last(record['test_acc']):.2f} %, "
                f"{record['fit_seconds']:.0f} s")
        bar.close()
    return Judgement(notebook, changes, [runs["recipe"][s] for s in seeds], [runs["change"][s] for s in seeds],
                     published, pairing(sides["recipe"](seeds[0]), sides["change"](seeds[0])), seconds_per_run)


def train_and_keep(notebook, config, folder, on_epoch=None):
    """Train `config` in this process (on_epoch(history) after each epoch), keep its record in `folder` and return
    it."""
    model = build_model(config)
    layers = layers_digest(model)  # before training: the digest names what the code builds
    history = fit(model, mnist(config), config, progress="none", on_epoch=on_epoch)
    record = metrics_record(notebook, config, history, count_parameters(model), kind="judge")
    write_json(record, kept_path(folder, config, layers))
    return record

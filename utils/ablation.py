"""The ablation for notebook 06: change one thing in its recipe at a time, train each variant over the same seeds.

  python -m utils.ablation [--seeds 0 1] [--only NAME...] [--jobs 2]

Every finished (variant, seed) run is appended to results/06_ablation.json at once, so an interrupted ablation
keeps what it did and a re-run skips it. A record counts only while its variant's definition (recipe and model
changes) is unchanged: after an edit of BASE_CONFIG or VARIANTS the old records stay in the file but are ignored and
re-run. `ablation_table` turns the current records into the table notebook 06 will show.
"""
import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time

import torch

from utils.config import RunConfig
from utils.data import load_mnist
from utils.engine import fit, seed_everything
from utils.inspect import count_parameters
from utils.metrics import TARGET_LAST_EPOCHS, read_json, target_reached, write_json
from utils.models import build
from utils.project import RESULTS_DIR, ROOT

ABLATION_FILE = RESULTS_DIR / "06_ablation.json"
# The base of the ablation: notebook 05's training at batch 32 with the `smallest` model (3,948 parameters).
BASE_CONFIG = dict(model="smallest", epochs=15, batch_size=32, lr=0.05, optimizer="sgd", scheduler="onecycle",
                   pct_start=0.2, augment={"rotate": 7.0})
# The SiLU recipe: the base plus three changes that cost no parameters, each also measured alone below.
SILU_RECIPE_CHANGES = dict(model="smallest_silu", clean_epochs=3, ema_decay=0.9995)
SILU_RECIPE_NAME = "the SiLU recipe: SiLU + clean last 3 epochs + weight average"
# What notebook 06 trains: the SiLU recipe plus two more changes that cost no parameters, each measured on it below.
RECIPE_CHANGES = {**SILU_RECIPE_CHANGES, "weight_decay": 1e-4, "recalibrate_average": True}
RECIPE_06 = {**BASE_CONFIG, **RECIPE_CHANGES}
RECIPE_NAME = "notebook 06: the SiLU recipe + weight decay 1e-4 + the average's BatchNorm statistics recomputed"
# name: (RunConfig changes, model changes); one idea each.
VARIANTS = {
    "base": ({}, {}),
    "three wider convs after the pool: 4-8 | 12-12-10": ({}, {"blocks": ((4, 8), (12, 12, 10))}),
    "max-pool later (after 3 convs, RF 8)": ({}, {"blocks": ((4, 8, 10), (10, 10, 10))}),
    "two max-pools, padding 1: 4-8 | 10-10 | 10-10": ({}, {"blocks": ((4, 8), (10, 10), (10, 10)), "padding": 1}),
    "1x1 squeeze to 6 after the max-pool": ({}, {"squeeze": 6}),
    "fully connected head instead of GAP": ({}, {"head": "fc"}),
    "depthwise-separable convs after the pool, 24 wide": ({}, {"blocks": ((4, 8), (24, 24, 24, 24)),
                                                               "separable": True}),
    "no augmentation": ({"augment": {}}, {}),
    "rotation ±15°": ({"augment": {"rotate": 15.0}}, {}),
    "rotation ±7° + shift 10 % + scale 10 %": ({"augment": {"rotate": 7.0, "shift": 0.1, "scale": 0.1}}, {}),
    "no schedule: constant LR 0.01": ({"scheduler": "none", "lr": 0.01}, {}),
    "one-cycle peak LR 0.1": ({"lr": 0.1}, {}),
    "batch 128": ({"batch_size": 128}, {}),
    "dropout 5 %": ({}, {"dropout": 0.05}),
    "label smoothing 0.1": ({"label_smoothing": 0.1}, {}),
    "SiLU instead of ReLU": ({"model": "smallest_silu"}, {}),
    "unaugmented images in the last 3 epochs": ({"clean_epochs": 3}, {}),
    "evaluate a moving average of the weights (decay 0.9995)": ({"ema_decay": 0.9995}, {}),
    SILU_RECIPE_NAME: (SILU_RECIPE_CHANGES, {}),
    # beyond the table above: the SiLU recipe with other layouts, towards fewer parameters
    "the SiLU recipe with depthwise-separable convs after the pool, 24 wide": (
        SILU_RECIPE_CHANGES, {"blocks": ((4, 8), (24, 24, 24, 24)), "separable": True}),
    "the separable recipe with wider full-resolution convs: 6-10 | 24-24-24-24": (
        SILU_RECIPE_CHANGES, {"blocks": ((6, 10), (24, 24, 24, 24)), "separable": True}),
    "the same, 18 wide after the pool: 6-10 | 18-18-18-18": (
        SILU_RECIPE_CHANGES, {"blocks": ((6, 10), (18, 18, 18, 18)), "separable": True}),
    # ... and with other training
    "the SiLU recipe with Adam, one-cycle peak LR 0.01": ({**SILU_RECIPE_CHANGES, "optimizer": "adam", "lr": 0.01}, {}),
    "the SiLU recipe with weight decay 1e-4": ({**SILU_RECIPE_CHANGES, "weight_decay": 1e-4}, {}),
    "the SiLU recipe with the average's BatchNorm statistics recomputed before each test": (
        {**SILU_RECIPE_CHANGES, "recalibrate_average": True}, {}),
    RECIPE_NAME: (RECIPE_CHANGES, {}),
    "notebook 06's recipe with depthwise-separable convs after the pool, 24 wide": (
        RECIPE_CHANGES, {"blocks": ((4, 8), (24, 24, 24, 24)), "separable": True}),
    "notebook 06's recipe with weight decay 5e-4": ({**RECIPE_CHANGES, "weight_decay": 5e-4}, {}),
    "notebook 06's recipe with batch 16": ({**RECIPE_CHANGES, "batch_size": 16}, {}),
    "notebook 06's recipe with a longer weight average (decay 0.9998)": ({**RECIPE_CHANGES, "ema_decay": 0.9998}, {}),
    "notebook 06's recipe with the record's layout: 4-4-4 | 8-8-8 | 8-8-8, padding 1": (
        RECIPE_CHANGES, {"blocks": ((4, 4, 4), (8, 8, 8), (8, 8, 8)), "padding": 1}),
    "notebook 06's recipe with the last 5 epochs unaugmented": ({**RECIPE_CHANGES, "clean_epochs": 5}, {}),
    "notebook 06's recipe with the last 8 epochs unaugmented": ({**RECIPE_CHANGES, "clean_epochs": 8}, {}),
    # over the budget on purpose: how many parameters the recipe needs before every seed passes
    "notebook 06's recipe 12 wide after the pool: 4-8 | 12-12-12-12 (over 4,000)": (
        RECIPE_CHANGES, {"blocks": ((4, 8), (12, 12, 12, 12))}),
}


def variant_config(name, seed, data_dir="data"):
    """The RunConfig of one (variant, seed) run on the CPU."""
    config_changes, _ = VARIANTS[name]
    return RunConfig(**{**BASE_CONFIG, **config_changes}, seed=seed, device="cpu", data_dir=str(data_dir))


def variant_definition(name, seed):
    """What the (variant, seed) run trains, as JSON data: the recipe without where it runs, and the model changes."""
    recipe = {k: v for k, v in variant_config(name, seed).to_dict().items() if k not in ("device", "data_dir")}
    return json.loads(json.dumps({"config": recipe, "model_changes": VARIANTS[name][1]}))


def _without_defaults(definition):
    """`definition` less the RunConfig fields at their default value: a knob added later, at its default (which
    changes nothing in training), leaves the older records current."""
    defaults = json.loads(json.dumps(RunConfig(model=definition["config"]["model"]).to_dict()))
    config = {k: v for k, v in definition["config"].items() if k not in defaults or v != defaults[k]}
    return {**definition, "config": config}


def current_records(records):
    """The records that still describe a variant as VARIANTS and BASE_CONFIG define it now."""
    return [r for r in records if r["variant"] in VARIANTS and "definition" in r
            and _without_defaults(r["definition"]) == _without_defaults(variant_definition(r["variant"], r["seed"]))]


def load_ablation(path=ABLATION_FILE):
    """The current records of `path`; none when the ablation has not run yet."""
    return current_records(read_json(path)) if path.is_file() else []


def train_variant(job):
    """Train one (variant, seed) on the CPU; returns its record."""
    name, seed, data_dir = job
    config = variant_config(name, seed, data_dir)
    seed_everything(seed)
    model = build(config.model, **VARIANTS[name][1])
    data = load_mnist(data_dir, "cpu", config.augment)
    started = time.perf_counter()
    history = fit(model, data, config, progress="none")
    params = count_parameters(model)
    return {"variant": name, "seed": seed, "params": params, "test_acc": history.test_acc,
            "best_test_acc": max(history.test_acc), "min_last_3": min(history.test_acc[-TARGET_LAST_EPOCHS:]),
            "target_reached": target_reached(history.test_acc, params), "seconds": time.perf_counter() - started,
            "threads": torch.get_num_threads(), "definition": variant_definition(name, seed)}


def _init_worker(threads):
    torch.set_num_threads(threads)


def run_ablation(seeds, names=None, jobs=1, path=ABLATION_FILE, data_dir=ROOT / "data", log=print):
    """Run the missing (variant, seed) pairs, appending each record to `path` as it finishes."""
    names = names or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    records = read_json(path) if path.is_file() else []
    current = current_records(records)
    done = {(r["variant"], r["seed"]) for r in current}
    # variant by variant, so that a run stopped early leaves whole rows (every seed) for the variants it did
    todo = [(name, seed, str(data_dir)) for name in names for seed in seeds if (name, seed) not in done]
    stale = len(records) - len(current)
    log(f"{len(todo)} runs to do, {len(done)} already in {path}" + (f", {stale} stale ones ignored" if stale else ""))
    if not todo:
        return records
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with multiprocessing.get_context("spawn").Pool(jobs, _init_worker, (threads,)) as pool:
        for record in pool.imap_unordered(train_variant, todo):
            records.append(record)
            write_json(records, path)
            log(f"{record['variant']} seed {record['seed']}: min of last 3 {record['min_last_3']:.2f} %, "
                f"{record['seconds']:.0f} s")
    return records


def ablation_table(records):
    """Markdown table: per variant, parameters and mean/min over seeds of the last-3-epoch minimum.

    Δ compares a variant with the base on the seeds both have, so a variant run on fewer seeds is not measured
    against the base's other seeds.
    """
    by_variant = {}
    for record in records:
        by_variant.setdefault(record["variant"], []).append(record)
    base = {r["seed"]: r["min_last_3"] for r in by_variant.get("base", [])}
    rows = ["| variant | params | seeds | mean of min(last 3) | worst seed | mean best | at target "
            "| Δ vs base, same seeds |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name in [n for n in VARIANTS if n in by_variant]:
        runs = sorted(by_variant[name], key=lambda r: r["seed"])
        mean = statistics.mean(r["min_last_3"] for r in runs)
        shared = [r for r in runs if r["seed"] in base]
        delta = (f"{statistics.mean(r['min_last_3'] - base[r['seed']] for r in shared):+.2f}" if shared else "–")
        label = name.replace("|", r"\|")  # a bare '|' would split the cell
        rows.append(f"| {label} | {runs[0]['params']:,} | {', '.join(str(r['seed']) for r in runs)} | {mean:.2f} % "
                    f"| {min(r['min_last_3'] for r in runs):.2f} % "
                    f"| {statistics.mean(r['best_test_acc'] for r in runs):.2f} % "
                    f"| {sum(r['target_reached'] for r in runs)}/{len(runs)} | {delta} |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these variants")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads are split between them)")
    args = parser.parse_args(argv)
    try:
        records = run_ablation(args.seeds, args.only, args.jobs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(ablation_table(current_records(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Side-by-side speed of the two data paths, training the headline model (05) with the same loop.

  (a) torchvision DataLoader, augmentation by torchvision transforms per sample (PIL), batches copied to the device
  (b) this project's path: MNIST resident on the device, batches gathered by index, augmentation on whole batches

The two alternate (a b a b ...) so that both see the same machine state; each measurement trains `--steps` steps.
Seconds per epoch = seconds per step x steps per epoch (60,000 images); evaluation covers the 10,000 test images.
The last line is `ratio <b/a>` of (train epoch + evaluation) seconds: below 1 means (b) is faster.

  python -m utils.lab.bench [--steps 100] [--repeats 3] [--workers 0 2] [--model NAME] [--no-augment] [--tune]
                            [--profile] [--recipes] [--throughput [--runs 4] [--epochs 3] [--cpus-per-run N] ...]
                            [--speedrun [--seeds 0-2]]

--speedrun measures the speedrun's figure (utils.lab.speedrun): 05's recipe and 07's, whole runs on the same seeds
(at least 3), alternating; the last line is `ratio <07/05>`, the median over pairs of 07's fit() time over 05's.
Every run's record goes to results/07_speedrun.bench.json (replaced once all pairs are measured) and
results/README.md's speedrun section.

--recipes times what 05's every-seed ingredients cost: one whole epoch of fit() (training, the average's BatchNorm
recomputation, evaluation) with 05's first recipe and with its recipe, alternating, `--repeats` times each.

--throughput measures runs per hour, side by side in one command: `--runs` runs of 05's recipe (`--epochs` epochs,
the last one unaugmented) one after another in this process with every core, then the same runs on Ray as
`--cpus-per-run`, `--gpus-per-run` and `--address` say (the scale-out path of utils.lab.series and utils.lab.ablation).

On a GPU machine, `taskset -c 0,1 python -m utils.lab.bench` gives the CPU side of a Colab-class one (2 vCPUs).
"""
import argparse
import itertools
import math
import statistics
import sys
import time

import torch

from utils.config import RunConfig, resolve_device
from utils.data import load_mnist
from utils.engine import evaluate
from utils.lab import training
from utils.lab.ablation_plans import FIRST_RECIPE_05
from utils.lab.cli import RequestError, parse_seeds
from utils.lab.publish import refresh_published
from utils.lab.scale import SchedulingError, add_arguments, resources_from
from utils.lab.speedrun import MIN_PAIRS, PAIR, measure, ratio
from utils.lab.store import replace_bench
from utils.lab.timing import GraphedSteps, StepTimer, timed
from utils.lab.torchvision_data import torchvision_loaders
from utils.lab.training import TrainingJob, train_job
from utils.models import build
from utils.project import ROOT
from utils.provenance import announced, command_line
from utils.recipes import RECIPES

HEADLINE = RECIPES["05_garam_masala"]  # the bench trains the headline notebook's model with its augmentation
TRAIN_IMAGES = 60000


def endless(loader, device):
    """Batches from a DataLoader forever (a new epoch when one ends), copied to `device`."""
    while True:
        for images, labels in loader:
            yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)


def endless_fast(data, batch_size):
    """Batches of the device-resident path forever, each epoch in a new seeded order."""
    return itertools.chain.from_iterable(
        data.train_batches(batch_size, torch.Generator().manual_seed(epoch)) for epoch in itertools.count())


@torch.inference_mode()
def evaluate_loader(model, loader, device):
    model.eval()
    correct = 0
    for images, labels in loader:
        correct += int((model(images.to(device)).argmax(1) == labels.to(device)).sum())
    return correct


def measure_paths(data_dir, device, model_name, augment, steps, repeats, batch_size, workers):
    """{path name: (train seconds per epoch, eval seconds)}, medians over `repeats` alternating measurements."""
    data = load_mnist(data_dir, device, augment=augment)
    steps_per_epoch = math.ceil(TRAIN_IMAGES / batch_size)
    paths = {}
    for count in workers:
        train_loader, test_loader = torchvision_loaders(data_dir, batch_size, augment, num_workers=count,
                                                        test_batch_size=1000, pin_memory=device.type == "cuda")
        paths[f"(a) DataLoader, {count} workers"] = (endless(train_loader, device), test_loader)
    paths["(b) device-resident"] = (endless_fast(data, batch_size), None)
    trainer = StepTimer(device, model_name, batch_size)
    for batches, _ in paths.values():
        trainer.steps(batches, 5)  # warm-up: worker start, allocator, kernel selection
    train_times = {name: [] for name in paths}
    eval_times = {name: [] for name in paths}
    for _ in range(repeats):
        for name, (batches, test_loader) in paths.items():
            train_times[name].append(timed(device, lambda: trainer.steps(batches, steps)) / steps * steps_per_epoch)
            if test_loader is None:
                work = lambda: evaluate(trainer.model, data.test_images, data.test_labels)  # noqa: E731
            else:
                work = lambda: evaluate_loader(trainer.model, test_loader, device)  # noqa: E731
            eval_times[name].append(timed(device, work))
    return {name: (statistics.median(train_times[name]), statistics.median(eval_times[name])) for name in paths}


def tune(data_dir, device, model_name, augment, steps, batch_size):
    """Seconds per training epoch of path (b) under each speed-up worth trying on this device."""
    data = load_mnist(data_dir, device, augment=augment)
    variants = {"as fit() runs it": {}, "channels_last": {"channels_last": True},
                "inplace ReLU": {"inplace_relu": True},
                "SGD per-parameter loop": {"optimizer_options": {"foreach": False}},
                "SGD fused": {"optimizer_options": {"foreach": False, "fused": True}},
                "torch.compile": {"compile_model": True},
                "bf16 autocast": {"bf16": True}}  # on CUDA without its graphs; on a CPU fast only with AVX512-BF16
    if device.type == "cuda":  # the variants above keep fit()'s CUDA graphs where they can; these go without
        variants.update({"no CUDA graphs": {"cuda_graphs": False},
                         "cudnn.benchmark": {"cudnn_benchmark": True},
                         "compile reduce-overhead (its own graphs)": {"compile_model": True,
                                                                      "compile_mode": "reduce-overhead"},
                         "whole step as one CUDA graph": None})
    results = {}
    for name, options in variants.items():
        # a fresh epoch per variant: every variant times the same full-size batches, none meets the short last one
        batches = endless_fast(data, batch_size)
        try:
            trainer = GraphedSteps(device, model_name, batch_size) if options is None else \
                StepTimer(device, model_name, batch_size, **options)
            first = timed(device, lambda: trainer.steps(batches, 3))  # includes any compilation
            seconds = timed(device, lambda: trainer.steps(batches, steps))
        except Exception as error:  # a variant this machine cannot run is reported, not fatal
            print(f"{name:<42} failed: {type(error).__name__}: {str(error)[:120]}", flush=True)
            continue
        results[name] = seconds / steps * math.ceil(TRAIN_IMAGES / batch_size)
        print(f"{name:<42} {results[name]:7.2f} s/epoch   (first 3 steps {first:.1f} s)", flush=True)
    model = build(model_name).to(device)
    for eval_batch in (500, 2000, 10000):
        seconds = timed(device, lambda: evaluate(model, data.test_images, data.test_labels, eval_batch))
        print(f"eval batch {eval_batch:<6} {seconds:7.2f} s for 10,000 test images", flush=True)
    return results


def profile(data_dir, device, model_name, augment, steps, batch_size):
    """torch.profiler's table of where `steps` training steps of path (b) spend their time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    batches = endless_fast(load_mnist(data_dir, device, augment=augment), batch_size)
    trainer = StepTimer(device, model_name, batch_size)
    trainer.steps(batches, 5)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as profiler:
        trainer.steps(batches, steps)
    print(f"{steps} training steps of path (b):")
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def recipe_cost(data, repeats):
    """{recipe name: median seconds of fit()'s first epoch on `data`} for 05's first recipe and its recipe,
    alternating."""
    recipes = {"05's first recipe": FIRST_RECIPE_05, "05's recipe": RECIPES["05_garam_masala"]}
    seconds = {name: [] for name in recipes}
    for _ in range(repeats):
        for name, recipe in recipes.items():
            config = RunConfig(**recipe, device=str(data.device))
            history = training.train(config, "bench", data=data, stop_after_epoch=1).history
            seconds[name].append(history.epoch_seconds[0])
            print(f"{name:<20} epoch {history.epoch_seconds[0]:6.2f} s", flush=True)
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    first, spiced = medians.values()
    print(f"median epoch: first recipe {first:.2f} s, recipe {spiced:.2f} s: cost {100 * (spiced / first - 1):+.1f} %")
    return medians


def throughput(data_dir, device, runs, epochs, resources):
    """Runs per hour of `runs` short runs of 05's recipe: one after another here, then on Ray; returns both."""
    from utils.lab.scale import Pool, set_threads

    def jobs(on):
        return [TrainingJob(RunConfig.from_recipe("05_garam_masala", epochs=epochs, clean_epochs=1, seed=seed,
                                                  device=on, data_dir=str(data_dir)).to_dict(), "bench",
                            "05_garam_masala")
                for seed in range(runs)]

    threads = torch.get_num_threads()
    started = time.perf_counter()
    for job in jobs(str(device)):
        train_job(job)
    sequential = time.perf_counter() - started
    print(f"one after another, {threads} threads: {runs} runs in {sequential:.1f} s", flush=True)
    started = time.perf_counter()
    with announced(), Pool(resources, runs) as pool:  # the workers' records name this command
        ready = time.perf_counter()
        finished = pool.map(train_job, jobs(pool.run_device))
    done = time.perf_counter()  # after Ray's shutdown too: a command pays for it
    set_threads(threads)
    failed = [f.error for f in finished if f.error]
    if failed:
        raise RuntimeError(f"{len(failed)} runs failed on Ray: {failed[0]}")
    print(f"on Ray, {pool.cpus} CPU(s) and {pool.gpus:g} GPU per run: {runs} runs in {done - ready:.1f} s "
          f"with its shutdown (+ {ready - started:.1f} s to start Ray)", flush=True)
    rates = {"sequential": 3600 * runs / sequential, "ray": 3600 * runs / (done - started)}
    print(f"runs per hour: one after another {rates['sequential']:.0f}, on Ray {rates['ray']:.0f} (Ray's start "
          f"included): x{rates['ray'] / rates['sequential']:.2f}")
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.lab.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="a/b alternations; medians are reported")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers for (a)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--model", default=HEADLINE["model"], help="a registered model name")
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation on both paths")
    parser.add_argument("--tune", action="store_true", help="also time speed-up variants of (b)")
    parser.add_argument("--profile", action="store_true", help="also profile the steps of (b) by operator")
    parser.add_argument("--recipes", action="store_true",
                        help="only time one fit() epoch of 05's first recipe against its recipe")
    parser.add_argument("--throughput", action="store_true",
                        help="only measure runs per hour: one after another here against the same runs on Ray")
    parser.add_argument("--speedrun", action="store_true",
                        help="only measure 07's fit() time over 05's: whole runs of both recipes, alternating")
    parser.add_argument("--seeds", nargs="+", default=["0-2"],
                        help=f"--speedrun: one pair per seed, at least {MIN_PAIRS} (default 0-2)")
    parser.add_argument("--runs", type=int, default=4, help="--throughput: how many runs")
    parser.add_argument("--epochs", type=int, default=3, help="--throughput: epochs per run")
    add_arguments(parser)
    args = parser.parse_args(argv)
    augment = {} if args.no_augment else HEADLINE["augment"]
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    if args.speedrun:
        try:
            seeds = parse_seeds(args.seeds)
            if len(seeds) < MIN_PAIRS:
                raise RequestError(f"--seeds {' '.join(args.seeds)}: the ratio needs at least {MIN_PAIRS} pairs")
        except RequestError as error:
            parser.exit(2, f"error: {error}\n")
        print(f"device: {name}; torch {torch.__version__}; {PAIR[1]}'s recipe against {PAIR[0]}'s, seeds {seeds}")
        with announced(command_line(["utils.lab.bench", *(sys.argv[1:] if argv is None else argv)])):
            records = measure(seeds, device, args.data_dir)
        replace_bench(PAIR[1], records)
        refresh_published()
        print(f"ratio {ratio(records):.3f}")
        return
    print(f"device: {name}; torch {torch.__version__}; model {args.model}; batch {args.batch_size}; "
          f"augment {augment or 'none'}")
    if args.throughput:
        try:
            with announced(command_line(["utils.lab.bench", *(sys.argv[1:] if argv is None else argv)])):
                throughput(args.data_dir, device, args.runs, args.epochs, resources_from(args))
        except SchedulingError as error:
            parser.exit(2, f"error: {error}\n")
        return
    if args.recipes:
        recipe_cost(load_mnist(args.data_dir, device, augment=FIRST_RECIPE_05["augment"]), args.repeats)
        return
    if args.tune:
        tune(args.data_dir, device, args.model, augment, args.steps, args.batch_size)
    if args.profile:
        profile(args.data_dir, device, args.model, augment, min(args.steps, 40), args.batch_size)
    results = measure_paths(args.data_dir, device, args.model, augment, args.steps, args.repeats, args.batch_size,
                            args.workers)
    print(f"{'path':<28} {'train s/epoch':>14} {'eval s':>8} {'epoch s':>8}")
    for path, (train_seconds, eval_seconds) in results.items():
        print(f"{path:<28} {train_seconds:14.2f} {eval_seconds:8.2f} {train_seconds + eval_seconds:8.2f}")
    baseline = min(sum(v) for k, v in results.items() if k.startswith("(a)"))  # the fastest DataLoader setting
    fast = sum(results["(b) device-resident"])
    print(f"ratio {fast / baseline:.3f}")


if __name__ == "__main__":
    main()

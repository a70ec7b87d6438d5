"""A notebook's recipe over seeds: each seed one run of utils.lab.training.train, each finished full run added to
its seeds file.

The runner (`python -m utils.lab.series run 05 --seeds 0-9`) calls `run_seeds`. Each seed trains the notebook's recipe
with the -p values (utils.recipes, as the notebook's config cell builds it), without executing the notebook: the
notebook shows the same steps cell by cell, and a test shows both give the same numbers. A seed whose stored
record is current (the same experiment on the same kind of device) is skipped, so an interrupted sweep resumes.

Standard library only at import: torch is loaded when a config is built.
"""
from dataclasses import dataclass

from utils.lab.cli import RequestError
from utils.lab.publish import publish_seed_run
from utils.lab.scale import Pool
from utils.metrics import min_last
from utils.results import is_current, records_in, seeds_path


@dataclass
class SeedOutcome:
    stem: str
    seed: int
    record: dict = None  # the run's record; None when it failed
    error: str = ""


def recipe_config(stem, overrides, **where):
    """The RunConfig notebook `stem` builds from its recipe and the -p values (where: seed, smoke, device, ...);
    a bad value is refused naming the parameter, before anything runs."""
    from utils.config import ConfigError, RunConfig, parse_device

    try:
        if "device" in overrides:  # its form here; whether the machine has it, where the run happens
            parse_device(overrides["device"])
        return RunConfig.from_recipe(stem, **{**overrides, **where})
    except ConfigError as error:
        raise RequestError(f"{stem}: -p {error.field}: {error}") from None


def finished_seeds(stem, seeds, overrides, device, data_dir="data"):
    """{seed: record} of the seeds whose stored record is this sweep's run: same experiment, same kind of device."""
    stored = {r["seed"]: r for r in records_in(seeds_path(stem))}
    return {seed: stored[seed] for seed in seeds if seed in stored and is_current(
        stored[seed], recipe_config(stem, overrides, seed=seed, device="cpu", data_dir=data_dir).to_dict(), device)}


def run_seeds(stems, seeds, smoke, overrides, publish, data_dir, log, resources):
    """Train each (notebook recipe, seed) with utils.lab.training; add each finished full run to its seeds file.
    Returns the SeedOutcomes in the order asked for."""
    from utils.mnist import ensure_mnist
    from utils.lab.training import TrainingJob, train_job

    outcomes = {}

    def finish(finished):
        stem, seed = finished.job.notebook, finished.job.config["seed"]
        outcome = SeedOutcome(stem, seed, finished.result, finished.error and f"[{stem}] seed {seed} FAILED: "
                                                                            f"{finished.error}")
        outcomes[stem, seed] = outcome
        if outcome.error:
            log(outcome.error)
            return
        log(f"[{stem}] seed {seed} finished: min of the last 3 epochs {min_last(outcome.record['test_acc']):.2f} %, "
            f"fit() {outcome.record['fit_seconds']:.0f} s{f' on {finished.node}' if finished.node else ''}")
        if publish and not smoke:
            publish_seed_run(stem, outcome.record, log)

    wanted = [(stem, seed) for stem in stems for seed in seeds]
    with Pool(resources, len(wanted), log) as pool:
        device = overrides.get("device", pool.run_device)  # what each run's config names
        kind = pool.device if device == "auto" else str(device).split(":")[0]  # what it will train on
        if kind == "cuda" and not pool.local and not pool.gpus:
            raise RequestError(f"-p device {device}: the runs reserve no GPU (--gpus-per-run 0, or a cluster "
                               "without GPUs)")
        if publish and not smoke:
            done = {stem: finished_seeds(stem, seeds, overrides, kind, data_dir) for stem in stems}
            skipped = sum(len(found) for found in done.values())
            if skipped:
                log(f"{skipped} of {len(wanted)} runs are already in results/<notebook>.seeds.json: skipped")
            wanted = [(stem, seed) for stem, seed in wanted if seed not in done[stem]]
        ensure_mnist(data_dir, log=log)  # once, here: workers that see this folder need not fetch it
        jobs = [TrainingJob(recipe_config(stem, overrides, seed=seed, smoke=smoke, device=device,
                                          data_dir=data_dir).to_dict(), "sweep", stem) for stem, seed in wanted]
        pool.map(train_job, jobs, finish)
    return [outcomes[key] for key in [(stem, seed) for stem in stems for seed in seeds] if key in outcomes]

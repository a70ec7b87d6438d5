"""A search's trials on Ray Tune: each (candidate, seed) is one trial, an early-stopping scheduler ends the lagging.

Every trial trains its config with utils.lab.training.train on the validation split and reports, after each epoch, the
epoch's validation accuracy (what the scheduler compares) with the record of the epochs so far. When a trial ends,
finished or stopped by the scheduler, this process (the driver) hands its last record to `on_record`: the workers
write nothing. Ray is the project's (utils.lab.scale.connect): started inside the command, or a cluster at an address;
Tune's own files go to a temporary folder and are deleted afterwards.

Schedulers (Ray Tune's own, one epoch = one training_iteration, no trial stopped before `grace` epochs):
  asha    ASHAScheduler: at epochs grace, 2*grace, 4*grace, ... a trial below the better half of the trials that
          reached that epoch before it stops (reduction factor 2)
  median  MedianStoppingRule: a trial whose best epoch so far is below the median of the other trials' mean
          accuracies from epoch grace to that epoch stops (once 3 others got there; never paused meanwhile)
  none    FIFOScheduler: every trial runs to the end
`replay` runs recorded trials through a scheduler again, in the order they ran, reporting their recorded epochs
instead of training: what that scheduler would have stopped, for the cost of none of the training.
"""
import json
import os
import tempfile
from dataclasses import asdict

from utils.lab.training import TrainingJob
from utils.metrics import first_epoch_at_target, target_reached

SCHEDULERS = ("asha", "median", "none")
METRIC = "val_acc"  # what every trial reports after each epoch, and the schedulers compare (higher is better)
GRACE_EPOCHS = 2  # no trial stops before this many epochs (results/README.md, Searching without the test set)
REDUCTION_FACTOR = 2  # ASHA keeps the better 1/2 at each of its milestones
MEDIAN_SAMPLES = 3  # the median rule compares a trial once this many others reached its epoch


def make_scheduler(name, epochs, grace=GRACE_EPOCHS):
    """Ray Tune's scheduler `name` (SCHEDULERS) for trials of at most `epochs` epochs."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    if name == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=epochs, grace_period=grace,
                             reduction_factor=REDUCTION_FACTOR)
    if name == "median":  # too few others at an epoch: go on. Ray would pause the trial for a waiting one unless
        # min_time_slice is infinite, and a paused trial (it keeps no checkpoint) would start again from epoch 1
        return MedianStoppingRule(time_attr="training_iteration", grace_period=grace,
                                  min_samples_required=MEDIAN_SAMPLES, min_time_slice=float("inf"))
    if name == "none":
        return FIFOScheduler()
    raise ValueError(f"scheduler {name!r} is not allowed: one of {list(SCHEDULERS)}")


def train_trial(config):
    """Tune's function trainable: train one TrainingJob (config['trial']['job']) with its threads, reporting each
    epoch."""
    from ray import tune

    from utils.config import RunConfig
    from utils.lab.training import train
    from utils.lab.scale import data_folder, set_threads

    space = config["trial"]
    set_threads(space["threads"])
    if not space["gpus"]:  # a trial that reserved no GPU must not use one
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    job = TrainingJob(**space["job"])
    run_config = RunConfig(**{**job.config, "data_dir": str(data_folder(job.config["data_dir"]))})

    def report(record):
        if record["test_acc"][-1] is not None:  # an epoch not tested (eval_last_epochs) has nothing to report
            tune.report({METRIC: record["test_acc"][-1], "record": json.dumps(record)})

    train(run_config, job.kind, job.notebook, job.variant, on_epoch=report)


def replay_trial(config):
    """Tune's function trainable of a replay: report a recorded trial's epochs, one per iteration, training nothing."""
    from ray import tune

    record = config["trial"]["record"]
    for epoch in range(1, record["epochs"] + 1):
        if record["test_acc"][epoch - 1] is not None:  # as train_trial: only the epochs tested
            tune.report({METRIC: record["test_acc"][epoch - 1], "record": json.dumps(truncated(record, epoch))})


def truncated(record, epochs):
    """A record as its trial would have left it stopped after `epochs` epochs: its per-epoch lists cut there, what
    follows from them recomputed, fit() cut in proportion to the epochs' seconds."""
    cut = {name: value[:epochs] if isinstance(value, list) and len(value) == record["epochs"] else value
           for name, value in record.items()}
    cut.update(epochs=epochs, best_test_acc=max(acc for acc in cut["test_acc"] if acc is not None),
               first_epoch_at_target=first_epoch_at_target(cut["test_acc"]),
               target_reached=target_reached(cut["test_acc"], record["params"]),
               fit_seconds=record["fit_seconds"] * sum(cut["epoch_seconds"]) / sum(record["epoch_seconds"]))
    return cut


def tune_trials(trainable, spaces, scheduler, resources, on_record, log, one_at_a_time=False):
    """Run one Tune trial per space in `spaces` (in that order, as many at once as the resources allow, or one at a
    time) on the project's Ray; on_record(record) is called here as each trial ends. Returns the trials' errors,
    one line each."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own console tables: the command prints its lines
    import ray
    from ray import tune

    from utils.lab.scale import connect, per_run

    errors = []

    class Keep(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            if trial.last_result and "record" in trial.last_result:
                on_record(json.loads(trial.last_result["record"]))

        def on_trial_error(self, iteration, trials, trial, **info):
            error = trial.get_pickled_error()
            error = getattr(error, "cause", None) or error
            errors.append(f"{describe(trial.config['trial'])}: "
                          f"{f'{type(error).__name__}: {error}' if error else 'failed (see Ray logs)'}")

    started = connect(resources.address, log)
    try:
        cpus, gpus = per_run(resources, "trial")
        with tempfile.TemporaryDirectory(prefix="tiny-mnist-tune-") as storage:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus}),
                param_space={"trial": tune.grid_search([{**space, "threads": cpus, "gpus": gpus} for space in spaces])},
                tune_config=tune.TuneConfig(metric=METRIC, mode="max", scheduler=scheduler,
                                            max_concurrent_trials=1 if one_at_a_time else None,
                                            reuse_actors=one_at_a_time,  # a replay's trials train nothing
                                            trial_dirname_creator=lambda trial: trial.trial_id),
                run_config=tune.RunConfig(storage_path=storage, name="search", verbose=0, callbacks=[Keep()]))
            tuner.fit()
    finally:
        if started:
            ray.shutdown()
    return errors


def describe(space):
    """'candidate seed N' of a trial's space."""
    record = space.get("record") or {"variant": space["job"]["variant"], "seed": space["job"]["config"]["seed"]}
    return f"{record['variant']} seed {record['seed']}"


def search_trials(jobs, scheduler, resources, on_record, log):
    """Train each TrainingJob (utils.lab.training, kind 'search') as one Tune trial under `scheduler`; see
    tune_trials."""
    return tune_trials(train_trial, [{"job": asdict(job)} for job in jobs], scheduler, resources, on_record, log)


def replay(records, scheduler, resources, log):
    """The records `scheduler` leaves of these finished trials, replayed one at a time in their order: each trial's
    record cut after the epoch where the scheduler stopped it (whole where it did not)."""
    kept = {}
    tune_trials(replay_trial, [{"record": r} for r in records], scheduler, resources,
                lambda record: kept.__setitem__((record["variant"], record["seed"]), record), log, one_at_a_time=True)
    return [kept[r["variant"], r["seed"]] for r in records if (r["variant"], r["seed"]) in kept]

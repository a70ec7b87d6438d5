"""What an experiment is: the config fields that decide a run's numbers, and when two runs are the same experiment.

A record and a checkpoint keep the whole config (every field, defaults included); two configs are the same
experiment when every field outside WHERE_FIELDS is equal. So a default changed in RunConfig makes the records made
under the old default differ from today's config, visibly. A field added later is absent from older records: it
counts as equal only where ADDED_LATER names the value that reproduces what runs did before the field existed.

Standard library only: the runner and the store judge records without torch.
"""
import json

# where a run happens: these decide how fast it goes, not its numbers (eval_last_epochs: which epochs are tested;
# the tested ones score the same either way)
WHERE_FIELDS = ("device", "data_dir", "checkpoint_dir", "eval_batch_size", "cuda_graphs", "eval_last_epochs")

# field: its value in every run made before the field existed (its behaviour then, with the field's code absent):
# no unaugmented last epochs, no weight average, models built with their default arguments (build(model)), and
# judged on the test set, in float32, uncompiled, untaught, each test image alone
ADDED_LATER = {"clean_epochs": 0, "ema_decay": 0.0, "recalibrate_average": False, "model_args": {}, "split": "test",
               "precision": "float32", "compile_model": False, "teacher": "", "teacher_model": "",
               "distill_temperature": 4.0, "distill_weight": 0.5, "test_time_augment": [], "lr_points": []}

NOT_RECORDED = "not recorded"


def as_json(data):
    """`data` as it comes back from a JSON file (tuples become lists)."""
    return json.loads(json.dumps(data))


def experiment_of(config):
    """The experiment fields of a config dict (a RunConfig's to_dict() or a record's 'config'), as JSON data."""
    return {key: value for key, value in as_json(config).items() if key not in WHERE_FIELDS}


def differences(ours, theirs, added_later=None):
    """'field: ours here, theirs there' for each experiment field where two config dicts differ; a field one side
    lacks is compared at its ADDED_LATER value, and differs when it has none."""
    added_later = ADDED_LATER if added_later is None else added_later
    ours, theirs = experiment_of(ours), experiment_of(theirs)

    def value(config, name):
        return config[name] if name in config else added_later.get(name, NOT_RECORDED)

    return [f"{name}: {value(ours, name)!r} here, {value(theirs, name)!r} there"
            for name in sorted(set(ours) | set(theirs)) if value(ours, name) != value(theirs, name)]


def same_experiment(ours, theirs, added_later=None):
    """Whether two config dicts define the same experiment (see differences)."""
    return not differences(ours, theirs, added_later)

"""What an experiment is (utils.experiment): the fields that decide a run's numbers, and when two configs match."""
from utils.experiment import ADDED_LATER, NOT_RECORDED, WHERE_FIELDS, differences, experiment_of, same_experiment

CONFIG = {"model": "garam_masala", "model_args": {"blocks": ((4, 8), (10,))}, "lr": 0.1, "seed": 1, "device": "cpu",
          "data_dir": "data", "checkpoint_dir": "", "eval_batch_size": 500, "cuda_graphs": True,
          "eval_last_epochs": 0, "clean_epochs": 3}


def test_the_experiment_leaves_out_exactly_where_a_run_happens_and_reads_as_json():
    experiment = experiment_of(CONFIG)
    assert set(experiment) == set(CONFIG) - set(WHERE_FIELDS) == {"model", "model_args", "lr", "seed", "clean_epochs"}
    assert experiment["model_args"] == {"blocks": [[4, 8], [10]]}  # tuples as a JSON record keeps them


def test_where_a_run_happens_never_makes_two_configs_differ_and_anything_else_does():
    moved = {**CONFIG, "device": "cuda", "data_dir": "/elsewhere", "eval_batch_size": 10000, "eval_last_epochs": 3}
    assert same_experiment(CONFIG, moved) and differences(CONFIG, moved) == []
    assert differences(CONFIG, {**CONFIG, "lr": 0.2, "seed": 2}) == ["lr: 0.1 here, 0.2 there", "seed: 1 here, 2 there"]
    assert same_experiment(CONFIG, {**CONFIG, "model_args": {"blocks": [[4, 8], [10]]}})  # as read back from JSON


def test_a_field_one_side_lacks_counts_at_its_added_later_value_and_otherwise_differs():
    older = {k: v for k, v in CONFIG.items() if k != "clean_epochs"}  # a record from before clean_epochs existed
    assert ADDED_LATER["clean_epochs"] == 0
    assert differences(CONFIG, older) == ["clean_epochs: 3 here, 0 there"]
    assert same_experiment({**CONFIG, "clean_epochs": 0}, older)
    newer = {**CONFIG, "label_smoothing": 0.0}  # a field with no value that reproduces older runs
    assert differences(newer, CONFIG) == [f"label_smoothing: 0.0 here, {NOT_RECORDED!r} there"]
    assert same_experiment(newer, CONFIG, added_later={"label_smoothing": 0.0})

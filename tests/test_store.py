"""The store: one record format in every results file, and which records are current, by the full config."""
import pytest

from utils import experiment
from utils.config import RunConfig
from utils.engine import History
from utils.lab.store import add_records
from utils.project import RESULTS_DIR, notebook_stems
from utils.report import RECORD_FIELDS, RECORD_FORMAT, metrics_record
from utils.results import CHOSEN_ON_FILE, is_current, records_in, result_files

RECIPE = RunConfig.from_recipe("05_garam_masala", seed=3, device="cpu")


def stored_record(**config_changes):
    """A record as it is kept, of 05's recipe on seed 3 with the config changed as given."""
    return {"seed": 3, "device": "cpu", "config": {**RECIPE.to_dict(), **config_changes}}


def test_a_fresh_record_has_exactly_the_fields_of_the_format():
    history = History([0.1], [99.0], [0.05], [99.1], [0.01], [1.0], [0.2], 1.5, 0.3)
    record = metrics_record("05_garam_masala", RECIPE, history, 7536, "sweep")
    assert tuple(record) == RECORD_FIELDS and record["format"] == RECORD_FORMAT and record["unknown"] == []
    assert record["config"] == RECIPE.to_dict()  # every field, defaults included
    assert set(record["code"]) == {"commit", "dirty", "utils_sha256"} and record["command"]
    with pytest.raises(ValueError, match="kind='guess' is not allowed"):
        metrics_record("05_garam_masala", RECIPE, history, 7536, "guess")


def test_every_file_under_results_holds_records_of_the_one_format():
    files = result_files()
    assert {path.name for path in files} == {path.name for path in RESULTS_DIR.glob("*.json")} - {CHOSEN_ON_FILE}
    for path in files:
        for record in records_in(path):
            assert set(RECORD_FIELDS) <= set(record) <= set(RECORD_FIELDS) | {"model_sha256"}, path.name
            assert record["format"] == RECORD_FORMAT and record["notebook"] in notebook_stems(), path.name
            assert isinstance(record["config"], dict) and record["config"]["model"] == record["model"]
            top = [name for name in record["unknown"] if "." not in name]
            assert all(record[name] is None for name in top), path.name  # never guessed: None, and listed
            missing = [f"config.{name}" for name in RunConfig.__dataclass_fields__ if name not in record["config"]]
            assert sorted(missing) == sorted(n for n in record["unknown"] if n.startswith("config.")), path.name
            assert (record["code"] is None) == ("code" in record["unknown"])


def test_a_record_made_under_another_default_is_not_current():
    """What an older code would have stored had RunConfig's default momentum been 0.95: today's recipe (momentum at
    today's default) is another experiment, and the store says which field differs."""
    assert is_current(stored_record(), RECIPE.to_dict())
    old_default = stored_record(momentum=0.95)
    assert not is_current(old_default, RECIPE.to_dict())
    assert RECIPE.differences(old_default["config"]) == ["momentum: 0.9 here, 0.95 there"]


def test_where_a_run_happened_decides_no_currentness_but_the_kind_of_device_does():
    elsewhere = stored_record(data_dir="/elsewhere", eval_batch_size=2000, cuda_graphs=False)
    assert is_current(elsewhere, RECIPE.to_dict()) and is_current(elsewhere, RECIPE.to_dict(), "cpu")
    assert not is_current(elsewhere, RECIPE.to_dict(), "cuda")
    assert not is_current(stored_record(seed=4), RECIPE.to_dict())


def test_a_field_added_later_leaves_older_records_current_only_at_the_value_that_reproduces_them(monkeypatch):
    older = stored_record()
    del older["config"]["label_smoothing"]  # as if recorded before the field existed
    assert not is_current(older, RECIPE.to_dict())  # unknown: not assumed
    monkeypatch.setattr(experiment, "ADDED_LATER", {**experiment.ADDED_LATER, "label_smoothing": 0.0})
    assert is_current(older, RECIPE.to_dict())
    assert not is_current(older, {**RECIPE.to_dict(), "label_smoothing": 0.1})
    assert RECIPE.differences({**older["config"], "label_smoothing": 0.1}) == ["label_smoothing: 0.0 here, 0.1 there"]


def test_adding_records_replaces_the_same_run_and_keeps_the_others(tmp_path):
    path = tmp_path / "05_ablation.json"
    first = [{"variant": "base", "seed": 0, "test_acc": [1.0]}, {"variant": "base", "seed": 1, "test_acc": [2.0]}]
    add_records(path, first, lambda old, new: False)

    def same_seed(old, new):
        return old["seed"] == new["seed"]

    again = {"variant": "base", "seed": 0, "test_acc": [3.0]}
    assert add_records(path, [again], same_seed) == [first[1], again]
    assert records_in(path) == [first[1], again]


def test_every_seeds_file_of_a_notebooks_recipe_holds_current_records_only():
    """results/<stem>.seeds.json is the recipe's table: a later sweep skips its seeds and adds to it."""
    from utils.results import seeds_path

    for stem in notebook_stems():
        for record in records_in(seeds_path(stem)):
            assert is_current(record, RunConfig.from_recipe(stem, seed=record["seed"], device="cpu").to_dict(),
                              "cpu"), (stem, record["seed"])  # every published sweep ran on the CPU

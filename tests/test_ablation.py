import ast
import re

import pytest

from utils import ablation, series
from utils.config import RunConfig
from utils.inspect import count_parameters
from utils.metrics import write_json
from utils.models import build


def test_every_variant_builds_a_valid_config_and_model():
    for name, (config_changes, model_changes) in ablation.VARIANTS.items():
        config = RunConfig(**{**ablation.BASE_CONFIG, **config_changes})
        model = build(config.model, **model_changes)
        assert count_parameters(model) > 0, name
    assert count_parameters(build("smallest")) < 4000


def test_the_recipe_is_a_variant_under_4000_parameters_and_the_notebook_trains_it():
    name, changes = ablation.RECIPE_NAME, ablation.RECIPE_CHANGES
    assert ablation.VARIANTS[name] == (changes, {})
    assert ablation.variant_config(name, 3).to_dict() == RunConfig(**ablation.RECIPE_06, seed=3, device="cpu").to_dict()
    assert count_parameters(build(ablation.RECIPE_06["model"])) < 4000
    # 06's parameter defaults must not quietly override the recipe it imports
    defaults = {k: ast.literal_eval(v) for k, v in series.notebook_parameters("06_smallest").items()}
    assert {k: defaults[k] for k in ("epochs", "batch_size", "lr")} == {
        k: ablation.RECIPE_06[k] for k in ("epochs", "batch_size", "lr")}


def test_a_knob_added_later_at_its_default_leaves_older_records_current():
    current = ablation.variant_definition("base", 0)
    older = {**current, "config": {k: v for k, v in current["config"].items() if k != "ema_decay"}}
    records = [{"variant": "base", "seed": 0, "definition": older}]
    assert ablation.current_records(records) == records
    older["config"]["ema_decay"] = 0.5  # but a record that trained with another value is stale
    assert ablation.current_records(records) == []


def test_a_record_counts_only_while_its_variant_is_defined_the_same(tmp_path):
    def record(variant, definition):
        return {"variant": variant, "seed": 0, "definition": definition}

    current = record("base", ablation.variant_definition("base", 0))
    changed = ablation.variant_definition("base", 0)
    changed["config"]["lr"] = 0.5  # as if BASE_CONFIG had been edited after this run
    records = [current, record("base", changed), record("a variant since removed", changed)]
    assert ablation.current_records(records) == [current]
    path = tmp_path / "ablation.json"
    write_json(records, path)
    lines = []
    assert ablation.run_ablation([0], ["base"], path=path, log=lines.append) == records  # nothing left to run
    assert lines == [f"0 runs to do, 1 already in {path}, 2 stale ones ignored"]
    assert ablation.load_ablation(path) == [current]


def test_unknown_variant_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown variant"):
        ablation.run_ablation([0], ["bigger"], path=tmp_path / "a.json")


WIDER = "three wider convs after the pool: 4-8 | 12-12-10"  # a variant whose name holds a '|'


def test_table_compares_each_variant_with_the_base():
    def record(variant, seed, last3):
        return {"variant": variant, "seed": seed, "params": 3756, "min_last_3": last3, "best_test_acc": last3 + 0.1,
                "target_reached": last3 >= 99.4}

    table = ablation.ablation_table([record("base", 0, 99.45), record("base", 1, 99.41),
                                     record("no augmentation", 0, 99.2), record("no augmentation", 1, 99.3),
                                     record(WIDER, 0, 99.3), record("batch 128", 7, 99.0)])
    lines = table.splitlines()
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 9 for line in lines)  # cell borders: unescaped '|' only
    assert lines[2] == "| base | 3,756 | 0, 1 | 99.43 % | 99.41 % | 99.53 % | 2/2 | +0.00 |"
    assert lines[3].startswith("| three wider convs after the pool: 4-8 \\| 12-12-10 | 3,756 | 0 |")  # escaped
    assert lines[3].endswith("| 0/1 | -0.15 |")  # against the base's seed 0 only, not its mean over 0 and 1
    assert lines[4].startswith("| no augmentation | 3,756 | 0, 1 | 99.25 % | 99.20 % |")  # in VARIANTS' order
    assert lines[4].endswith("| 0/2 | -0.18 |")
    assert lines[5].endswith("| 0/1 | – |")  # no seed in common with the base: no comparison

"""Each notebook's recipe is one literal (utils/recipes.py): equal, field by field, to the recipe its records ran."""
import ast

import pytest

from utils.config import RunConfig
from utils.project import ROOT, notebook_stems
from utils.recipes import RECIPES, with_rules
from utils.results import is_current, records_in, seeds_path, single_path

# The recipes as they stood when they were merged from shared pieces (05's first recipe, 06's ablation base, the SiLU
# recipe's changes, ...), written out once here: the literals must give the same configs, so that every record made
# from the merged definitions stays current.
_SEED = dict(epochs=15, batch_size=128, lr=0.015, optimizer="sgd", scheduler="none")
_FIRST_05 = dict(model="garam_masala", epochs=15, batch_size=128, lr=0.1, optimizer="sgd", scheduler="onecycle",
                 pct_start=0.2, augment={"rotate": 7.0})
_RECIPE_05 = {**_FIRST_05, **dict(clean_epochs=3, ema_decay=0.998, recalibrate_average=True, weight_decay=1e-4)}
_BASE_06 = dict(_FIRST_05, model="smallest", batch_size=32, lr=0.05)
_CHANGES_06 = {**dict(model="smallest_silu", clean_epochs=3, ema_decay=0.9995), "weight_decay": 1e-4,
               "recalibrate_average": True}
_FIRST_07 = {**_RECIPE_05, "epochs": 8, "batch_size": 256, "lr": 0.2, "clean_epochs": 4}
MERGED = {
    "01_baseline": dict(_SEED, model="baseline"),
    "02_batchnorm": dict(_SEED, model="batchnorm"),
    "03_dropout": dict(_SEED, model="dropout"),
    "04_param_diet": dict(_SEED, model="param_diet"),
    "05_garam_masala": _RECIPE_05,
    "06_smallest": {**_BASE_06, **_CHANGES_06,
                    "model_args": {"blocks": ((4, 8), (11, 11, 11, 11)), "deskew": True}},
    "07_speedrun": {**_FIRST_07, "epochs": 10, "batch_size": 192, "lr": 0.2, "eval_last_epochs": 3,
                    "precision": "bfloat16", "compile_model": True},
    "08_taught": {**_BASE_06, **_CHANGES_06, "model_args": {"blocks": ((4, 8), (11, 11, 11, 11)), "deskew": True},
                  "teacher": "results/05_garam_masala.pt", "teacher_model": "garam_masala", "distill_weight": 0.2},
}


def test_there_is_one_recipe_per_notebook():
    assert sorted(RECIPES) == notebook_stems() == sorted(MERGED)


@pytest.mark.parametrize("stem", sorted(MERGED))
def test_each_literal_recipe_gives_the_config_of_its_merged_definition(stem):
    ours = RunConfig.from_recipe(stem, device="cpu").to_dict()
    merged = RunConfig(**with_rules(MERGED[stem], {"device": "cpu"})).to_dict()
    assert {name: (ours[name], merged[name]) for name in ours if ours[name] != merged[name]} == {}


@pytest.mark.parametrize("stem", notebook_stems())
def test_the_published_run_and_every_seed_are_runs_of_the_recipe_as_it_reads_now(stem):
    records = records_in(single_path(stem)) + records_in(seeds_path(stem))
    assert records, stem
    for record in records:
        config = RunConfig.from_recipe(stem, seed=record["seed"], device="cpu").to_dict()
        assert is_current(record, config), (stem, record["seed"])


def test_each_recipe_is_one_literal_whose_ingredients_are_commented():
    """The notebooks' recipes from 05 on are dict(...) literals with no name merged in; every line that sets an
    ingredient away from RunConfig's default carries a comment, unless an earlier recipe commented it already."""
    source = (ROOT / "utils" / "recipes.py").read_text()
    lines = source.splitlines()
    defaults = RunConfig(model="baseline", device="cpu").to_dict()
    commented = set()
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("RECIPE_05", "RECIPE_06", "RECIPE_07", "RECIPE_08")):
            continue
        assert isinstance(node.value, ast.Call) and node.value.func.id == "dict" and not node.value.args, \
            node.targets[0].id
        for keyword in node.value.keywords:
            assert keyword.arg is not None, f"{node.targets[0].id} merges another dict in"
            value = ast.literal_eval(keyword.value)
            if keyword.arg in commented or value == defaults[keyword.arg]:
                continue
            assert "#" in lines[keyword.lineno - 1], f"{node.targets[0].id}: {keyword.arg} has no comment"
            commented.add(keyword.arg)

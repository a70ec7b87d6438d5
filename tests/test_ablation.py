"""Ablations: every variant is a valid experiment, records count only while their variant is unchanged, tables."""
import re

import pytest
import torch
from scipy import stats

from utils.config import RunConfig
from utils.files import read_json, write_json
from utils.lab import ablation
from utils.lab.ablation_plans import ABLATIONS, NOTEBOOK_NAME_06, RECIPE_NAME_06
from utils.lab.scale import Resources, SchedulingError
from utils.lab.variants import ablation as ablation_of
from utils.lab.variants import load_ablation
from utils.models import build, count_parameters
from utils.recipes import RECIPES
from utils.results import ablation_path, records_in
from utils.lab.tables import ablation_table


@pytest.mark.parametrize("stem", list(ABLATIONS))
def test_every_variant_is_a_valid_config_whose_model_gives_ten_logits(stem):
    plan = ablation_of(stem)
    for name in plan.variants:
        config = plan.config(name, seed=0)
        model = build(config.model, **config.model_args).eval()
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10), name


@pytest.mark.parametrize("stem", list(ABLATIONS))
def test_variants_have_short_ids_and_every_stored_record_names_one(stem):
    plan = ablation_of(stem)
    short_id = r"[a-z0-9][a-z0-9.-]{0,31}"
    assert all(re.fullmatch(short_id, name) for name in plan.variants)
    assert len(set(plan.titles.values())) == len(plan.titles)
    stored = records_in(ablation_path(stem))
    current = plan.current(stored)
    assert {r["variant"] for r in current} == set(plan.variants)  # every variant has run as it is defined now
    # the rest ran under earlier definitions of the ablation (07's, on its earlier recipes): kept, ignored
    assert all(re.fullmatch(short_id, r["variant"]) for r in stored)
    assert len(stored) - len(current) == {"07_speedrun": 47}.get(stem, 0)


def test_stored_records_were_trained_with_the_models_their_variants_build_now():
    for stem in ABLATIONS:
        plan = ablation_of(stem)
        for record in load_ablation(stem):
            config = plan.config(record["variant"], record["seed"])
            assert count_parameters(build(config.model, **config.model_args)) == record["params"], record["variant"]


def test_06_ablation_holds_the_notebooks_recipe_over_seeds_0_to_9_and_each_ingredient_left_out():
    plan, records = ablation_of("06_smallest"), load_ablation("06_smallest")

    def seeds_and_params(variant):
        runs = [r for r in records if r["variant"] == variant]
        return {r["seed"] for r in runs}, {r["params"] for r in runs}

    assert plan.titles["recipe-06-11-wide-deskew"] == NOTEBOOK_NAME_06
    recipe = plan.config("recipe-06-11-wide-deskew", 3).experiment()
    assert recipe == RunConfig.from_recipe("06_smallest", seed=3).experiment()
    assert seeds_and_params("recipe-06-11-wide-deskew") == (set(range(10)), {4605})
    assert plan.titles["recipe-06"] == RECIPE_NAME_06  # the 3,948 recipe the searches start from
    assert seeds_and_params("recipe-06") == (set(range(10)), {3948})
    left_out = {"notebook-relu": {"model"}, "notebook-no-clean-epochs": {"clean_epochs"},
                "notebook-no-average": {"ema_decay", "recalibrate_average"}, "notebook-no-weight-decay": {"weight_decay"},
                "recipe-06-11-wide": {"model_args"}, "recipe-06-deskew": {"model_args"}}  # no deskewing; 10 wide
    for variant, ingredient in left_out.items():
        changed = plan.config(variant, 3).experiment()
        assert {key for key in recipe if recipe[key] != changed[key]} == ingredient, variant
        assert seeds_and_params(variant)[0] >= {0, 1, 2}, variant
    assert plan.config("recipe-06-11-wide-deskew", 3).model_args == {"blocks": ((4, 8), (11, 11, 11, 11)),
                                                                     "deskew": True}
    assert plan.config("recipe-06-11-wide", 3).model_args == {"blocks": ((4, 8), (11, 11, 11, 11))}
    assert plan.config("recipe-06-deskew", 3).model_args == {"deskew": True}


def test_05_ablation_leaves_out_one_ingredient_of_the_notebooks_recipe_at_a_time():
    plan = ablation_of("05_garam_masala")
    assert plan.base == RECIPES["05_garam_masala"]
    recipe = plan.config("base", 0).experiment()
    defaults = RunConfig(model="garam_masala").experiment()
    for name in list(plan.variants)[1:]:
        variant = plan.config(name, 0).experiment()
        differ = {key for key in recipe if recipe[key] != variant[key]}
        assert differ in ({"clean_epochs"}, {"weight_decay"}, {"ema_decay", "recalibrate_average"}), name
        assert all(variant[key] == defaults[key] for key in differ)  # left out: back to the default


def test_a_record_counts_only_while_its_variant_is_defined_the_same(tmp_path):
    config = ablation_of("06_smallest").config("base", 0).to_dict()
    current = {"variant": "base", "seed": 0, "config": config}
    edited = {**current, "config": {**config, "lr": 0.5}}  # as if the base had been edited
    removed = {**current, "variant": "a-variant-since-removed"}
    records = [current, edited, removed]
    assert ablation_of("06_smallest").current(records) == [current]
    path = tmp_path / "ablation.json"
    write_json(records, path)
    lines = []
    assert ablation.run_ablation("06_smallest", [0], ["base"], path=path, log=lines.append) == records
    assert lines == [f"0 runs to do, 1 already in {path}, 2 stale ones ignored"]
    assert load_ablation("06_smallest", path) == [current]


def test_bad_requests_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="unknown variant"):
        ablation.run_ablation("06_smallest", [0], ["bigger"], path=tmp_path / "a.json")
    with pytest.raises(SchedulingError, match="--cpus-per-run 0: give a whole number"):
        ablation.run_ablation("06_smallest", [0], ["base"], Resources(cpus_per_run=0), path=tmp_path / "a.json")
    with pytest.raises(ValueError, match="no ablation for '01_baseline'"):
        ablation.run_ablation("01_baseline", [0])
    assert ablation.main(["06", "--cpus-per-run", "0"]) == 2
    assert not (tmp_path / "a.json").exists()


def test_ablation_files_are_named_by_notebook_number():
    assert ablation_path("06_smallest").name == "06_ablation.json"
    assert read_json(ablation_path("06_smallest"))  # the committed file is where the name says


TITLES = {"base": "base", "wider": "three wider convs after the pool: 4-8 | 12-12-10",  # a title holding a '|'
          "no-augment": "no augmentation", "batch-128": "batch 128"}
MACHINE = {"device": "cpu", "gpu": None, "cpu_capability": "AVX2", "threads": 1}
CODE = {"commit": "0123456789abcdef", "dirty": False, "utils_sha256": "feed"}


def test_table_compares_each_variant_with_the_base_on_the_same_seeds():
    def record(variant, seed, last3):
        return {"variant": variant, "seed": seed, "params": 3756, "test_acc": [98.0, last3 + 0.05, last3, last3],
                "best_test_acc": last3 + 0.1, "target_reached": last3 >= 99.4, **MACHINE,
                "code": None if seed == 7 else CODE}

    table = ablation_table([record("base", 0, 99.45), record("base", 1, 99.41),
                            record("no-augment", 0, 99.2), record("no-augment", 1, 99.3),
                            record("wider", 0, 99.3), record("batch-128", 7, 99.0)], TITLES)
    lines = table.splitlines()
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 11 for line in lines)  # cell borders: unescaped '|' only
    assert lines[2] == ("| base | 3,756 | 0, 1 | 99.43 ± 0.03 % | 99.41 % | 99.53 % | 2/2 | +0.00 | cpu AVX2 ×1 "
                        "| 0123456 |")
    assert lines[3].startswith("| three wider convs after the pool: 4-8 \\| 12-12-10 | 3,756 | 0 |")  # escaped
    assert lines[3].endswith("| 0/1 | -0.15 | cpu AVX2 ×1 | 0123456 |")  # against the base's seed 0 only
    assert lines[4].startswith("| no augmentation | 3,756 | 0, 1 | 99.25 ± 0.07 % | 99.20 % |")  # in table order
    assert lines[3].split(" | ")[3] == "99.30 %"  # one seed: no sd
    assert lines[5].endswith("| 0/1 | – | cpu AVX2 ×1 | unknown |")  # no seed in common with the base
    interval = stats.ttest_rel([99.2, 99.3], [99.45, 99.41]).confidence_interval(0.95)  # paired, as the judge's
    assert f"| -0.18 ({interval.low:+.2f} to {interval.high:+.2f}) |" in lines[4]


def test_the_table_can_show_each_variants_fit_time():
    runs = [{"variant": "base", "seed": seed, "params": 7536, "test_acc": [99.4, 99.45, 99.5], "best_test_acc": 99.5,
             "target_reached": True, **MACHINE, "threads": 2, "code": {**CODE, "dirty": True}, "fit_seconds": seconds}
            for seed, seconds in ((0, 70.0), (1, 72.0))]
    lines = ablation_table(runs, {"base": "base"}, seconds=True).splitlines()
    assert lines[0].endswith("| machine | code | fit() s |")
    assert lines[2].endswith("| cpu AVX2 ×2 | 0123456+ | 71.0 |")
    assert "fit() s" not in ablation_table(runs, {"base": "base"})

import dataclasses
import re
import types

import pytest

from utils.lab import bench, speedrun
from utils.recipes import RECIPE_07


@pytest.mark.slow
def test_bench_alternates_both_paths_and_ends_with_the_ratio(mnist_dir, capsys):
    bench.main(["--steps", "3", "--repeats", "1", "--workers", "0", "--data-dir", str(mnist_dir)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("(a) DataLoader, 0 workers") for line in lines)
    assert any(line.startswith("(b) device-resident") for line in lines)
    assert re.fullmatch(r"ratio \d+\.\d{3}", lines[-1])


def test_recipe_cost_times_both_recipes_alternately(small_mnist, capsys):
    rotated = dataclasses.replace(small_mnist, augment={"rotate": 7.0})
    medians = bench.recipe_cost(rotated, repeats=2)
    assert list(medians) == ["05's first recipe", "05's recipe"] and all(s > 0 for s in medians.values())
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" epoch")[0].strip() for line in lines[:4]] == ["05's first recipe", "05's recipe"] * 2
    assert re.fullmatch(r"median epoch: first recipe \d+\.\d\d s, recipe \d+\.\d\d s: cost [+-]\d+\.\d %",
                        lines[-1])


def bench_record(stem, seed, fit_seconds, reached=True):
    """A speedrun bench record, as far as utils.lab.speedrun reads one."""
    return {"notebook": stem, "seed": seed, "fit_seconds": fit_seconds, "target_reached": reached,
            "test_acc": [99.0, 99.45, 99.41 if reached else 99.38, 99.5], "gpu": None, "device": "cpu",
            "cpu_capability": "AVX2", "threads": 2, "cpu": "AMD EPYC", "torch": "2.14.1",
            "code": {"commit": "0123456789", "dirty": False}, "command": "python -m utils.lab.bench --speedrun"}


def test_the_speedrun_ratio_is_the_median_over_pairs_of_07_over_05():
    records = [bench_record("05_garam_masala", 0, 100.0), bench_record("07_speedrun", 0, 40.0),
               bench_record("07_speedrun", 1, 30.0), bench_record("05_garam_masala", 1, 100.0),
               bench_record("05_garam_masala", 2, 50.0), bench_record("07_speedrun", 2, 25.0, reached=False),
               bench_record("05_garam_masala", 3, 80.0)]  # seed 3 has no pair: it does not count
    assert list(speedrun.pairs_of(records)) == [0, 1, 2]
    assert speedrun.ratio(records) == 0.4 and speedrun.ratio(records[:1]) is None
    table = speedrun.speedrun_table(records)
    assert "| 2 | 50.0 | 99.41 % | 25.0 | 99.38 % (missed) | 0.500 |" in table
    assert "**Ratio 0.400** (median over 3 pairs; cpu AVX2 ×2" in table
    assert "`python -m utils.lab.bench --speedrun`" in table


def test_the_speedrun_needs_three_pairs_and_measures_both_recipes_alternately(monkeypatch, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--speedrun", "--seeds", "0-1"])
    assert stopped.value.code == 2 and "at least 3 pairs" in capsys.readouterr().err
    ran = []

    def train(config, kind, notebook):  # each recipe's config as measure() builds it; no training
        ran.append((notebook, config.seed, config.epochs))
        record = bench_record(notebook, config.seed, 100.0 if notebook == "05_garam_masala" else 35.0)
        return types.SimpleNamespace(record=record)

    monkeypatch.setattr("utils.lab.training.train", train)
    records = speedrun.measure([4, 5, 6], "cpu", "data", log=lambda *args, **kwargs: None)
    assert [(stem, seed) for stem, seed, _ in ran] == [("05_garam_masala", 4), ("07_speedrun", 4),
                                                       ("07_speedrun", 5), ("05_garam_masala", 5),
                                                       ("05_garam_masala", 6), ("07_speedrun", 6)]
    assert {stem: epochs for stem, _, epochs in ran} == {"05_garam_masala": 15, "07_speedrun": RECIPE_07["epochs"]}
    assert speedrun.ratio(records) == 0.35


def test_the_bench_file_keeps_one_measurement_per_machine_and_kernels(tmp_path):
    from utils.lab.store import replace_bench
    from utils.results import bench_path, records_in

    def measurement(capability, seconds_07):
        return [dict(bench_record(stem, seed, 100.0 if stem == "05_garam_masala" else seconds_07),
                     cpu_capability=capability) for seed in range(3) for stem in speedrun.PAIR]

    replace_bench("07_speedrun", measurement("AVX2", 60.0), results_dir=tmp_path)
    replace_bench("07_speedrun", measurement("AVX512", 48.0), results_dir=tmp_path)
    replace_bench("07_speedrun", measurement("AVX512", 45.0), results_dir=tmp_path)  # its own kernels' again
    stored = records_in(bench_path("07_speedrun", tmp_path))
    assert sorted({(r["cpu_capability"], r["fit_seconds"]) for r in stored if r["notebook"] == "07_speedrun"}) == [
        ("AVX2", 60.0), ("AVX512", 45.0)]
    table = speedrun.speedrun_table(stored)
    assert "**Ratio 0.600** (median over 3 pairs; cpu AVX2 ×2" in table
    assert "**Ratio 0.450** (median over 3 pairs; cpu AVX512 ×2" in table

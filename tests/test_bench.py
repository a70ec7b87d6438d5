import dataclasses
import re

from utils import bench


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

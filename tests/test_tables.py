"""The Markdown tables (utils.tables, utils.lab.tables, utils.recipes' recipe table): the results row, a recipe's
table, provenance, cells that stay cells."""
from utils.config import RunConfig
from utils.recipes import ALWAYS_SHOWN, INGREDIENTS, escape, ingredient_value, recipe_table
from utils.lab.tables import provenance_table, results_table
from utils.tables import code_short

RECORD = {"notebook": "06_smallest", "model": "smallest_silu", "params": 4605, "epochs": 15, "seed": 1,
          "best_test_acc": 99.47, "test_acc": [99.0] * 12 + [99.45, 99.47, 99.45], "first_epoch_at_target": 7,
          "target_reached": True, "epoch_seconds": [19.0, 21.0], "gpu": None, "device": "cpu",
          "cpu_capability": "AVX2", "threads": 2, "command": "python -m utils.lab.series run 06",
          "code": {"commit": "ad0ccdf1234", "dirty": False, "utils_sha256": "beef"}}


def test_a_results_row_links_the_notebook_and_judges_it_by_its_last_three_epochs():
    row = results_table([RECORD]).splitlines()[2]
    assert row == ("| [06_smallest](notebooks/06_smallest.ipynb) | `smallest_silu` | 4,605 | 15 | 1 | 99.47 % | 99.45 % "
                   "| 7 | yes | 20.0 | cpu AVX2 ×2 | ad0ccdf |")


def test_the_code_is_the_commit_marked_when_dirty_else_the_hash_else_unknown():
    assert code_short(RECORD) == "ad0ccdf"
    assert code_short({"code": {"commit": "ad0ccdf1234", "dirty": True, "utils_sha256": "beef"}}) == "ad0ccdf+"
    assert code_short({"code": {"commit": None, "dirty": None, "utils_sha256": "beef1234567"}}) == "utils beef123"
    assert code_short({"code": None}) == "unknown"


def test_a_recipe_table_shows_every_ingredient_away_from_its_default_with_what_it_does():
    config = RunConfig.from_recipe("06_smallest", device="cpu").to_dict()
    defaults = RunConfig(model=config["model"], device="cpu").to_dict()
    rows = recipe_table(config, defaults).splitlines()
    shown = [row.split(" | ")[0].lstrip("| ") for row in rows[2:] if row.startswith("| ")]
    # in INGREDIENTS' order: the basic ones, momentum (SGD's), and the recipe's own; pct_start stays at its default
    assert shown == ["model", "epochs", "batch_size", "optimizer", "lr", "momentum", "scheduler", "weight_decay",
                     "augment", "clean_epochs", "ema_decay", "recalibrate_average"]
    assert set(ALWAYS_SHOWN) <= set(shown) <= set(INGREDIENTS)
    assert rows[2].startswith("| model | `smallest_silu` blocks=((4, 8), (11, 11, 11, 11)), deskew=True |")
    assert "| augment | rotation ±7° | random rotation" in "\n".join(rows)
    assert rows[-1] == "seed 1, device cpu, MNIST in `data`"


def test_a_value_with_a_bar_stays_in_its_cell():
    assert escape("4-8 | 10") == r"4-8 \| 10"
    assert ingredient_value("augment", {"augment": {"rotate": 0.0, "shift": 0.1, "scale": 0.0}}) == "shift ±10%"
    assert ingredient_value("augment", {"augment": {}}) == "none"
    table = provenance_table({"results/a.json": [RECORD, {**RECORD, "command": "x | y", "code": None}]})
    assert table.splitlines()[2] == ("| `results/a.json` | 2 | `python -m utils.lab.series run 06`<br>`x \\| y` "
                                     "| ad0ccdf, unknown | cpu AVX2 ×2 |")

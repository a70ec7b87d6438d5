"""The textbook's read-only view of results/: which file holds what, and the tables the lab publishes."""
import pytest

from utils.files import read_json
from utils.project import RESULTS_DIR, RESULTS_README
from utils.results import (CHOSEN_ON_FILE, ablation_section, chosen_on, published_section, records_in, seeds_files,
                           seeds_label, seeds_path)


def test_a_section_is_what_stands_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- ablation-05:begin -->\n| a | b |\n|---|---|\n<!-- ablation-05:end -->\nbottom\n")
    assert published_section(ablation_section("05_garam_masala"), readme) == "| a | b |\n|---|---|"
    with pytest.raises(ValueError, match=r"README\.md has no section 'speedrun'"):
        published_section("speedrun", readme)


def test_every_ablation_a_notebook_shows_is_published():
    for stem in ("05_garam_masala", "06_smallest", "07_speedrun", "08_taught"):
        assert published_section(ablation_section(stem), RESULTS_README).startswith("| variant | params |"), stem
    assert "**Ratio" in published_section("speedrun", RESULTS_README)


def test_the_seeds_files_are_titled_by_notebook_and_label(tmp_path):
    path = seeds_path("05_garam_masala", "first-recipe", tmp_path)
    assert path.name == "05_garam_masala.first-recipe.seeds.json"
    assert seeds_label("05_garam_masala", path) == "05_garam_masala (first recipe)"
    assert records_in(path) == [] and seeds_files(tmp_path) == {}  # absent: no records, no table
    path.write_text('[{"seed": 0}]')
    assert seeds_files(tmp_path) == {"05_garam_masala (first recipe)": [{"seed": 0}]}


def test_every_recipe_that_chosen_on_names_is_a_seeds_table_title():
    """A misspelt or stale title would fall back to "the test set" silently: a false claim in a seeds table."""
    named = read_json(RESULTS_DIR / CHOSEN_ON_FILE)
    assert set(named) <= set(seeds_files()), sorted(set(named) - set(seeds_files()))
    assert all(chosen_on(title) == text for title, text in named.items())

import pytest

from utils import ablation
from utils.config import RunConfig
from utils.inspect import count_parameters
from utils.models import build


def test_every_variant_builds_a_valid_config_and_model():
    for name, (config_changes, model_changes) in ablation.VARIANTS.items():
        RunConfig(**{**ablation.BASE_CONFIG, **config_changes})
        model = build("smallest", **model_changes)
        assert count_parameters(model) > 0, name
    assert count_parameters(build("smallest")) < 4000


def test_unknown_variant_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown variant"):
        ablation.run_ablation([0], ["bigger"], path=tmp_path / "a.json")


def test_table_compares_each_variant_with_the_base():
    def record(variant, seed, last3):
        return {"variant": variant, "seed": seed, "params": 3756, "min_last_3": last3, "best_test_acc": last3 + 0.1,
                "target_reached": last3 >= 99.4}

    table = ablation.ablation_table([record("base", 0, 99.45), record("base", 1, 99.41),
                                     record("no augmentation", 0, 99.2), record("no augmentation", 1, 99.3)])
    lines = table.splitlines()
    assert lines[2] == "| base | 3,756 | 0, 1 | 99.43 % | 99.41 % | 99.53 % | 2/2 | +0.00 |"
    assert lines[3].startswith("| no augmentation | 3,756 | 0, 1 | 99.25 % | 99.20 % |")
    assert lines[3].endswith("| 0/2 | -0.18 |")

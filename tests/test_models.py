import hashlib

import pytest
import torch
import torch.nn as nn

from utils.config import RunConfig
from utils.inspection import receptive_field, summary_text
from utils.metrics import PARAM_LIMIT
from utils.models import DOWNSAMPLES, MODELS, build, count_parameters

# The seed model's torchsummary rows as published with it (parameters, output shape) and its BN total.
SEED_CONVS = [(80, (8, 26, 26)), (876, (12, 24, 24)), (1744, (16, 22, 22)), (136, (8, 11, 11)), (876, (12, 9, 9)),
              (1744, (16, 7, 7)), (2900, (20, 5, 5)), (3620, (20, 3, 3)), (1810, (10, 1, 1))]


def conv_outputs(model):
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    model(torch.zeros(2, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    return shapes


def test_seed_model_matches_the_seed_table():
    model = build("dropout")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [sum(p.numel() for p in c.parameters()) for c in convs] == [p for p, _ in SEED_CONVS]
    assert all(c.bias is not None for c in convs)  # the seed keeps every bias: 80 = 72 + 8, ...
    assert conv_outputs(model) == [s for _, s in SEED_CONVS]
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert bn == 224
    assert count_parameters(model) == 14010


def test_torchsummary_reports_the_seed_rows_on_the_cpu():
    text = summary_text(build("dropout"))
    assert "Total params: 14,010" in text
    for params, (c, h, w) in SEED_CONVS:
        assert f"[-1, {c}, {h}, {w}]" in text and f"{params:,}" in text


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_gives_ten_logits_and_torchsummary_agrees_on_its_size(name):
    model = build(name)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert f"Total params: {count_parameters(model):,}" in summary_text(model)


def test_the_diet_and_the_headline_fit_the_budget():
    assert count_parameters(build("param_diet")) < PARAM_LIMIT
    assert count_parameters(build("garam_masala")) < PARAM_LIMIT
    assert all(c.bias is None for c in build("garam_masala").modules() if isinstance(c, nn.Conv2d))


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="known models: baseline, batchnorm, dropout, garam_masala"):
        build("resnet")


def test_the_old_name_of_03s_model_still_builds_it():
    torch.manual_seed(0)
    old = build("seed")
    torch.manual_seed(0)
    new = build("dropout")
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    assert RunConfig(model="seed").model == "dropout"


def test_separable_blocks_are_depthwise_then_pointwise_and_cost_what_the_formula_says():
    model = build("smallest", blocks=((4, 8), (24, 24)), separable=True)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # full 3x3 convs before the pool; after it, depthwise 3x3 (groups = channels) then 1x1
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.groups) for c in convs] == [
        (1, 4, 3, 1), (4, 8, 3, 1), (8, 8, 3, 8), (8, 24, 1, 1), (24, 24, 3, 24), (24, 24, 1, 1), (24, 10, 1, 1)]
    bn = 2 * (4 + 8 + 8 + 24 + 24 + 24)
    assert count_parameters(model) == 9 * 4 + 9 * 4 * 8 + 9 * 8 + 8 * 24 + 9 * 24 + 24 * 24 + 24 * 10 + bn
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_separable_n_makes_only_the_first_n_convs_after_the_pool_separable():
    model = build("smallest", blocks=((4, 8), (10, 10, 10), (10,)), separable=2)
    convs = [(c.in_channels, c.out_channels, c.kernel_size[0], c.groups) for c in model.modules()
             if isinstance(c, nn.Conv2d)]
    assert convs == [(1, 4, 3, 1), (4, 8, 3, 1), (8, 8, 3, 8), (8, 10, 1, 1), (10, 10, 3, 10), (10, 10, 1, 1),
                     (10, 10, 3, 1), (10, 10, 3, 1), (10, 10, 1, 1)]
    for bad in (0, -1, 1.5, "1"):
        with pytest.raises(ValueError, match="separable must be True, False or a number of convs >= 1"):
            build("smallest", separable=bad)


@pytest.mark.parametrize("downsample, sides, params", [("pool", [26, 24, 12, 10, 8, 6, 4], 7536),
                                                       ("stride", [26, 12, 10, 8, 6, 4], 7536),
                                                       ("pool-first", [26, 13, 11, 9, 7, 5, 3], 7536),
                                                       ("space-to-depth", [14, 12, 10, 8, 6, 4, 2], 7752)])
def test_05s_model_downsamples_four_ways(downsample, sides, params):
    model = build("garam_masala", downsample=downsample)
    assert count_parameters(model) == params and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert [row.size_out for row in receptive_field(model)][:len(sides)] == sides
    assert receptive_field(model)[-1].rf_out >= 27  # the GAP still sees (almost) the whole digit


# SHA-256 (first 12 hex digits) of the initial weights each option draws with seed 0: those its records were made
# with ('pool': 05's runs; the others: 07's), so that a record repeats from its config
INITIAL_WEIGHTS_SHA256 = {"pool": "969a40f9ae91", "stride": "9dcbde44a629", "pool-first": "23cf50fcb6e3",
                          "space-to-depth": "daaa7ebb078c"}


@pytest.mark.parametrize("downsample", DOWNSAMPLES)
def test_each_downsampling_draws_the_initial_weights_its_records_were_made_with(downsample):
    torch.manual_seed(0)
    model = build("garam_masala", downsample=downsample)
    weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
    assert hashlib.sha256(weights).hexdigest()[:12] == INITIAL_WEIGHTS_SHA256[downsample]


def test_an_unknown_downsampling_names_the_ones_there_are():
    with pytest.raises(ValueError, match="downsample must be one of"):
        build("garam_masala", downsample="avgpool")


def test_shared_convs_apply_one_weight_at_several_depths_each_with_its_own_batchnorm():
    model = build("smallest", blocks=((4, 8), (14, 14, 14, 14)), shared=True)
    blocks = [layer for layer in model if isinstance(layer, torch.nn.Sequential)]
    convs, norms = [block[0] for block in blocks], [block[1] for block in blocks]
    assert len(convs) == 6 and len(set(convs)) == 4 and convs[3] is convs[4] is convs[5]  # 14 -> 14, three times
    assert len(set(norms)) == 6
    assert count_parameters(model) == 3372 == count_parameters(build("smallest", blocks=((4, 8), (14, 14)))) + 2 * 28
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="shared and separable"):
        build("smallest", shared=True, separable=True)
    with pytest.raises(ValueError, match="shared must be True or False"):
        build("smallest", shared=1)


def test_shared_convs_of_mixed_widths_share_per_width():
    model = build("smallest", blocks=((4, 8), (10, 10, 12, 12, 10, 10)), padding=1, shared=True)
    convs = [layer[0] for layer in model if isinstance(layer, torch.nn.Sequential)]
    assert convs[7] is convs[3] and convs[5] is not convs[3]  # 10 -> 10 twice, one 12 -> 12 between
    assert len(set(convs)) == 7 and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_three_stages_refuses_a_layout_that_leaves_no_pixel():
    """Unpadded, each conv takes 2 pixels: one per resolution leaves 28 -> 26 -> 13 -> 11 -> 5 -> 3; two leave none."""
    assert build("three_stages", padding=0, convs=1)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    for convs in (2, 3):
        with pytest.raises(ValueError, match=f"{convs} unpadded convs per resolution leave no pixel"):
            build("three_stages", padding=0, convs=convs)

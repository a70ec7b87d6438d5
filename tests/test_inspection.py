import pytest
import torch
import torch.nn as nn

from utils.config import RunConfig
from utils.engine import build_model
from utils.inspection import main, receptive_field
from utils.models import MODELS, Classifier, build, conv_block, count_parameters

# The seed model's receptive-field table as published with it (kernel, padding, stride, in, out, RF).
SEED_RF = [(3, 0, 1, 28, 26, 3), (3, 0, 1, 26, 24, 5), (3, 0, 1, 24, 22, 7), (2, 0, 2, 22, 11, 8),
           (1, 0, 1, 11, 11, 8), (3, 0, 1, 11, 9, 12), (3, 0, 1, 9, 7, 16), (3, 0, 1, 7, 5, 20),
           (3, 0, 1, 5, 3, 24), (3, 0, 1, 3, 1, 28)]


def test_seed_rf_table_matches_the_seed_row_for_row():
    rows = receptive_field(build("dropout"))
    assert [(r.kernel, r.padding, r.stride, r.size_in, r.size_out, r.rf_out) for r in rows] == SEED_RF
    assert rows[3].kind == "max-pool"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_rf_sizes_agree_with_a_forward_pass(name):
    model = build(name)
    spatial = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d))]
    sides = []
    hooks = [m.register_forward_hook(lambda m, i, o: sides.append(o.shape[-1])) for m in spatial]
    model(torch.zeros(1, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    assert [r.size_out for r in receptive_field(model)] == sides


def measured_rf(model, size=28):
    """Receptive field from gradients: the input span that can move the centre output."""
    model.eval()
    for module in model.modules():  # constant weights: no cancellations that would hide a pixel
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 0.1)
    image = torch.ones(1, 1, size, size, requires_grad=True)
    out = model[:-1](image) if isinstance(model[-1], nn.Flatten) else model(image)
    centre = out.shape[-1] // 2
    out[0, 0, centre, centre].backward()
    rows = image.grad[0, 0].abs().sum(1).nonzero()
    return int(rows.max() - rows.min() + 1)


def test_rf_agrees_with_gradients_through_padding_stride_and_pooling():
    model = nn.Sequential(conv_block(1, 4, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU(),
                          nn.AvgPool2d(2), conv_block(4, 4), nn.Conv2d(4, 4, 3, padding=1))
    rows = receptive_field(model, 64)
    assert rows[-1].rf_out == measured_rf(model, 64)
    assert [r.stride for r in rows] == [1, 2, 2, 1, 1]


@pytest.mark.parametrize("model", [build("garam_masala", downsample="space-to-depth"),
                                   build("smallest", blocks=((4, 8), (14, 14, 14, 14)), shared=True),
                                   nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3))],
                         ids=["space-to-depth", "shared", "unshuffle-convs"])
def test_rf_of_space_to_depth_and_shared_convs_agrees_with_a_forward_pass_and_gradients(model):
    kinds = (nn.Conv2d, nn.PixelUnshuffle, nn.MaxPool2d, nn.AdaptiveAvgPool2d)
    spatial = [m for m in model.modules() if isinstance(m, kinds)]
    sides = []
    hooks = [m.register_forward_hook(lambda m, i, o: sides.append(o.shape[-1])) for m in spatial]
    model(torch.zeros(1, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    rows = receptive_field(model)
    assert [r.size_out for r in rows] == sides
    if isinstance(model[-1], nn.Conv2d) and model[-1].kernel_size == (3, 3):  # no GAP: the gradients can tell
        assert rows[-1].rf_out == measured_rf(model) == 10


def test_gap_takes_the_whole_map():
    model = build("garam_masala")
    rows = receptive_field(model)
    gap = next(r for r in rows if r.kind == "GAP")
    assert (gap.kernel, gap.size_in, gap.size_out) == (4, 4, 1)
    assert rows[-1].rf_out == 28


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


def test_refuses_branches_and_unknown_layers():
    with pytest.raises(ValueError, match="branch"):
        receptive_field(Residual())
    with pytest.raises(ValueError, match="cannot handle layer 1 \\(Upsample\\)"):
        receptive_field(Classifier(nn.Conv2d(1, 4, 3), nn.Upsample(scale_factor=2)))


def test_cli_prints_count_summary_and_rf(capsys):
    main(["dropout"])
    out = capsys.readouterr().out
    assert "parameters: 14,010" in out and "Total params: 14,010" in out
    rf_column = [int(line.split()[-1]) for line in out.split("receptive field:")[1].strip().splitlines()[2:]]
    assert rf_column == [3, 5, 7, 8, 8, 12, 16, 20, 24, 28]


@pytest.mark.parametrize("name", ["06", "06_smallest"])
def test_cli_given_a_notebook_prints_the_net_its_recipe_builds(name, capsys):
    main([name])
    out = capsys.readouterr().out
    expected = count_parameters(build_model(RunConfig.from_recipe("06_smallest", device="cpu")))
    assert expected == 4605 and f"parameters: {expected:,}" in out and "notebook 06_smallest's net" in out
    main(["smallest_silu"])  # the model's own defaults: another net, said so
    assert "with its default build arguments" in capsys.readouterr().out


def test_cli_lists_known_models_for_an_unknown_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lenet"])
    assert exit_info.value.code == 2
    assert "known models: baseline" in capsys.readouterr().err


def test_depthwise_convs_are_named_and_grow_the_rf_like_any_3x3():
    separable = receptive_field(build("smallest", separable=True))
    plain = receptive_field(build("smallest"))
    assert [r.rf_out for r in separable if r.kernel != 1] == [r.rf_out for r in plain if r.kernel != 1]
    assert sum(r.kind.startswith("dw conv") for r in separable) == 4


def test_the_anchor_net_has_3762_parameters_with_its_biases_and_3702_without(capsys):
    """adilsammar/woolly-of-cv's net: nine padded 3x3 convs at three resolutions, the 3x3 convs' 60 biases before
    BatchNorm (which its shift makes redundant) and the head's 10."""
    main(["three_stages"])
    out = capsys.readouterr().out
    assert "parameters: 3,762" in out
    rf_column = [int(line.split()[-1]) for line in out.split("receptive field:")[1].strip().splitlines()[2:]]
    assert rf_column == [3, 5, 7, 8, 12, 16, 20, 22, 30, 38, 46, 70, 70]
    main(["three_stages", "--model-args", '{"bias": false}'])
    assert "parameters: 3,702" in capsys.readouterr().out
    for bad in ('{"bais": false}', "[1]", "{bias"):
        with pytest.raises(SystemExit) as exit_info:
            main(["three_stages", "--model-args", bad])
        assert exit_info.value.code == 2
    assert "--model-args must be a JSON object" in capsys.readouterr().err

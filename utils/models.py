"""The building block and one model per notebook, registered by name; earlier models stay so old notebooks re-run.

Every model is one flat ``nn.Sequential`` of blocks, so the receptive-field tool (utils.inspection) can walk it.
Shape comments read ``in -> out (H x W x C), RF``; the RF tool's test checks them against the layers.
"""
import torch.nn as nn

from utils.deskew import Deskew

MODELS = {}
ALIASES = {"seed": "dropout"}  # old name of 03's model (it collided with the `seed` field); still builds


def register(name):
    """Decorator: make a model factory buildable as ``build(name)``."""
    def add(factory):
        MODELS[name] = factory
        return factory
    return add


def canonical_name(name):
    """The registered name of `name` (an old alias gives its new name); ValueError for an unknown one."""
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return name


def build(name, **kwargs):
    """A fresh model by registered name (weights drawn from torch's global generator: seed it first)."""
    return MODELS[canonical_name(name)](**kwargs)


def count_parameters(model):
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}
DOWNSAMPLES = ("pool", "stride", "pool-first", "space-to-depth")  # garam_masala's ways to halve the resolution


def conv_block(c_in, c_out, kernel=3, padding=0, dropout=0.0, bias=False, batchnorm=True, relu=True,
               activation="relu", stride=1):
    """conv -> BN -> ReLU (or `activation`) -> dropout; parts switch off by argument. A bias before BN is wasted,
    so off by default."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    if relu:
        layers.append(ACTIVATIONS[activation]())
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def separable_block(c_in, c_out, padding=0, dropout=0.0, activation="relu"):
    """A depthwise-separable 3x3 conv: depthwise 3x3 -> BN -> activation, then a 1x1 conv_block. It mixes space and
    channels in 9*c_in + c_in*c_out weights where a 3x3 conv needs 9*c_in*c_out, so it can be wider."""
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=padding, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
                         ACTIVATIONS[activation](),
                         conv_block(c_in, c_out, kernel=1, dropout=dropout, activation=activation))


class Classifier(nn.Sequential):
    """A Sequential whose last layer gives (B, 10, 1, 1) logits; flattens them to (B, 10)."""

    def forward(self, x):
        return super().forward(x).flatten(1)


def seed_net(batchnorm=True, dropout=0.05, bias=True):
    """The seed's 14,010-parameter net: every conv keeps its bias; the last conv is a 3x3 'fully connected' one."""
    def block(c_in, c_out, kernel=3):
        return conv_block(c_in, c_out, kernel, dropout=dropout, bias=bias, batchnorm=batchnorm)

    return Classifier(
        block(1, 8),  # 28x28x1 -> 26x26x8, RF 3
        block(8, 12),  # -> 24x24x12, RF 5
        block(12, 16),  # -> 22x22x16, RF 7
        nn.MaxPool2d(2, 2),  # -> 11x11x16, RF 8
        block(16, 8, kernel=1),  # -> 11x11x8, RF 8: squeeze channels, mix what the pool kept
        block(8, 12),  # -> 9x9x12, RF 12
        block(12, 16),  # -> 7x7x16, RF 16
        block(16, 20),  # -> 5x5x20, RF 20
        block(20, 20),  # -> 3x3x20, RF 24
        nn.Conv2d(20, 10, 3, bias=bias),  # -> 1x1x10, RF 28: logits, no BN/ReLU/dropout
    )


def kaiming_init(model):
    """He initialisation for ReLU nets: without BN, PyTorch's default init shrinks the signal layer by layer."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


@register("baseline")
def baseline():
    """01: the seed's skeleton, plain convs and ReLU only, He-initialised (13,786 parameters)."""
    return kaiming_init(seed_net(batchnorm=False, dropout=0.0))


@register("batchnorm")
def batchnorm():
    """02: + BatchNorm after every conv but the last (14,010 parameters)."""
    return seed_net(batchnorm=True, dropout=0.0)


@register("dropout")
def dropout_net(dropout=0.05):
    """03: + dropout in every block: the seed's model exactly (14,010 parameters)."""
    return seed_net(batchnorm=True, dropout=dropout)


@register("param_diet")
def param_diet(dropout=0.05):
    """04: no conv biases, fewer channels, 1x1 squeeze after the max-pool (7,608 parameters)."""
    return Classifier(
        conv_block(1, 8, dropout=dropout),  # 28x28x1 -> 26x26x8, RF 3
        conv_block(8, 10, dropout=dropout),  # -> 24x24x10, RF 5
        conv_block(10, 12, dropout=dropout),  # -> 22x22x12, RF 7
        nn.MaxPool2d(2, 2),  # -> 11x11x12, RF 8
        conv_block(12, 8, kernel=1, dropout=dropout),  # -> 11x11x8, RF 8
        conv_block(8, 10, dropout=dropout),  # -> 9x9x10, RF 12
        conv_block(10, 12, dropout=dropout),  # -> 7x7x12, RF 16
        conv_block(12, 12, dropout=dropout),  # -> 5x5x12, RF 20
        conv_block(12, 12, dropout=dropout),  # -> 3x3x12, RF 24
        nn.Conv2d(12, 10, 3, bias=False),  # -> 1x1x10, RF 28: logits
    )


def _garam_masala_front(downsample):
    """garam_masala's layers before its first 8 -> 12 conv, for one way to halve the resolution."""
    if downsample == "pool":
        return [conv_block(1, 8), conv_block(8, 8), nn.MaxPool2d(2, 2)]
    if downsample == "stride":
        return [conv_block(1, 8), conv_block(8, 8, stride=2)]
    if downsample == "pool-first":
        return [conv_block(1, 8), nn.MaxPool2d(2, 2), conv_block(8, 8)]
    # 28x28x1 -> 14x14x4 (RF 2) -> 12x12x8 (RF 6) -> 10x10x8 (RF 10); the convs after it 2 px smaller than the
    # others', down to 2x2x12 (RF 26) before the GAP (RF 28)
    return [nn.PixelUnshuffle(2), conv_block(4, 8), conv_block(8, 8)]


@register("garam_masala")
def garam_masala(downsample="pool"):
    """05: GAP head, max-pool at RF 6, no dropout (augmentation regularises), 7,536 parameters.

    downsample (07 varies it): 'pool' as 05 has it; 'stride': the second conv steps by 2 instead of a max-pool after
    it (26x26 -> 12x12, RF 5: a quarter of its multiply-adds); 'pool-first': the max-pool right after the first conv
    (-> 13x13, RF 4), so that the second conv runs at 13x13 too. These three have the same parameters.
    'space-to-depth': every 2x2 patch of pixels becomes 4 channels of one position (nn.PixelUnshuffle, 28x28x1 ->
    14x14x4, RF 2: nothing is lost), and the first conv reads 4 channels (7,752 parameters), so no layer runs at full
    resolution: the full-resolution layers cost most of a training step on a CPU."""
    if downsample not in DOWNSAMPLES:
        raise ValueError(f"garam_masala: downsample must be one of {list(DOWNSAMPLES)}, got {downsample!r}")
    # Each conv draws its initial weights from the seeded generator as it is built, so the fronts built before the
    # body decide the body's weights. 'pool' builds its front alone; the other options build the first three fronts
    # of DOWNSAMPLES (space-to-depth all four) and keep theirs: the draws their recorded runs were made with.
    built = (downsample,) if downsample == "pool" else DOWNSAMPLES[:max(3, DOWNSAMPLES.index(downsample) + 1)]
    fronts = [_garam_masala_front(name) for name in built]
    front = fronts[built.index(downsample)]
    return Classifier(
        *front,  # 'pool': 28x28x1 -> 26x26x8 (RF 3) -> 24x24x8 (RF 5) -> max-pool 12x12x8, RF 6: pool early, the
        # full-resolution layers cost the most time
        conv_block(8, 12),  # -> 10x10x12, RF 10
        conv_block(12, 16),  # -> 8x8x16, RF 14
        conv_block(16, 16),  # -> 6x6x16, RF 18
        conv_block(16, 12),  # -> 4x4x12, RF 22
        nn.AdaptiveAvgPool2d(1),  # GAP: -> 1x1x12, RF 28
        nn.Conv2d(12, 10, 1, bias=False),  # -> 1x1x10, RF 28: logits
    )


@register("smallest")
def smallest(blocks=((4, 8), (10, 10, 10, 10)), padding=0, squeeze=0, head="gap", dropout=0.0, activation="relu",
             separable=False, shared=False, deskew=False):
    """06's small net with the knobs utils.lab.ablation varies; with ReLU, the base of that ablation.

    Defaults (3,948 parameters): 28x28x1 -> 26x26x4 (RF 3) -> 24x24x8 (RF 5) -> max-pool 12x12x8 (RF 6)
    -> 10x10x10 (RF 10) -> 8x8x10 (RF 14) -> 6x6x10 (RF 18) -> 4x4x10 (RF 22) -> GAP 1x1x10 (RF 28)
    -> 1x1 conv to 10 logits.
    blocks: output channels of the 3x3 convs, one tuple per resolution, a 2x2 max-pool between tuples;
    padding: of every 3x3 conv; squeeze: channels of a 1x1 conv after each max-pool (0: none);
    head: 'gap' (GAP, then 1x1 to 10 classes) or 'fc' (flatten the last map into a linear layer);
    activation: 'relu' or 'silu', after every BatchNorm;
    separable: True: the 3x3 convs after the first max-pool are depthwise-separable (separable_block); a number
    n: only the first n of them;
    shared: True: within a resolution, the 3x3 convs that keep the width (c -> c) apply one conv's weights per
    width, each with a BatchNorm of its own: the net gets deeper, not bigger. count_parameters counts a shared
    weight once; torchsummary's table lists it several times over and overstates the total;
    deskew: True: every image is deskewed first (utils.deskew.Deskew, no parameters).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"smallest: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if not isinstance(separable, bool) and not (isinstance(separable, int) and separable >= 1):
        raise ValueError(f"smallest: separable must be True, False or a number of convs >= 1, got {separable!r}")
    if not isinstance(shared, bool):
        raise ValueError(f"smallest: shared must be True or False, got {shared!r}")
    if shared and separable:
        raise ValueError("smallest: shared and separable convs cannot be combined")
    if not isinstance(deskew, bool):
        raise ValueError(f"smallest: deskew must be True or False, got {deskew!r}")
    separable_left = sum(map(len, blocks)) if separable is True else int(separable)
    layers, channels, side = [Deskew()] if deskew else [], 1, 28
    for index, widths in enumerate(blocks):
        if index:
            layers.append(nn.MaxPool2d(2, 2))
            side //= 2
            if squeeze:
                layers.append(conv_block(channels, squeeze, kernel=1, dropout=dropout, activation=activation))
                channels = squeeze
        shared_convs = {}  # width: the first width-keeping conv of that width at this resolution (shared=True)
        for width in widths:
            block = separable_block if index and separable_left else conv_block
            separable_left -= block is separable_block
            layer = block(channels, width, padding=padding, dropout=dropout, activation=activation)
            if shared and width == channels:
                layer[0] = shared_convs.setdefault(width, layer[0])
            layers.append(layer)
            channels, side = width, side + 2 * padding - 2
    if head == "gap":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, 10, 1, bias=False)]
    elif head == "fc":
        layers += [nn.Flatten(), nn.Linear(channels * side * side, 10, bias=False)]
    else:
        raise ValueError(f"smallest: head must be 'gap' or 'fc', got {head!r}")
    return Classifier(*layers)


@register("smallest_silu")
def smallest_silu(**changes):
    """06: `smallest` with SiLU after every BatchNorm instead of ReLU, as many parameters as with ReLU.

    Notebook 06 builds it with its recipe's model_args, 4-8 | 11-11-11-11 and every image deskewed first: 4,605
    parameters (`python -m utils.inspection 06`); with `smallest`'s default layout it has 3,948.
    With 4-11 channels per layer, ReLU zeroes about half of every narrow layer's outputs; SiLU passes a small
    negative part and its gradient.
    changes: any other knob of `smallest` (blocks, deskew, ...)."""
    return smallest(activation="silu", **changes)


def xavier_init(model):
    """Glorot (Xavier) uniform initialisation of every conv's weights, its biases zero: the anchor's own."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


@register("three_stages")
def three_stages(widths=(4, 8, 8), convs=3, padding=1, bias=True, dropout=0.01, head_bias=True, xavier=True,
                 activation="relu", deskew=False):
    """The best public net under 4,000 parameters (adilsammar/woolly-of-cv, assets/mnist: 3,762 parameters, 99.52 %
    at epoch 15 on one seed), built from our blocks: `convs` 3x3 conv -> BN -> ReLU blocks at each of three
    resolutions, `widths` channels, a max-pool and dropout between resolutions, then GAP and a 1x1 conv to 10.

    Defaults, the anchor as published: 28x28x1 -> 28x28x4 (RF 3) -> 28x28x4 (RF 5) -> 28x28x4 (RF 7) -> max-pool
    14x14x4 (RF 8) -> 14x14x8 (RF 12) -> 14x14x8 (RF 16) -> 14x14x8 (RF 20) -> max-pool 7x7x8 (RF 22)
    -> 7x7x8 (RF 30) -> 7x7x8 (RF 38) -> 7x7x8 (RF 46) -> GAP 1x1x8 (RF 70) -> 1x1 conv to 10 logits.
    bias: its 3x3 convs keep a bias before BatchNorm, which BatchNorm's shift makes redundant (60 parameters:
    3,702 without); head_bias: the 1x1 head's 10 biases; dropout: after each max-pool (0.01 there); xavier: Glorot
    uniform weights, as the anchor initialises them (else PyTorch's default); activation 'relu' or 'silu';
    deskew: every image deskewed first (utils.deskew.Deskew, no parameters)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"three_stages: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if len(widths) != 3 or not all(isinstance(w, int) and w >= 1 for w in widths):
        raise ValueError(f"three_stages: widths must be three channel counts >= 1, got {widths!r}")
    if not isinstance(convs, int) or convs < 1:
        raise ValueError(f"three_stages: convs must be a number of convs per resolution >= 1, got {convs!r}")
    if padding not in (0, 1):
        raise ValueError(f"three_stages: padding must be 0 or 1, got {padding!r}")
    side = 28
    for stage in range(3):
        side = (side // 2 if stage else side) - convs * 2 * (1 - padding)
    if side < 1:
        raise ValueError(f"three_stages: {convs} unpadded convs per resolution leave no pixel of a 28x28 image")
    layers, channels = [Deskew()] if deskew else [], 1
    for stage, width in enumerate(widths):
        if stage:
            layers.append(nn.MaxPool2d(2, 2))
            if dropout:
                layers.append(nn.Dropout(dropout))
        for _ in range(convs):
            layers.append(conv_block(channels, width, padding=padding, bias=bias, activation=activation))
            channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, 10, 1, bias=head_bias)]
    model = Classifier(*layers)
    return xavier_init(model) if xavier else model

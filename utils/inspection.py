"""Look inside a model: parameter count, torchsummary table, receptive-field table from the model's own layers.

Usage: python -m utils.inspection NAME   (a model, built with its defaults: smallest_silu; or a notebook, whose
                                         recipe builds it: 06, 06_smallest)
       python -m utils.inspection MODEL --model-args '{"bias": false}'   (a model with these build arguments)
"""
import argparse
import contextlib
import copy
import io
import json
import operator
import sys
from dataclasses import dataclass

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from utils.config import RunConfig
from utils.deskew import Deskew
from utils.models import MODELS, build, count_parameters
from utils.recipes import RECIPES

IMAGE_SHAPE = (1, 28, 28)
# Layers that change neither the spatial size nor the receptive field. Deskew too, by convention: the RF is counted
# on the deskewed image (through its moments, every output pixel depends on the whole input).
PASS_THROUGH = (nn.BatchNorm2d, nn.ReLU, nn.SiLU, nn.Dropout, nn.Dropout2d, nn.Identity, nn.Flatten, nn.LogSoftmax,
                nn.Softmax, Deskew)
PASS_THROUGH_CALLS = {"flatten", "view", "reshape", "relu", "silu", "log_softmax", "softmax", "dropout", "squeeze",
                      torch.flatten, F.relu, F.silu, F.log_softmax, F.softmax, F.dropout, torch.squeeze}


def summary_text(model, input_shape=IMAGE_SHAPE):
    """torchsummary's table as a string; runs on a copy on the model's own device (CPU or CUDA)."""
    from torchsummary import summary

    device = next(model.parameters()).device
    probe = copy.deepcopy(model)  # torchsummary runs a training-mode forward: keep the real BN statistics clean
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        summary(probe, input_shape, device="cuda" if device.type == "cuda" else "cpu")
    return buffer.getvalue()


@dataclass
class RFRow:
    """One spatial layer: its geometry, the feature-map side before/after, and the RF after it."""

    layer: str
    kind: str
    kernel: int
    padding: int
    stride: int
    size_in: int
    size_out: int
    jump_in: int
    jump_out: int
    rf_in: int
    rf_out: int


def _pair(value):
    return value[0] if isinstance(value, (tuple, list)) else value


def _geometry(module, size):
    """(kind, kernel, padding, stride, dilation) of a spatial layer on a size x size input, or None."""
    if isinstance(module, nn.Conv2d):
        if len({*module.kernel_size}) > 1 or len({*module.stride}) > 1 or isinstance(module.padding, str):
            raise ValueError(f"cannot handle {module}: only square kernels and numeric padding")
        kind = "dw conv" if module.groups > 1 and module.groups == module.in_channels else "conv"
        return (f"{kind} {module.in_channels}->{module.out_channels}", module.kernel_size[0], module.padding[0],
                module.stride[0], module.dilation[0])
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = _pair(module.stride) or _pair(module.kernel_size)
        kind = "max-pool" if isinstance(module, nn.MaxPool2d) else "avg-pool"
        return kind, _pair(module.kernel_size), _pair(module.padding), stride, _pair(getattr(module, "dilation", 1))
    if isinstance(module, nn.PixelUnshuffle):  # each f x f patch becomes channels of one position, as a stride-f
        # f x f kernel would read it
        factor = module.downscale_factor
        return "space-to-depth", factor, 0, factor, 1
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        if _pair(module.output_size) != 1:
            raise ValueError(f"cannot handle {module}: only global pooling (output size 1)")
        return "GAP", size, 0, 1, 1
    return None


class _DeskewWholeTracer(torch.fx.Tracer):
    """torch.fx's tracer, keeping a Deskew layer whole (its forward is arithmetic, not a chain of layers)."""

    def is_leaf_module(self, module, qualified_name):
        return isinstance(module, Deskew) or super().is_leaf_module(module, qualified_name)


def receptive_field(model, image_size=IMAGE_SHAPE[-1]):
    """RF rows for a model that is one chain of layers; refuses branches and unknown layers with a ValueError."""
    try:
        graph = _DeskewWholeTracer().trace(model)
    except Exception as error:
        raise ValueError(f"cannot trace {type(model).__name__} into a chain of layers: {error}") from error
    modules = dict(model.named_modules())
    rows, size, jump, rf = [], image_size, 1, 1
    for node in graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            continue
        if len(node.users) > 1:
            raise ValueError(f"cannot handle a branch: the output of {node.target} feeds {len(node.users)} layers")
        if node.op == "call_module":
            module = modules[node.target]
            geometry = _geometry(module, size)
            if geometry is None:
                if not isinstance(module, PASS_THROUGH):
                    raise ValueError(f"cannot handle layer {node.target} ({type(module).__name__})")
                continue
            kind, kernel, padding, stride, dilation = geometry
            size_out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
            rf_out = rf + (kernel - 1) * dilation * jump
            rows.append(RFRow(node.target, kind, kernel, padding, stride, size, size_out, jump, jump * stride,
                              rf, rf_out))
            size, jump, rf = size_out, jump * stride, rf_out
        elif node.target in PASS_THROUGH_CALLS:
            continue
        else:
            what = "a merge of branches" if node.target in (operator.add, torch.add, torch.cat) else "an operation"
            raise ValueError(f"cannot handle {what}: {node.op} {getattr(node.target, '__name__', node.target)}")
    return rows


def rf_table(rows):
    """The RF rows as an aligned text table."""
    header = (f"{'layer':<10} {'kind':<14} {'kernel':>6} {'pad':>4} {'stride':>6} {'in':>4} {'out':>4} "
              f"{'jump':>5} {'RF':>4}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.layer:<10} {r.kind:<14} {r.kernel:>4}x{r.kernel:<1} {r.padding:>4} {r.stride:>6} "
                     f"{r.size_in:>4} {r.size_out:>4} {r.jump_out:>5} {r.rf_out:>4}")
    return "\n".join(lines)


def describe(model):
    """Parameter count, torchsummary table and RF table, as one text."""
    return (f"parameters: {count_parameters(model):,}\n\n{summary_text(model)}\n"
            f"receptive field:\n{rf_table(receptive_field(model))}")


def model_named(name, model_args=None):
    """(the model `name` asks for, how it was built): a notebook (06, 06_smallest) gives the net its recipe builds,
    a model name the model with its default build arguments, or with `model_args` (a dict) instead where given."""
    stems = [stem for stem in RECIPES if name in (stem, stem.split("_", 1)[0])]
    if stems and model_args:
        raise ValueError(f"{name} is a notebook: its recipe gives the build arguments; --model-args goes with a model "
                         f"name ({RECIPES[stems[0]]['model']})")
    if stems:
        config = RunConfig.from_recipe(stems[0], device="cpu")
        shown = ", ".join(f"{key}={value!r}" for key, value in config.model_args.items())
        return build(config.model, **config.model_args), f"{config.model}({shown}), notebook {stems[0]}'s net"
    if model_args:
        shown = ", ".join(f"{key}={value!r}" for key, value in model_args.items())
        return build(name, **model_args), f"{name}({shown})"
    return build(name), f"{name}, with its default build arguments"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.inspection", description=__doc__.splitlines()[0])
    parser.add_argument("name", help=f"a notebook ({', '.join(RECIPES)}, or its number) or a model "
                                     f"({', '.join(sorted(MODELS))})")
    parser.add_argument("--model-args", metavar="JSON", help="a model's build arguments, e.g. '{\"bias\": false}'")
    args = parser.parse_args(argv)
    try:
        model_args = json.loads(args.model_args) if args.model_args else None
        if model_args is not None and not isinstance(model_args, dict):
            raise ValueError(f"--model-args must be a JSON object of build arguments, got {args.model_args!r}")
        model, built = model_named(args.name, model_args)
    except (ValueError, TypeError) as error:
        parser.exit(2, f"error: {error}\n")
    print(f"model: {built}")
    print(describe(model))


if __name__ == "__main__":
    sys.exit(main())

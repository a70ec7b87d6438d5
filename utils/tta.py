"""Test-time augmentation (TTA): a prediction averaged over the image and a few shifted or turned copies of it.

A copy is (right, down, degrees): the digit moved right and down by that many pixels (negative: left, up) and turned
by that many degrees (positive: clockwise), in one bilinear warp on the device, uncovered pixels black. The
prediction averages the softmax of the image and of its copies, so a digit the net reads two ways at the edge of its
receptive field is read by the majority of the views. It costs one forward pass per copy, in every evaluation.
"""
import math

import torch
import torch.nn.functional as F

from utils.augment import warp
from utils.data import BACKGROUND

MAX_SHIFT = 4.0  # pixels: a copy keeps the digit inside the 28x28 frame
MAX_DEGREES = 30.0
MAX_COPIES = 16


def check_copies(copies):
    """The copies as a list of [right, down, degrees] floats (as JSON keeps them); ValueError naming what is
    wrong."""
    if isinstance(copies, (str, bytes, dict)) or not hasattr(copies, "__iter__"):
        raise ValueError("a list of copies, each (right px, down px, degrees), e.g. [(1, 0, 0), (-1, 0, 0)]")
    checked = []
    for copy in copies:
        numbers = isinstance(copy, (list, tuple)) and len(copy) == 3 and all(
            isinstance(value, (int, float)) and not isinstance(value, bool) for value in copy)
        if not numbers:
            raise ValueError(f"each copy is (right px, down px, degrees), three numbers; got {copy!r}")
        right, down, degrees = map(float, copy)
        if not all(map(math.isfinite, (right, down, degrees))) or max(abs(right), abs(down)) > MAX_SHIFT \
                or abs(degrees) > MAX_DEGREES:
            raise ValueError(f"copy {copy!r}: shifts of at most {MAX_SHIFT:g} px and turns of at most "
                             f"{MAX_DEGREES:g} degrees")
        if (right, down, degrees) == (0.0, 0.0, 0.0):
            raise ValueError("copy (0, 0, 0) is the image itself, which the average always includes")
        checked.append((right, down, degrees))
    if len(checked) > MAX_COPIES:
        raise ValueError(f"at most {MAX_COPIES} copies, got {len(checked)}")
    if len(set(checked)) < len(checked):
        raise ValueError("a copy is given twice")
    return [list(copy) for copy in checked]


def copy_matrix(right, down, degrees, height=28, width=28):
    """The (1, 2, 3) affine matrix of one copy for utils.augment.warp (which maps output pixels to input pixels)."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # the output pixel at p reads the input at R^-1 (p - t); grid coordinates span 2 units per side
    shift_x, shift_y = -2 * right / width, -2 * down / height
    return torch.tensor([[[cos, sin, cos * shift_x + sin * shift_y],
                          [-sin, cos, -sin * shift_x + cos * shift_y]]])


def copies_of(images, copy):
    """The batch `images` (B, 1, H, W) as one copy sees it."""
    theta = copy_matrix(*copy, *images.shape[-2:]).expand(len(images), 2, 3)
    return warp(images, theta, BACKGROUND)


def averaged_log_probabilities(model, images, copies):
    """log of the softmax averaged over `images` and each copy of them: what cross_entropy and argmax read as
    logits. Without copies, the model's logits as they are."""
    logits = model(images)
    if not copies:
        return logits
    views = [F.log_softmax(logits.float(), 1)]
    views += [F.log_softmax(model(copies_of(images, copy)).float(), 1) for copy in copies]
    # the log of the mean probability, averaged in log space: no log(0) where every view is sure of another digit
    return torch.logsumexp(torch.stack(views), 0) - math.log(len(views))

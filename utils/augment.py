"""Augmentation of whole batches on the training device: random rotation, shift and scale in one affine warp.

Options come as a checked dict, e.g. ``{"rotate": 7, "shift": 0.1, "scale": 0.1}``; an unknown key is an error.
The per-sample parameters are drawn on the CPU from a seeded generator, so a run is the same on any device.
"""
import math

import torch
import torch.nn.functional as F

AUGMENT_DEFAULTS = {
    "rotate": 0.0,  # max rotation in degrees, uniform in [-rotate, +rotate]
    "shift": 0.0,  # max translation as a fraction of the image side, per axis
    "scale": 0.0,  # max relative zoom, uniform in [1 - scale, 1 + scale]
}


def check_augment(options):
    """Return the full options dict; raise ValueError for an unknown key or a value out of range."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(AUGMENT_DEFAULTS))
    if unknown:
        raise ValueError(f"augment: unknown option(s) {unknown}; allowed: {sorted(AUGMENT_DEFAULTS)}")
    limits = {"rotate": 180.0, "shift": 0.5, "scale": 0.5}
    for key, value in options.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= limits[key]:
            raise ValueError(f"augment: {key} must be a number in [0, {limits[key]}], got {value!r}")
    return {**AUGMENT_DEFAULTS, **{k: float(v) for k, v in options.items()}}


def is_identity(options):
    return not any(check_augment(options).values())


def draw_affine(count, options, generator):
    """(count, 2, 3) affine matrices for `affine_grid`, one random warp per sample (CPU tensor)."""
    opts = check_augment(options)

    def uniform(limit):  # always draws, so the random stream does not depend on which options are on
        return (torch.rand(count, generator=generator) * 2 - 1) * limit

    angle = uniform(opts["rotate"] * math.pi / 180)
    zoom = 1 + uniform(opts["scale"])
    shift_x, shift_y = uniform(opts["shift"] * 2), uniform(opts["shift"] * 2)  # grid coordinates span 2 units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # maps output pixels back to input pixels
    return torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)


def warp(images, theta, background):
    """Apply per-sample affine matrices to a (B, C, H, W) batch; uncovered pixels get `background`."""
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    # grid_sample pads with zeros; shifting by the background value makes the padding the normalised black
    return F.grid_sample(images - background, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + background

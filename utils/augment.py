"""Augmentation of whole batches on the training device: random rotation, shift and scale in one affine warp,
optionally elastic distortion (Simard et al. 2003) in the same resampling, and brightness and contrast after it.

Options come as a checked dict, e.g. ``{"rotate": 7, "shift": 0.1, "scale": 0.1}`` or ``{"rotate": 7, "elastic":
34}``; an unknown key is an error. The per-sample parameters and noise are drawn on the CPU from a seeded generator,
so a run is the same on any device.
"""
import math

import torch
import torch.nn.functional as F

AUGMENT_DEFAULTS = {
    "rotate": 0.0,  # max rotation in degrees, uniform in [-rotate, +rotate]
    "shift": 0.0,  # max translation as a fraction of the image side, per axis
    "scale": 0.0,  # max relative zoom, uniform in [1 - scale, 1 + scale]
}
# Elastic distortion: every pixel moved by its own displacement, uniform noise in [-1, 1] per pixel and axis smoothed
# by a Gaussian of sd `elastic_sigma` pixels, times `elastic` (Simard's alpha, in pixels; 34 with sigma 4 there,
# moves of about 1.4 pixels sd). In the full dict only where elastic is on, so that the configs of runs without it
# stay as they were written.
ELASTIC_DEFAULTS = {"elastic": 0.0, "elastic_sigma": 4.0}
# Brightness and contrast (albumentations' RandomBrightnessContrast, as the 3,762-parameter anchor uses it): each
# pixel p in [0, 1] becomes clip(a p + b, 0, 1), a uniform in [1 - contrast, 1 + contrast], b in [-brightness,
# +brightness]. share: each of the two transforms (the rotation, shift and scale above; this one) applies to a random
# share of the images, drawn independently per image and epoch; the others pass unchanged (elastic distortion, where
# on, takes no share). Like elastic, in the full dict only where given away from its neutral value, so that runs
# without them stay the experiments they were, with the same random stream.
PHOTOMETRIC = ("brightness", "contrast")
ONLY_WHERE_GIVEN = {"share": 1.0, "brightness": 0.0, "contrast": 0.0}  # option: its neutral value, left out
LIMITS = {"rotate": (0.0, 180.0), "shift": (0.0, 0.5), "scale": (0.0, 0.5), "elastic": (0.0, 100.0),
          "elastic_sigma": (0.5, 10.0), "share": (0.0, 1.0), "brightness": (0.0, 1.0), "contrast": (0.0, 1.0)}


def check_augment(options):
    """Return the full options dict; raise ValueError for an unknown key or a value out of range."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(LIMITS))
    if unknown:
        raise ValueError(f"augment: unknown option(s) {unknown}; allowed: {sorted(LIMITS)}")
    for key, value in options.items():
        low, high = LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"augment: {key} must be a number in [{low:g}, {high:g}], got {value!r}")
    if "elastic_sigma" in options and "elastic" not in options:
        raise ValueError("augment: elastic_sigma shapes elastic distortion; give elastic (its strength) with it")
    if not options.get("elastic"):  # off: no trace of it, so that the run is the same experiment as one without
        options = {k: v for k, v in options.items() if k not in ELASTIC_DEFAULTS}
    if options.get("share") == 0.0:
        raise ValueError("augment: share 0 augments no image; leave the other options out instead")
    options = {k: v for k, v in options.items() if k not in ONLY_WHERE_GIVEN or v != ONLY_WHERE_GIVEN[k]}
    if "share" in options and options.get("elastic"):
        raise ValueError("augment: share applies to rotation, shift, scale, brightness and contrast; elastic "
                         "distortion takes every image: give them in separate runs")
    if "share" in options and not any(options.get(k) for k in (*AUGMENT_DEFAULTS, *PHOTOMETRIC)):
        raise ValueError("augment: share says which share of the images a transform takes; give rotate, shift, "
                         "scale, brightness or contrast with it")
    full = {**AUGMENT_DEFAULTS, **({**ELASTIC_DEFAULTS} if "elastic" in options else {})}
    return {**full, **{k: float(v) for k, v in options.items()}}


def is_identity(options):
    opts = check_augment(options)
    return not any(opts.get(key) for key in (*AUGMENT_DEFAULTS, "elastic", *PHOTOMETRIC))


def draw_affine(count, options, generator):
    """(count, 2, 3) affine matrices for `affine_grid`, one random warp per sample (CPU tensor)."""
    opts = check_augment(options)

    def uniform(limit):  # always draws, so the random stream does not depend on which options are on
        return (torch.rand(count, generator=generator) * 2 - 1) * limit

    angle = uniform(opts["rotate"] * math.pi / 180)
    zoom = 1 + uniform(opts["scale"])
    shift_x, shift_y = uniform(opts["shift"] * 2), uniform(opts["shift"] * 2)  # grid coordinates span 2 units
    if "share" in opts:  # the images left out get the identity: no turn, zoom or shift
        kept = (torch.rand(count, generator=generator) < opts["share"]).float()
        angle, zoom, shift_x, shift_y = angle * kept, 1 + (zoom - 1) * kept, shift_x * kept, shift_y * kept
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # maps output pixels back to input pixels
    return torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)


def draw_photometric(count, options, generator):
    """(contrast factors a, brightness offsets b), (count,) CPU tensors for `adjust_photometric`, or None when
    neither brightness nor contrast is on (drawing nothing: runs without them keep their random stream)."""
    opts = check_augment(options)
    if not any(opts.get(key) for key in PHOTOMETRIC):
        return None
    contrast = 1 + (torch.rand(count, generator=generator) * 2 - 1) * opts.get("contrast", 0.0)
    brightness = (torch.rand(count, generator=generator) * 2 - 1) * opts.get("brightness", 0.0)
    if "share" in opts:
        kept = (torch.rand(count, generator=generator) < opts["share"]).float()
        contrast, brightness = 1 + (contrast - 1) * kept, brightness * kept
    return contrast, brightness


def adjust_photometric(images, factors, mean, std):
    """Each normalised image of a (B, C, H, W) batch with its pixels p in [0, 1] (p = x std + mean) made
    clip(a p + b, 0, 1) with its own (a, b) of `factors` (draw_photometric), then normalised again."""
    contrast, brightness = (f.to(images.device, images.dtype).view(-1, 1, 1, 1) for f in factors)
    pixels = (images * std + mean) * contrast + brightness
    return (pixels.clamp(0.0, 1.0) - mean) / std


def gaussian_smooth(fields, sigma):
    """(N, H, W) -> (N, H, W): each field blurred by a Gaussian of sd `sigma` pixels, zero outside and cut at 4 sd
    (as scipy.ndimage.gaussian_filter with mode="constant")."""
    radius = int(4 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=fields.dtype, device=fields.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    smoothed = F.conv2d(fields.unsqueeze(1), kernel.view(1, 1, 1, -1), padding=(0, radius))  # along rows
    return F.conv2d(smoothed, kernel.view(1, 1, -1, 1), padding=(radius, 0)).squeeze(1)  # along columns


def draw_elastic(count, height, width, options, generator, device="cpu"):
    """(count, H, W, 2) displacements in `grid_sample`'s coordinates (x, y), one smooth random field per sample,
    or None when elastic distortion is off. The noise is drawn on the CPU, the smoothing done on `device`."""
    opts = check_augment(options)
    alpha = opts.get("elastic", 0.0)
    if not alpha:
        return None  # draws nothing: runs without elastic distortion keep their random stream
    noise = torch.rand(count * 2, height, width, generator=generator).to(device) * 2 - 1
    pixels = gaussian_smooth(noise, opts["elastic_sigma"]).view(count, 2, height, width) * alpha
    per_pixel = torch.tensor([2 / width, 2 / height], device=device).view(1, 2, 1, 1)  # align_corners=False
    return (pixels * per_pixel).permute(0, 2, 3, 1)


def warp(images, theta, background, displacement=None):
    """Apply per-sample affine matrices to a (B, C, H, W) batch, and per-pixel displacements after them where given
    (draw_elastic); uncovered pixels get `background`."""
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement.to(images.dtype)
    # grid_sample pads with zeros; shifting by the background value makes the padding the normalised black
    return F.grid_sample(images - background, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + background

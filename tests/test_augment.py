"""Augmentation of whole batches (utils.augment): checked options, the warp, the rotation's bound, elastic
distortion's smoothing and displacements."""
import math

import pytest
import torch

from utils.augment import (adjust_photometric, check_augment, draw_affine, draw_elastic, draw_photometric,
                           gaussian_smooth, is_identity, warp)
from utils.data import BACKGROUND
from utils.lab.torchvision_data import torchvision_transform
from utils.recipes import RECIPES, ingredient_value


def test_augment_options_are_checked():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['flip'\]"):
        check_augment({"rotate": 5, "flip": True})
    with pytest.raises(ValueError, match="rotate must be a number"):
        check_augment({"rotate": -1})
    with pytest.raises(ValueError, match="shift must be a number"):
        check_augment({"shift": "big"})
    assert check_augment({"rotate": 7}) == {"rotate": 7.0, "shift": 0.0, "scale": 0.0}
    assert is_identity({}) and not is_identity({"scale": 0.1})


def test_identity_warp_returns_the_batch(small_mnist):
    images = small_mnist.train_images[:8]
    theta = draw_affine(8, {}, torch.Generator().manual_seed(0))
    assert torch.allclose(warp(images, theta, BACKGROUND), images, atol=1e-5)


def test_shift_fills_uncovered_pixels_with_black():
    images = torch.full((1, 1, 28, 28), 2.0)
    theta = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])  # sample half an image to the right
    out = warp(images, theta, BACKGROUND)
    assert torch.allclose(out[..., :, -3:], torch.tensor(BACKGROUND), atol=1e-5)  # uncovered: normalised black
    assert torch.allclose(out[..., :, :10], torch.tensor(2.0), atol=1e-5)


def test_the_rotation_is_the_recipes_plus_or_minus_7_degrees_and_no_more():
    """05-08's text says ±7°: the recipe says so, and the warps drawn for it turn digits by up to 7°, not 14°."""
    for stem in ("05_garam_masala", "06_smallest", "07_speedrun", "08_taught"):
        assert RECIPES[stem]["augment"] == {"rotate": 7.0}, stem
    theta = draw_affine(20000, {"rotate": 7.0}, torch.Generator().manual_seed(0))
    degrees = torch.atan2(theta[:, 1, 0], theta[:, 0, 0]) * 180 / math.pi
    assert 6.9 < float(degrees.abs().max()) <= 7.0 + 1e-4
    assert abs(float(degrees.mean())) < 0.2  # both ways alike


def test_elastic_options_are_checked_and_complete_only_where_given():
    assert check_augment({"rotate": 7, "elastic": 34}) == {"rotate": 7.0, "shift": 0.0, "scale": 0.0,
                                                           "elastic": 34.0, "elastic_sigma": 4.0}
    with pytest.raises(ValueError, match=r"elastic must be a number in \[0, 100\]"):
        check_augment({"elastic": -1})
    with pytest.raises(ValueError, match="elastic_sigma must be a number"):
        check_augment({"elastic": 34, "elastic_sigma": 0})
    with pytest.raises(ValueError, match="give elastic"):
        check_augment({"elastic_sigma": 3})
    assert check_augment({"rotate": 7, "elastic": 0, "elastic_sigma": 3}) == check_augment({"rotate": 7})  # off
    assert not is_identity({"elastic": 34}) and is_identity({"elastic": 0})
    assert ingredient_value("augment", {"augment": check_augment({"rotate": 7, "elastic": 34, "elastic_sigma": 5})}) \
        == "rotation ±7°, elastic α 34 px (σ 5 px)"
    for options in ({"elastic": 34}, {"rotate": 7, "brightness": 0.2}, {"contrast": 0.1}):
        with pytest.raises(ValueError, match=": applied on the device only"):
            torchvision_transform(options)


def test_gaussian_smoothing_is_a_normalised_separable_kernel_with_zeros_outside():
    sigma, radius = 2.0, 8  # cut at 4 sd
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    impulse = torch.zeros(1, 28, 28, dtype=torch.float64)
    impulse[0, 14, 14] = 1.0
    assert torch.allclose(gaussian_smooth(impulse, sigma)[0, 6:23, 6:23], torch.outer(kernel, kernel))
    corner = torch.zeros(1, 28, 28, dtype=torch.float64)
    corner[0, 0, 0] = 1.0
    smoothed = gaussian_smooth(corner, sigma)
    assert torch.isclose(smoothed[0, 0, 0], kernel[radius] ** 2)  # what falls outside the image is lost
    assert torch.isclose(smoothed.sum(), kernel[radius:].sum() ** 2)


def test_elastic_displacements_are_smooth_about_a_pixel_and_seeded():
    def draw(seed, **options):
        return draw_elastic(500, 28, 28, {"elastic": 34, **options}, torch.Generator().manual_seed(seed))

    pixels = draw(0) * 14  # grid units to pixels (2 / 28 per pixel)
    assert pixels.shape == (500, 28, 28, 2)
    assert 1.0 < float(pixels[:, 8:20, 8:20].std()) < 1.8  # Simard's alpha 34, sigma 4: moves of about 1.4 px
    neighbours = float((pixels[:, :, 1:] - pixels[:, :, :-1]).abs().mean())
    assert neighbours < 0.25 * float(pixels.abs().mean())  # smooth: unsmoothed noise would differ as much as it moves
    assert torch.equal(draw(0), draw(0)) and not torch.equal(draw(0), draw(1))
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    assert draw_elastic(5, 28, 28, {"rotate": 7}, generator) is None
    assert torch.equal(generator.get_state(), before)  # off: nothing drawn, the run's random stream untouched


def test_share_brightness_and_contrast_appear_only_where_given_and_leave_other_runs_streams_alone():
    """A run without them is the experiment it was, with the same random draws."""
    assert check_augment({"rotate": 7}) == {"rotate": 7.0, "shift": 0.0, "scale": 0.0}
    plain = draw_affine(64, {"rotate": 7}, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    assert torch.equal(draw_affine(64, {"rotate": 7}, generator), plain)
    assert draw_photometric(64, {"rotate": 7}, generator) is None
    assert torch.equal(torch.rand(4, generator=generator), torch.rand(4, generator=_after_affine(3)))  # drew nothing
    assert not is_identity({"brightness": 0.2}) and not is_identity({"contrast": 0.1})
    assert check_augment({"rotate": 7, "share": 1.0, "brightness": 0}) == check_augment({"rotate": 7})  # neutral
    for bad, message in (({"share": 0}, "share 0"), ({"share": 1.5}, "share must be"),
                         ({"brightness": -1}, "brightness must be"), ({"share": 0.5}, "give rotate"),
                         ({"rotate": 7, "elastic": 34, "share": 0.5}, "elastic distortion takes every image")):
        with pytest.raises(ValueError, match=message):
            check_augment(bad)


def _after_affine(seed):
    generator = torch.Generator().manual_seed(seed)
    draw_affine(64, {"rotate": 7}, generator)
    return generator


def test_share_warps_about_that_share_of_the_images_and_leaves_the_others_exact():
    theta = draw_affine(4000, {"rotate": 7, "shift": 0.09, "scale": 0.09, "share": 0.5},
                        torch.Generator().manual_seed(0))
    identity = (theta == torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])).flatten(1).all(1)
    assert 0.46 < identity.float().mean() < 0.54  # the other half: each warped by its own draw
    assert not (theta[~identity] == torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])).flatten(1).all(1).any()


def test_brightness_and_contrast_change_pixels_as_albumentations_does():
    """Pixel p in [0, 1] -> clip(a p + b, 0, 1), a in [1 - contrast, 1 + contrast], b in [-brightness, brightness],
    on the share of the images given, each of the others unchanged."""
    contrast, brightness = draw_photometric(5000, {"brightness": 0.2, "contrast": 0.2, "share": 0.5},
                                            torch.Generator().manual_seed(1))
    changed = (contrast != 1) | (brightness != 0)
    assert 0.46 < changed.float().mean() < 0.54
    assert contrast.min() >= 0.8 and contrast.max() <= 1.2 and brightness.abs().max() <= 0.2
    assert contrast[changed].std() > 0.1 and brightness[changed].std() > 0.1  # uniform over the range, not fixed
    mean, std = 0.1307, 0.3081
    pixels = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 1, 4).repeat(3, 1, 1, 1)
    factors = (torch.tensor([1.2, 0.8, 1.0]), torch.tensor([0.1, -0.2, 0.0]))
    out = adjust_photometric((pixels - mean) / std, factors, mean, std) * std + mean
    expected = torch.tensor([[0.1, 0.4, 0.7, 1.0], [0.0, 0.0, 0.2, 0.6], [0.0, 0.25, 0.5, 1.0]])
    assert torch.allclose(out.view(3, 4), expected, atol=1e-6)


def test_an_epoch_of_the_anchors_augmentation_is_seeded_and_changes_about_three_quarters_of_the_images(small_mnist):
    from utils.data import MnistData

    options = {"rotate": 7, "shift": 0.09, "scale": 0.09, "share": 0.5, "brightness": 0.2, "contrast": 0.2}
    data = MnistData(small_mnist.train_images[:512], small_mnist.train_labels[:512], small_mnist.test_images[:8],
                     small_mnist.test_labels[:8], augment=options)
    first = torch.cat([x for x, _ in data.train_batches(128, torch.Generator().manual_seed(5))])
    again = torch.cat([x for x, _ in data.train_batches(128, torch.Generator().manual_seed(5))])
    clean = torch.cat([x for x, _ in data.train_batches(128, torch.Generator().manual_seed(5), augment=False)])
    assert torch.equal(first, again)
    unchanged = ((first - clean).abs().flatten(1).amax(1) < 1e-4).float().mean()
    assert 0.15 < unchanged < 0.35  # neither transform: half of a half

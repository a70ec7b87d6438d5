"""Deskewing: a slanted stroke comes out upright, an upright one unchanged, each image on its own."""
import pytest
import torch

from utils.deskew import Deskew
from utils.inspection import receptive_field
from utils.models import build, count_parameters

BACKGROUND, INK = -0.4242, 2.8215  # MNIST's 0 and 255 after normalisation


def bar(slope, length=18):
    """A 28x28 image: a one-pixel stroke of `length` rows, moving `slope` columns per row around the centre."""
    image = torch.full((1, 1, 28, 28), BACKGROUND)
    for row in range(14 - length // 2, 14 + length // 2):
        image[0, 0, row, round(14 + slope * (row - 14))] = INK
    return image


def ink_slope(images):
    """cov(row, col) / var(row) of each image's ink."""
    ink = images - images.amin(dim=(-2, -1), keepdim=True)
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    mass = ink.sum(dim=(-2, -1))
    row_mean, col_mean = (ink * rows).sum(dim=(-2, -1)) / mass, (ink * cols).sum(dim=(-2, -1)) / mass
    rows, cols = rows - row_mean[..., None, None], cols - col_mean[..., None, None]
    return ((ink * rows * cols).sum(dim=(-2, -1)) / (ink * rows ** 2).sum(dim=(-2, -1))).flatten()


def test_a_slanted_stroke_comes_out_upright_and_an_upright_one_unchanged():
    slanted = torch.cat([bar(0.5), bar(-0.3)])
    assert ink_slope(slanted).abs().min() > 0.25
    assert ink_slope(Deskew()(slanted)).abs().max() < 0.02
    upright = bar(0.0)
    assert torch.allclose(Deskew()(upright), upright, atol=1e-5)


def test_each_image_is_deskewed_on_its_own_and_a_blank_one_stays_blank():
    images = torch.cat([bar(0.5), bar(-0.3), torch.full((1, 1, 28, 28), BACKGROUND)])
    together = Deskew()(images)
    alone = torch.cat([Deskew()(image[None]) for image in images])
    assert torch.allclose(together, alone, atol=1e-6)
    assert torch.allclose(together[2], images[2], atol=1e-5)


def test_the_deskewing_net_has_no_parameter_more_and_the_rf_tool_reads_it():
    plain, deskewing = build("smallest"), build("smallest", deskew=True)
    assert count_parameters(deskewing) == count_parameters(plain) == 3948
    assert [row.rf_out for row in receptive_field(deskewing)] == [row.rf_out for row in receptive_field(plain)]
    assert deskewing(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="deskew must be True or False"):
        build("smallest", deskew="yes")


def reference_deskew(image):
    """One 28x28 image deskewed by hand: each row read at c + slope * (row - row mean), linearly between pixels."""
    ink = image - image.min()
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    row_mean, col_mean = (ink * rows).sum() / ink.sum(), (ink * cols).sum() / ink.sum()
    slope = (ink * (rows - row_mean) * (cols - col_mean)).sum() / (ink * (rows - row_mean) ** 2).sum()
    out = torch.empty_like(image)
    for row in range(28):
        for col in range(28):
            at = min(max(col + slope * (row - row_mean), 0.0), 27.0)
            left = int(at)
            right, weight = min(left + 1, 27), at - left
            out[row, col] = (1 - weight) * image[row, left] + weight * image[row, right]
    return out


def test_an_off_centre_digit_is_sheared_about_its_own_centre_and_read_between_pixels():
    image = torch.roll(bar(0.4, length=12), shifts=(-6, 5), dims=(-2, -1))  # centre of mass at row 7.5, column 19
    image[0, 0, 4, 17] = 1.0  # grey, so that reading between pixels shows
    deskewed = Deskew()(image)
    ink_before, ink_after = image - BACKGROUND, deskewed - BACKGROUND
    cols = torch.arange(28.0)
    assert torch.allclose((ink_after * cols).sum() / ink_after.sum(), (ink_before * cols).sum() / ink_before.sum(),
                          atol=0.05)
    assert torch.allclose(deskewed[0, 0], reference_deskew(image[0, 0]), atol=1e-4)


def test_a_colour_image_is_refused_by_name():
    with pytest.raises(ValueError, match="Deskew: expected grey images"):
        Deskew()(torch.zeros(2, 3, 28, 28))

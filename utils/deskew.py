"""Deskewing: the classic MNIST preprocessing (LeCun et al. 1998), as a layer without parameters.

Each image is sheared along its rows so that its ink's main axis stands upright: slant is what writers vary most,
and a net that sees it taken out spends no weights on it. It runs in the model's forward pass, on the device, so a
trained model deskews whatever it is given (training and test images alike) and evaluation needs no change.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Deskew(nn.Module):
    """(B, 1, H, W) -> (B, 1, H, W): each row of each image shifted sideways by the slope of the image's ink
    (cov(row, col) / var(row), from its moments) times the row's distance from the ink's centre, bilinear along the
    row, the border pixels (background) extended. Rows stay rows and the centre of mass stays where it is: MNIST
    centred it already. Any normalisation of the input works: ink is measured above each image's minimum."""

    def forward(self, images):
        if images.dim() != 4 or images.shape[1] != 1:
            raise ValueError(f"Deskew: expected grey images (B, 1, H, W), got shape {tuple(images.shape)}")
        height, width = images.shape[-2:]
        ink = images - images.amin(dim=(-2, -1), keepdim=True)
        mass = ink.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-6)  # an empty image stays as it is
        rows = torch.arange(height, dtype=images.dtype, device=images.device).view(height, 1)
        cols = torch.arange(width, dtype=images.dtype, device=images.device).view(1, width)
        row_mean = (ink * rows).sum(dim=(-2, -1), keepdim=True) / mass
        col_mean = (ink * cols).sum(dim=(-2, -1), keepdim=True) / mass
        row_var = (ink * (rows - row_mean) ** 2).sum(dim=(-2, -1), keepdim=True) / mass
        covariance = (ink * (rows - row_mean) * (cols - col_mean)).sum(dim=(-2, -1), keepdim=True) / mass
        slope = covariance / row_var.clamp_min(1e-6)
        source_cols = cols + slope * (rows - row_mean)  # (B, 1, H, W): where output pixel (r, c) reads its row
        source_rows = rows.expand(height, width).expand_as(source_cols)
        grid = torch.stack((source_cols * (2 / (width - 1)) - 1, source_rows * (2 / (height - 1)) - 1), dim=-1)
        return F.grid_sample(images, grid[:, 0], mode="bilinear", padding_mode="border", align_corners=True)

"""Torch helpers shared by the course's deep-model assignments.

Data, device, seeds, a training loop with a progress bar, and image grids.
This file ships inside every release folder whose notebook imports it, so a
student needs nothing but that folder and the course's pinned packages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

# Chosen once, here, so that every cell and every helper agree on it.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# The one fixed split of scikit-learn's digits: 450 test images, stratified by label.
TEST_SIZE = 450
SPLIT_SEED = 0
IMAGE_SHAPE = (8, 8)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (every device), for runs that repeat exactly on one machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Digits:
    """Images as rows of 64 pixels in [0, 1] (float32, on DEVICE) and their labels (int64)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digit_arrays(binarized: bool = False):
    """(x_train, y_train, x_test, y_test) as numpy arrays: the course's fixed split.

    Grey levels are the scanned 0..16 counts divided by 16.  `binarized` thresholds
    them at one half, which makes a Bernoulli decoder an honest likelihood: its
    log-probabilities are then those of a distribution over the images themselves.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)  # bundled with scikit-learn: nothing is downloaded
    x = images / 16.0
    if binarized:
        x = (x > 0.5).astype(np.float64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, labels, test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED
    )
    return x_train, y_train, x_test, y_test


def load_digits_split(binarized: bool = False, device: torch.device = DEVICE) -> Digits:
    """The course's split of the digits, as tensors on `device`."""
    x_train, y_train, x_test, y_test = digit_arrays(binarized)

    def images(x):
        return torch.tensor(x, dtype=torch.float32, device=device)

    def labels(y):
        return torch.tensor(y, dtype=torch.int64, device=device)

    return Digits(images(x_train), labels(y_train), images(x_test), labels(y_test))


def train(loss_fn, parameters, x: torch.Tensor, epochs: int, lr: float = 1e-3, batch_size: int = 64,
          desc: str = "training") -> list[float]:
    """Adam on `loss_fn(batch)` over shuffled minibatches of `x`; the mean loss of each epoch.

    `loss_fn` takes a batch of rows of `x` and returns a scalar tensor to minimise.
    """
    parameters = list(parameters)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    history = []
    bar = tqdm(range(epochs), desc=desc, mininterval=2.0, ncols=80)
    for _ in bar:
        order = torch.randperm(len(x), device=x.device)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = x[order[start:start + batch_size]]
            loss = loss_fn(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(x))
        bar.set_postfix(loss=f"{history[-1]:.3f}", refresh=False)
    return history


def show_digits(images, nrow: int = 10, title: str | None = None, ax=None):
    """A grid of 8x8 images (rows of 64 values in [0, 1]) on one matplotlib axis."""
    import matplotlib.pyplot as plt

    images = torch.as_tensor(images).detach().float().cpu().reshape(-1, *IMAGE_SHAPE).numpy()
    ncol = -(-len(images) // nrow)
    height, width = IMAGE_SHAPE
    grid = np.zeros((ncol * (height + 1) - 1, nrow * (width + 1) - 1))  # white gaps between images
    for i, image in enumerate(images):
        row, col = divmod(i, nrow)
        grid[row * (height + 1):row * (height + 1) + height, col * (width + 1):col * (width + 1) + width] = image
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.6, ncol * 0.6))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax

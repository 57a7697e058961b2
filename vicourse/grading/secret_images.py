"""Images that no student has seen, for the checks that judge trained models.

The digits, their labels and their split are public, so a model that is scored on
them can be a lookup table of them.  A check that judges a trained model instead
draws a small world from the grading secret (`checking.hidden_rng`): ten stroke
glyphs, each a random path of a few segments.  Each image shows one glyph,
moved, turned, sheared, stretched and jittered, drawn with a random pen on a
32x32 grid and counted in 4x4 blocks, as scikit-learn's digits were made.  So
the images look like 8x8 digits (grey levels in sixteenths, strokes on a blank
ground) but show shapes that exist only in this grading run, and the label of
an image (which glyph) is known only here.

The student's code gets unlabelled images for training; the grader scores what
it returns on fresh images of the same world.
"""

from __future__ import annotations

import numpy as np

CLASSES = 10
POINTS = 5  # control points per glyph: four strokes
# glyph prototypes at least this far apart (Euclidean, in grey levels over 64 pixels), so
# that no two classes of a world are the same shape drawn twice
MIN_DISTANCE = 2.2
# pixel centres of the 32x32 drawing grid, in [-1, 1]^2
_GRID = (np.stack(np.meshgrid(np.arange(32), np.arange(32), indexing="ij"), -1).reshape(-1, 2) + 0.5) / 16 - 1


def draw_strokes(paths: np.ndarray, width: np.ndarray, chunk: int = 100) -> np.ndarray:
    """Images (N, 64) in [0, 1]: polyline n of `paths` (N, P, 2) drawn with half-width
    `width[n]` on the 32x32 grid, then the inked share of each 4x4 block.  Plain elementwise
    arithmetic, so the same paths give the same pixels on any machine."""
    grid_x, grid_y = _GRID[None, :, None, 0], _GRID[None, :, None, 1]
    images = np.empty((len(paths), 64))
    for first in range(0, len(paths), chunk):
        part = paths[first:first + chunk]
        start_x, start_y = part[:, None, :-1, 0], part[:, None, :-1, 1]
        along_x, along_y = part[:, None, 1:, 0] - start_x, part[:, None, 1:, 1] - start_y
        to_x, to_y = grid_x - start_x, grid_y - start_y  # (n, 1024 grid points, segments)
        t = np.clip((to_x * along_x + to_y * along_y) / np.maximum(along_x ** 2 + along_y ** 2, 1e-9), 0.0, 1.0)
        squared = ((to_x - t * along_x) ** 2 + (to_y - t * along_y) ** 2).min(axis=-1)
        ink = squared < width[first:first + chunk, None] ** 2
        images[first:first + chunk] = ink.reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(-1, 64)
    return images


class GlyphWorld:
    """Ten secret glyphs; `draw` makes labelled images of them."""

    def __init__(self, rng: np.random.Generator, classes: int = CLASSES):
        for _ in range(1000):
            shapes = rng.uniform(-0.85, 0.85, (classes, POINTS, 2))
            prototypes = draw_strokes(shapes, np.full(classes, 0.2))
            apart = np.linalg.norm(prototypes[:, None] - prototypes[None], axis=-1)
            if apart[~np.eye(classes, dtype=bool)].min() >= MIN_DISTANCE:
                break
        self.shapes = shapes

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(images (n, 64) in [0, 1], labels (n,)): each class equally likely."""
        classes, points, _ = self.shapes.shape
        labels = rng.integers(0, classes, n)
        paths = self.shapes[labels] + rng.normal(0, 0.07, (n, points, 2))  # each control point jittered
        angle, shear = rng.normal(0, 0.15, (n, 1)), rng.normal(0, 0.15, (n, 1))
        scale = rng.uniform(0.8, 1.1, (n, 2))
        cos, sin = np.cos(angle), np.sin(angle)
        x, y = paths[..., 0], paths[..., 1]
        moved = np.stack([(cos * scale[:, :1]) * x + (shear - sin * scale[:, :1]) * y,
                          (sin * scale[:, 1:]) * x + (cos * scale[:, 1:]) * y], axis=-1)
        moved += rng.normal(0, 0.08, (n, 1, 2))
        return draw_strokes(moved, rng.uniform(0.15, 0.25, n)), labels


def binarized(images: np.ndarray) -> np.ndarray:
    """Pixels thresholded at one half, as the notebooks binarise the digits."""
    return (images > 0.5).astype(np.float64)

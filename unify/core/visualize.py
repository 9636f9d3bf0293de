"""Pictures: colourised label maps side by side, for people who would rather look than read."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from unify.core.images import colorize


def label_image(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return colorize(label, palette)


def comparison_grid(rows: list[list[np.ndarray]], titles: list[str], cell_width: int = 256) -> Image.Image:
    """A grid of (H, W, 3) panels with one title per column; panels are scaled to `cell_width`."""
    if not rows or any(len(r) != len(titles) for r in rows):
        raise ValueError(f"every row needs {len(titles)} panels, one per title")
    header = 18
    cells = [[Image.fromarray(p).resize((cell_width, round(p.shape[0] * cell_width / p.shape[1])), Image.NEAREST)
              for p in row] for row in rows]
    heights = [max(c.height for c in row) for row in cells]
    gap = 4
    grid = Image.new("RGB", (len(titles) * (cell_width + gap) - gap, header + sum(heights) + gap * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for col, title in enumerate(titles):
        draw.text((col * (cell_width + gap) + 4, 3), title, fill="black")
    y = header
    for row, height in zip(cells, heights):
        for col, cell in enumerate(row):
            grid.paste(cell, (col * (cell_width + gap), y))
        y += height + gap
    return grid

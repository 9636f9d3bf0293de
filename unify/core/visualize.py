"""Pictures: colourised label maps side by side, for people who would rather look than read."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def comparison_grid(rows: list[list[np.ndarray]], titles: list[str], cell_width: int = 256) -> Image.Image:
    """A grid of (H, W, 3) uint8 panels, one title per column, each panel scaled to `cell_width` pixels wide.

    Raises `ValueError` when there is no row or a row has not one panel per title.
    """
    if not rows or any(len(r) != len(titles) for r in rows):
        raise ValueError(f"every row needs {len(titles)} panels, one per title")
    header = 18
    cells = [
        [
            Image.fromarray(p).resize((cell_width, round(p.shape[0] * cell_width / p.shape[1])), Image.NEAREST)
            for p in row
        ]
        for row in rows
    ]
    heights = [max(c.height for c in row) for row in cells]
    gap = 4
    grid = Image.new("RGB", (len(titles) * (cell_width + gap) - gap, header + sum(heights) + gap * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for col, title in enumerate(titles):
        draw.text((col * (cell_width + gap) + 4, 3), title, fill="black")
    y = header
    for row, height in zip(cells, heights, strict=True):
        for col, cell in enumerate(row):
            grid.paste(cell, (col * (cell_width + gap), y))
        y += height + gap
    return grid


def confusion_image(matrix: torch.Tensor, names: list[str], max_side: int = 1200) -> Image.Image:
    """A picture of a (C, C) count matrix (rows: truth, columns: prediction), each row normalised to its total.

    Darker means a larger share of the row's pixels (blue on the diagonal, red off it); `names` are the C class
    names written along both axes; cells are 6 to 32 pixels, so that the side stays near `max_side` pixels.
    """
    counts = matrix.double()
    shares = (counts / counts.sum(1, keepdim=True).clamp(min=1)).numpy()
    n = len(names)
    cell = max(6, min(32, max_side // max(n, 1)))
    font = ImageFont.load_default()
    captions = ("rows: truth", "columns: prediction")
    margin = 8 + max(int(font.getlength(text)) for text in (*names, *captions))
    side = margin + n * cell
    image = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(image)
    for row in range(n):
        draw.text((4, margin + row * cell + cell // 2), names[row], fill="black", font=font, anchor="lm")
        for column in range(n):
            shade = int(255 * (1 - shares[row, column]))
            fill = (shade, shade, 255) if row == column else (255, shade, shade)
            x, y = margin + column * cell, margin + row * cell
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=fill, outline=(230, 230, 230))
    # column names: drawn like the row names on a strip, then turned to read upwards above the columns
    strip = Image.new("RGB", (margin, side), "white")
    strip_draw = ImageDraw.Draw(strip)
    for column in range(n):
        strip_draw.text((4, margin + column * cell + cell // 2), names[column], fill="black", font=font, anchor="lm")
    image.paste(strip.rotate(90, expand=True), (0, 0))
    draw.rectangle([0, 0, margin - 1, margin - 1], fill="white")
    for line, text in enumerate(captions):
        draw.text((4, margin - 24 + 12 * line), text, fill="gray", font=font)
    return image

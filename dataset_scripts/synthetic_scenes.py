"""Procedural street scenes for the built-in synthetic driving world.

A scene is drawn from a seed alone: a road in perspective with lane markings, sidewalks,
buildings with windows, trees, poles with signs and lights, vehicles and people, painted far to
near so that near things occlude far ones. Each class has its own look with per-object variation,
so that a small network can learn it on a CPU in minutes. The label map uses the ids of the
`synthetic_fine` taxonomy; camera and photometric settings make the domain-shifted variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unify.core.constants import IGNORE_INDEX

ROAD, LANE, SIDEWALK, BUILDING, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(10)
PERSON, RIDER, CAR, TRUCK, BUS = range(10, 15)
EGO = IGNORE_INDEX


@dataclass(frozen=True)
class Camera:
    """Where the synthetic camera is and what it sees: image size in pixels, horizon and road width as fractions."""

    height: int = 128  # image rows
    width: int = 256  # image columns
    horizon: tuple[float, float] = (0.38, 0.46)  # range of the horizon row, as a fraction of the height
    road_width: tuple[float, float] = (0.55, 0.8)  # range of the road's width at the bottom row, fraction of width
    hood: bool = False  # whether the ego vehicle's bonnet shows at the bottom


@dataclass(frozen=True)
class Look:
    """Photometric settings of a synthetic domain: gain, colour cast, gamma and noise (0..255 units)."""

    brightness: tuple[float, float] = (0.85, 1.15)  # range of the global gain
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel colour gain
    gamma: float = 1.0  # >1 darkens mid-tones (dusk)
    noise: float = 4.0  # std of per-pixel noise, in 0..255 units


SOURCE_CAMERA = Camera()
SHIFTED_CAMERA = Camera(height=160, width=240, horizon=(0.48, 0.56), road_width=(0.7, 0.95), hood=True)
DAYLIGHT = Look()
DUSK = Look(brightness=(0.6, 0.8), cast=(1.15, 0.92, 0.7), gamma=1.4, noise=9.0)


class _Canvas:
    def __init__(self, height: int, width: int, rng: np.random.Generator):
        self.h, self.w, self.rng = height, width, rng
        self.label = np.full((height, width), TERRAIN, dtype=np.uint8)
        self.rgb = np.zeros((height, width, 3), dtype=np.float32)
        self.yy, self.xx = np.mgrid[0:height, 0:width].astype(np.float32)

    def paint(self, mask: np.ndarray, cls: int, color, texture: float = 6.0) -> None:
        count = int(mask.sum())
        if count == 0:
            return
        self.label[mask] = cls
        jitter = self.rng.normal(0.0, texture, size=(count, 1)) if texture else 0.0
        self.rgb[mask] = np.asarray(color, dtype=np.float32) + jitter

    def box(self, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
        return (self.yy >= y0) & (self.yy < y1) & (self.xx >= x0) & (self.xx < x1)

    def ellipse(self, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
        return ((self.yy - cy) / max(ry, 0.5)) ** 2 + ((self.xx - cx) / max(rx, 0.5)) ** 2 <= 1.0


def render_scene(seed: int, camera: Camera = SOURCE_CAMERA, look: Look = DAYLIGHT) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image and (H, W) uint8 fine label map of scene `seed`."""
    rng = np.random.default_rng(seed)
    c = _Canvas(camera.height, camera.width, rng)
    horizon = c.h * rng.uniform(*camera.horizon)
    vx = c.w * rng.uniform(0.4, 0.6)
    curve = rng.uniform(-0.25, 0.25) * c.w
    half_road = 0.5 * c.w * rng.uniform(*camera.road_width)
    walk = rng.uniform(0.25, 0.5)

    def depth(y):  # 0 at the horizon, 1 at the bottom row
        return np.clip((y - horizon) / (c.h - horizon), 1e-3, 1.0)

    def centre(y):
        return vx + curve * (1.0 - depth(y)) ** 2

    _draw_sky_and_ground(c, horizon, rng)
    d = depth(c.yy)
    below = c.yy > horizon
    offset = c.xx - centre(c.yy)
    road_edge = half_road * d
    c.paint(
        below & (np.abs(offset) < road_edge * (1 + walk)),
        SIDEWALK,
        rng.uniform(150, 190) * np.array([1.0, 0.93, 0.95]),
        5,
    )
    c.paint(below & (np.abs(offset) < road_edge), ROAD, rng.uniform(70, 105) * np.ones(3), 5)
    dashes = (np.mod(4.0 / d, 1.0) < 0.5) & (d > 0.05)
    c.paint(below & (np.abs(offset) < np.maximum(1.0, 0.02 * c.w * d)) & dashes, LANE, (235, 235, 225), 4)
    for side in (-1, 1):
        _draw_roadside(
            c, side, horizon, depth, centre, road_edge_at=lambda y: half_road * depth(y) * (1 + walk), rng=rng
        )
    objects = _place_objects(rng, c, horizon, depth, centre, half_road, walk)
    for _, draw in sorted(objects, key=lambda item: item[0]):
        draw()
    _draw_shadows(c, below, rng)
    if camera.hood:
        hood = c.yy > c.h * (0.9 - 0.05 * np.cos((c.xx / c.w - 0.5) * np.pi))
        c.paint(hood, EGO, (30, 30, 35), 3)
    return _photometric(c, look, rng), c.label


def _draw_sky_and_ground(c: _Canvas, horizon: float, rng: np.random.Generator) -> None:
    sky = c.yy <= horizon
    t = (c.yy / max(horizon, 1.0))[..., None]
    top, bottom = np.array([70, 120, 200]) * rng.uniform(0.85, 1.1), np.array([180, 205, 230])
    c.label[sky] = SKY
    c.rgb[sky] = (top * (1 - t) + bottom * t)[sky]
    c.paint(~sky, TERRAIN, rng.uniform(0.8, 1.1) * np.array([150, 160, 95]), 12)


def _draw_roadside(c, side, horizon, depth, centre, road_edge_at, rng) -> None:
    """Buildings or parkland beyond the sidewalk on one side, in vertical blocks."""
    edge_x = centre(c.yy) + side * road_edge_at(c.yy)
    beyond = (side * (c.xx - edge_x) > 0) & (c.yy > horizon - 1)
    start = centre(np.float32(horizon)) + side * 2
    x = float(start)
    while 0 <= x <= c.w:
        width = rng.uniform(0.08, 0.3) * c.w
        x0, x1 = sorted((x, x + side * width))
        column = (c.xx >= x0) & (c.xx < x1)
        if rng.random() < 0.72:
            top = horizon - rng.uniform(0.1, 0.38) * c.h
            facade = column & (c.yy >= top) & ((c.yy <= horizon) | beyond)
            colour = rng.choice([[150, 130, 110], [120, 120, 125], [170, 150, 120], [110, 80, 70], [190, 185, 175]])
            c.paint(facade, BUILDING, np.asarray(colour) * rng.uniform(0.8, 1.1), 5)
            win_w, win_h = rng.uniform(3, 6), rng.uniform(3, 6)
            windows = facade & (np.mod(c.xx, win_w * 2) < win_w) & (np.mod(c.yy - top, win_h * 2) < win_h)
            c.rgb[windows] = np.array([60, 70, 90]) * rng.uniform(0.6, 1.3)
        else:
            bumps = np.sin(c.xx * rng.uniform(0.2, 0.5)) * 3 + np.cos(c.xx * 0.9) * 2
            trees = column & (c.yy >= horizon - rng.uniform(0.08, 0.22) * c.h + bumps)
            trees &= (c.yy <= horizon + rng.uniform(0.0, 0.08) * c.h) & ((c.yy <= horizon) | beyond)
            c.paint(trees, VEGETATION, (60, 110, 40), 18)
        x += side * width


def _place_objects(rng, c, horizon, depth, centre, half_road, walk) -> list:
    """(depth, draw) pairs for every object, so they can be painted far to near."""
    objects = []

    def at(d):  # image row of a depth
        return horizon + d * (c.h - horizon)

    for _ in range(rng.integers(1, 6)):
        d = rng.uniform(0.25, 1.0)
        y = at(d)
        lane = rng.uniform(-0.75, 0.75)
        kind = rng.choice([CAR, CAR, CAR, TRUCK, BUS])
        objects.append(
            (d, lambda d=d, y=y, lane=lane, kind=kind: _vehicle(c, rng, kind, y, centre(y) + lane * half_road * d, d))
        )
    for _ in range(rng.integers(2, 6)):
        d = rng.uniform(0.2, 0.9)
        y = at(d)
        side = rng.choice([-1, 1])
        x = centre(y) + side * half_road * d * (1 + walk * rng.uniform(0.5, 1.0))
        kind = rng.choice([POLE, SIGN, LIGHT, VEGETATION])
        objects.append((d, lambda d=d, y=y, x=x, kind=kind: _street_furniture(c, rng, kind, y, x, d)))
    for _ in range(rng.integers(0, 5)):
        d = rng.uniform(0.25, 1.0)
        y = at(d)
        if rng.random() < 0.35:
            x = centre(y) + rng.choice([-1, 1]) * half_road * d * 0.85
            objects.append((d, lambda d=d, y=y, x=x: _person(c, rng, y, x, d, riding=True)))
        else:
            x = centre(y) + rng.choice([-1, 1]) * half_road * d * (1 + walk * rng.uniform(0.2, 0.8))
            objects.append((d, lambda d=d, y=y, x=x: _person(c, rng, y, x, d, riding=False)))
    return objects


def _vehicle(c, rng, kind, y, x, d) -> None:
    scale = d * c.w
    width = {CAR: 0.16, TRUCK: 0.2, BUS: 0.22}[kind] * scale
    height = {CAR: 0.11, TRUCK: 0.2, BUS: 0.21}[kind] * scale
    colour = np.asarray(
        rng.choice(
            [
                [170, 30, 30],
                [30, 60, 150],
                [190, 190, 195],
                [25, 25, 30],
                [230, 230, 230],
                [200, 160, 40],
                [40, 110, 60],
            ]
        ),
        dtype=np.float32,
    )
    if kind == CAR:
        c.paint(c.box(y - height * 0.55, y - height * 0.05, x - width / 2, x + width / 2), CAR, colour, 4)
        c.paint(c.box(y - height, y - height * 0.5, x - width * 0.32, x + width * 0.32), CAR, colour * 0.9, 4)
        c.rgb[c.box(y - height * 0.92, y - height * 0.58, x - width * 0.27, x + width * 0.27)] = (90, 110, 130)
    elif kind == TRUCK:
        c.paint(
            c.box(y - height, y - height * 0.1, x - width / 2, x + width * 0.25),
            TRUCK,
            (200, 200, 190) * rng.uniform(0.7, 1.1, 3),
            3,
        )
        c.paint(c.box(y - height * 0.65, y - height * 0.1, x + width * 0.25, x + width / 2), TRUCK, colour, 4)
    else:
        c.paint(c.box(y - height, y - height * 0.08, x - width / 2, x + width / 2), BUS, colour * 0.9 + 20, 3)
        band = c.box(y - height * 0.85, y - height * 0.55, x - width * 0.46, x + width * 0.46) & (np.mod(c.xx, 5) < 4)
        c.rgb[band] = (40, 50, 70)
    for wx in (x - width * 0.32, x + width * 0.32):
        c.paint(c.ellipse(y - height * 0.08, wx, height * 0.12, width * 0.09), kind, (20, 20, 20), 3)


def _street_furniture(c, rng, kind, y, x, d) -> None:
    scale = d * c.h
    if kind == VEGETATION:  # a tree: trunk and crown
        c.paint(
            c.box(y - 0.5 * scale, y, x - 0.015 * scale - 0.5, x + 0.015 * scale + 0.5), VEGETATION, (80, 60, 40), 6
        )
        c.paint(
            c.ellipse(y - 0.65 * scale, x, 0.25 * scale, 0.18 * scale),
            VEGETATION,
            (50, 105 * rng.uniform(0.8, 1.2), 35),
            20,
        )
        return
    top = y - 0.75 * scale
    c.paint(c.box(top, y, x - 0.02 * scale - 0.7, x + 0.02 * scale + 0.7), POLE, (125, 125, 120), 4)
    if kind == SIGN:
        size = 0.12 * scale + 1.5
        if rng.random() < 0.5:
            c.paint(c.ellipse(top, x, size, size), SIGN, (200, 30, 30), 4)
            c.paint(c.ellipse(top, x, size * 0.65, size * 0.65), SIGN, (235, 235, 235), 4)
        else:
            c.paint(c.box(top - size, top + size, x - size * 1.4, x + size * 1.4), SIGN, (30, 80, 170), 4)
    elif kind == LIGHT:
        w, h = 0.05 * scale + 1.5, 0.15 * scale + 2
        c.paint(c.box(top - h, top + h * 0.2, x - w, x + w), LIGHT, (35, 35, 30), 3)
        lit = rng.integers(0, 3)
        for i, colour in enumerate([(230, 40, 30), (240, 180, 30), (40, 220, 90)]):
            glow = colour if i == lit else (60, 55, 45)
            c.rgb[c.ellipse(top - h + (i + 0.5) * h * 0.38, x, w * 0.55, w * 0.55)] = glow


def _person(c, rng, y, x, d, riding: bool) -> None:
    scale = d * c.h
    cls = RIDER if riding else PERSON
    shirt = rng.uniform(30, 230, 3)
    if riding:
        wheel = 0.09 * scale + 0.7
        for wx in (x - wheel * 1.3, x + wheel * 1.3):
            ring = c.ellipse(y - wheel, wx, wheel, wheel) & ~c.ellipse(y - wheel, wx, wheel * 0.6, wheel * 0.6)
            c.paint(ring, RIDER, (25, 25, 25), 3)
        c.paint(c.box(y - wheel * 1.2, y - wheel * 0.9, x - wheel * 1.3, x + wheel * 1.3), RIDER, (150, 20, 20), 3)
        y = y - wheel * 1.1
    height = 0.42 * scale + 2
    c.paint(c.box(y - height * 0.5, y, x - height * 0.09, x + height * 0.09), cls, (40, 40, 70), 5)
    c.paint(c.box(y - height * 0.85, y - height * 0.45, x - height * 0.13, x + height * 0.13), cls, shirt, 6)
    c.paint(c.ellipse(y - height * 0.92, x, height * 0.08 + 0.5, height * 0.07 + 0.5), cls, (225, 180, 150), 5)


def _draw_shadows(c, below, rng) -> None:
    """Clutter that changes the look but not the label: shadows and stains on the ground."""
    for _ in range(rng.integers(0, 4)):
        cy, cx = rng.uniform(0.6, 1.0) * c.h, rng.uniform(0, c.w)
        stain = below & c.ellipse(cy, cx, rng.uniform(3, 10), rng.uniform(8, 30))
        c.rgb[stain] *= rng.uniform(0.55, 0.8)


def _photometric(c: _Canvas, look: Look, rng: np.random.Generator) -> np.ndarray:
    gain = rng.uniform(*look.brightness)
    vignette = 1.0 - 0.25 * (((c.xx - c.w / 2) / c.w) ** 2 + ((c.yy - c.h / 2) / c.h) ** 2)[..., None]
    rgb = np.clip(c.rgb * gain * vignette * np.asarray(look.cast, dtype=np.float32), 0, 255) / 255.0
    rgb = rgb**look.gamma * 255.0 + rng.normal(0.0, look.noise, size=rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)

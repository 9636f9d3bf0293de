import colorsys
import dataclasses
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from train.config import AugmentConfig, TrainConfig, load_config, write_run_config
from train.decode import open_pair
from train.transforms import OUTSIDE, TrainTransform, gaussian_blur, hue_saturation, shear_grid
from unify.core.constants import IGNORE_INDEX, IMAGE
from unify.core.errors import BadSampleError, UnifyError
from unify.core.segmenter import IMAGENET_MEAN, IMAGENET_STD, Normalization

CROP = (48, 64)
normalize = Normalization()
# Each change switched on strongly, the others at their identity.
STRONG = {
    "brightness": (1.3, 1.4),
    "contrast": (1.3, 1.4),
    "hue_degrees": (40.0, 50.0),
    "saturation": (0.3, 0.4),
    "shear_degrees": (10.0, 12.0),
    "blur_probability": 1.0,
    "noise_probability": 1.0,
}


def only(**changes) -> AugmentConfig:
    """Every augmentation off but these."""
    return dataclasses.replace(AugmentConfig.none(), **changes)


def scene(height: int = 96, width: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A smooth coloured image with a car-like box; label 0 background, 7 road below the horizon, 26 the box."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([60 + 120 * xx / width, 80 + 100 * yy / height, 160 - 60 * xx / width], -1)
    label = np.where(yy > height // 2, 7, 0)
    box = (yy >= height // 3) & (yy < 2 * height // 3) & (xx >= width // 4) & (xx < width // 2)
    image[box], label[box] = (230, 40, 40), 26
    return image.astype(np.uint8), label.astype(np.uint8)


def todays_transform(image, label, rng, crop=CROP, scale_range=(0.6, 1.4)):
    """The transform as it was before augmentation and reduced decoding, kept as the oracle."""
    height, width = label.shape
    scale = rng.uniform(*scale_range)
    win_h, win_w = max(1, round(crop[0] / scale)), max(1, round(crop[1] / scale))
    top, left = int(rng.integers(0, max(height - win_h, 0) + 1)), int(rng.integers(0, max(width - win_w, 0) + 1))
    window = torch.from_numpy(np.array(image[top : top + win_h, left : left + win_w])).permute(2, 0, 1)[None].float()
    label_window = torch.from_numpy(label[top : top + win_h, left : left + win_w].astype(np.int64))[None, None].float()
    size = (min(crop[0], round(window.shape[2] * scale)), min(crop[1], round(window.shape[3] * scale)))
    image_out = F.interpolate(window, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)[0]
    label_out = F.interpolate(label_window, size=size, mode="nearest")[0, 0].long()
    if rng.random() < 0.5:
        image_out, label_out = image_out.flip(-1), label_out.flip(-1)
    pixels, target = torch.zeros(3, *crop), torch.full(crop, IGNORE_INDEX, dtype=torch.long)
    pixels[:, : size[0], : size[1]], target[: size[0], : size[1]] = normalize(image_out.clamp(0, 255)), label_out
    return pixels, target


def rgb(pixels: torch.Tensor) -> torch.Tensor:
    """Normalised pixels back to 0-255 RGB."""
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (pixels * std + mean) * 255


def jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def run(transform, image, label, seed, native=None):
    if native is None:
        return transform(image, label, np.random.default_rng(seed))
    return transform(image, label, np.random.default_rng(seed), native)


@pytest.mark.parametrize("scale_range", [(0.6, 1.4), (0.2, 0.3), (2.0, 3.0)])
def test_everything_off_gives_todays_output_bit_for_bit(scale_range):
    image, label = scene()
    for transform in (TrainTransform(CROP, scale_range), TrainTransform(CROP, scale_range, augment=only())):
        for seed in range(6):
            pixels, target = run(transform, image, label, seed)
            expected_pixels, expected_target = todays_transform(
                image, label, np.random.default_rng(seed), scale_range=scale_range
            )
            assert torch.equal(pixels, expected_pixels) and torch.equal(target, expected_target)


@pytest.mark.parametrize("name", sorted(STRONG))
def test_each_change_is_off_at_its_identity_and_changes_the_crop_when_on(name):
    image, label = scene()
    plain = TrainTransform(CROP, (0.6, 1.4), augment=AugmentConfig.none())
    changed = TrainTransform(CROP, (0.6, 1.4), augment=only(**{name: STRONG[name]}))
    for seed in range(3):
        pixels, target = run(changed, image, label, seed)
        plain_pixels, plain_target = run(plain, image, label, seed)
        assert not torch.equal(pixels, plain_pixels)
        assert torch.equal(target, plain_target) == (name != "shear_degrees")


def test_same_seed_same_output_with_every_change_on():
    image, label = scene()
    transform = TrainTransform(CROP, (0.3, 1.5), augment=AugmentConfig(**STRONG), jpeg_draft=True)
    encoded = jpeg(image)
    for seed in (0, 1, 2):
        first = run(transform, image, label, seed)
        second = run(transform, image, label, seed)
        assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
        from_jpeg = [run(transform, Image.open(io.BytesIO(encoded)), label, seed) for _ in range(2)]
        assert torch.equal(from_jpeg[0][0], from_jpeg[1][0]) and torch.equal(from_jpeg[0][1], from_jpeg[1][1])
    assert not torch.equal(run(transform, image, label, 0)[0], run(transform, image, label, 1)[0])


def test_photometric_changes_never_touch_the_label():
    image, label = scene()
    photometric = {k: v for k, v in STRONG.items() if k != "shear_degrees"}
    for shear in ((0.0, 0.0), (-2.0, 2.0)):
        plain = TrainTransform(CROP, (0.5, 1.5), augment=only(shear_degrees=shear))
        changed = TrainTransform(CROP, (0.5, 1.5), augment=AugmentConfig(**photometric, shear_degrees=shear))
        for seed in range(8):
            assert torch.equal(run(changed, image, label, seed)[1], run(plain, image, label, seed)[1])


def test_shear_moves_image_and_label_together_and_brings_in_ignore():
    image = np.full((64, 64, 3), 40, dtype=np.uint8)
    label = np.zeros((64, 64), dtype=np.uint8)
    image[:, 24:40], label[:, 24:40] = 220, 9  # a vertical bar in both
    settings = only(shear_degrees=(15.0, 15.0))
    pixels, target = TrainTransform((64, 64), (1.0, 1.0), augment=settings)(image, label, np.random.default_rng(3))
    bright = rgb(pixels)[0] > 130
    inside = target == 9
    assert (bright != inside).float().mean() < 0.01  # at most the odd pixel on the bar's edges
    # The bar leans: its centre moves by tan(15 degrees) per row, the same in the image and the label.
    columns = torch.arange(64, dtype=torch.float)
    centre = (inside * columns).sum(1) / inside.sum(1)
    slope = (centre[56] - centre[8]) / 48
    assert slope.abs().item() == pytest.approx(math.tan(math.radians(15)), abs=0.03)
    # Pixels brought in from outside the crop are ignored, in the corners the shear uncovers.
    assert (target == IGNORE_INDEX).sum() > 100
    corners = [target[0, 0], target[0, -1], target[-1, 0], target[-1, -1]]
    assert sum(int(c) == IGNORE_INDEX for c in corners) == 2


def test_drawn_values_stay_in_their_ranges():
    grey = np.full((16, 16, 3), 100, dtype=np.uint8)
    label = np.zeros((16, 16), dtype=np.uint8)

    def drawn(name, value, measure):
        settings = only(**{name: value})
        transform = TrainTransform((16, 16), (1.0, 1.0), augment=settings)
        return np.array([measure(rgb(run(transform, grey, label, seed)[0])) for seed in range(200)])

    factors = drawn("brightness", (0.9, 1.1), lambda out: out.mean().item() / 100)
    assert factors.min() >= 0.9 - 1e-4 and factors.max() <= 1.1 + 1e-4 and factors.std() > 0.04
    factors = drawn("contrast", (0.8, 1.2), lambda out: (out.mean().item() - 127) / (100 - 127))
    assert factors.min() >= 0.8 - 1e-4 and factors.max() <= 1.2 + 1e-4 and factors.std() > 0.08
    noisy = drawn("noise_probability", 0.3, lambda out: out.std().item() > 0.01)
    assert 0.2 < noisy.mean() < 0.4
    edge = np.zeros((16, 16, 3), dtype=np.uint8)
    edge[:, 6:10] = 200  # a bar that the flip leaves in place
    blur = TrainTransform((16, 16), (1.0, 1.0), augment=only(blur_probability=0.3))
    blurred = [
        (rgb(run(blur, edge, label, seed)[0]) - rgb(normalize(torch.from_numpy(edge).permute(2, 0, 1))))
        .abs()
        .max()
        .item()
        > 1
        for seed in range(200)
    ]
    assert 0.2 < np.mean(blurred) < 0.4
    red = np.zeros((16, 16, 3), dtype=np.uint8)
    red[..., 0], red[..., 1], red[..., 2] = 200, 100, 100  # hue 0, saturation 0.5

    def hsv(name, value):
        transform = TrainTransform((16, 16), (1.0, 1.0), augment=only(**{name: value}))
        pixel = [rgb(run(transform, red, label, seed)[0])[:, 8, 8] / 255 for seed in range(100)]
        return np.array([colorsys.rgb_to_hsv(*p.tolist()) for p in pixel])

    hues = (hsv("hue_degrees", (-6.0, 6.0))[:, 0] + 0.5) % 1 - 0.5
    assert np.abs(hues).max() <= 6 / 360 + 1e-4 and hues.min() < -3 / 360 and hues.max() > 3 / 360
    saturations = hsv("saturation", (0.85, 1.15))[:, 1] / 0.5
    assert saturations.min() >= 0.85 - 1e-3 and saturations.max() <= 1.15 + 1e-3 and saturations.std() > 0.05


def test_shear_stays_in_its_range():
    image, label = scene(64, 64)
    transform = TrainTransform(
        (64, 64), (1.0, 1.0), augment=dataclasses.replace(AugmentConfig.none(), shear_degrees=(-4.0, 4.0))
    )
    ignored_left = []
    for seed in range(40):
        target = run(transform, image, label, seed)[1]
        # The triangle of ignored pixels at the left edge is tan(angle) * height / 2 wide at the top or bottom row.
        ignored_left.append(max(int((target[0] == IGNORE_INDEX).sum()), int((target[-1] == IGNORE_INDEX).sum())))
    widest = math.tan(math.radians(4)) * 32
    assert max(ignored_left) <= math.ceil(widest) + 1 and min(ignored_left) < widest / 2


def test_hue_saturation_equals_the_hsv_round_trip():
    generator = np.random.default_rng(0)
    image = generator.integers(0, 256, size=(3, 12, 12)).astype(np.float32)
    image[:, 0, :3] = 128  # grey pixels: no hue
    for hue, saturation in ((6.0, 1.0), (-50.0, 0.6), (170.0, 1.7), (0.0, 0.0)):
        fast = hue_saturation(torch.from_numpy(image), hue, saturation).numpy()
        for y, x in np.ndindex(12, 12):
            h, s, v = colorsys.rgb_to_hsv(*(image[:, y, x] / 255))
            expected = colorsys.hsv_to_rgb((h + hue / 360) % 1, min(s * saturation, 1.0), v)
            np.testing.assert_allclose(fast[:, y, x] / 255, expected, atol=1e-5)


def test_gaussian_blur_keeps_flat_images_and_spreads_a_point_by_sigma():
    flat = torch.full((3, 20, 20), 77.0)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat)
    point = torch.zeros(1, 41, 41)
    point[0, 20, 20] = 1.0
    spread = gaussian_blur(point, 2.5)[0]
    assert spread.sum().item() == pytest.approx(1.0, abs=1e-5)
    offsets = torch.arange(-20, 21, dtype=torch.float)
    assert math.sqrt((spread.sum(0) * offsets**2).sum().item()) == pytest.approx(2.5, rel=0.02)


def test_jpeg_sources_decode_at_reduced_size_where_the_scale_allows():
    image, label = scene(128, 256)
    encoded = jpeg(image)
    transform = TrainTransform(CROP, (1.0, 1.0), jpeg_draft=True)
    for scale, reduction in ((1.0, 1), (0.6, 1), (0.5, 2), (0.3, 2), (0.25, 4), (0.2, 4), (0.1, 8)):
        pixels, found = transform._decode(Image.open(io.BytesIO(encoded)), scale)
        assert found == reduction and pixels.shape == (128 // reduction, 256 // reduction, 3)
    png = io.BytesIO()
    Image.fromarray(image).save(png, "PNG")
    assert transform._decode(Image.open(png), 0.1)[1] == 1  # only JPEG decodes at reduced size


def test_reduced_decoding_keeps_the_pair_aligned_and_close_to_full_decoding():
    image, label = scene(192, 320)
    encoded = jpeg(image)
    full = TrainTransform(CROP, (0.2, 0.45))
    draft = TrainTransform(CROP, (0.2, 0.45), jpeg_draft=True)
    for seed in range(6):
        pixels, target = run(draft, Image.open(io.BytesIO(encoded)), label, seed)
        full_pixels, full_target = run(full, Image.open(io.BytesIO(encoded)), label, seed)
        kept = target != IGNORE_INDEX
        assert torch.equal(kept, full_target != IGNORE_INDEX)
        assert (target != full_target)[kept].float().mean() < 0.05  # the window moves by less than one output pixel
        assert (rgb(pixels) - rgb(full_pixels)).abs()[:, kept].mean() < 6
        box = rgb(pixels)[0] > 200  # the red box, where the label says 26
        assert (box[kept] != (target == 26)[kept]).float().mean() < 0.03


def test_reduced_decoding_puts_every_stripe_on_its_label():
    # Stripes 16 pixels wide: at scale 1/4 each is 4 output pixels, whose edges fall on output pixel edges only
    # if the image window and the label window start at the same source pixel.
    columns = np.arange(512) // 16 % 2
    label = np.broadcast_to(columns + 1, (256, 512)).astype(np.uint8)
    image = np.repeat((columns * 255).astype(np.uint8)[None, :, None], 256, 0).repeat(3, 2)
    transform = TrainTransform(CROP, (0.25, 0.25), jpeg_draft=True)
    for seed in range(8):
        pixels, target = run(transform, Image.open(io.BytesIO(jpeg(image))), label, seed)
        assert torch.equal(rgb(pixels)[0] > 128, target == 2)


def test_without_draft_or_where_it_cannot_serve_an_opened_image_gives_the_decoded_arrays_output():
    image, label = scene()
    encoded = jpeg(image)
    decoded = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
    row = {IMAGE: {"bytes": encoded}, "label": {"bytes": _png(label)}}
    for transform in (
        TrainTransform(CROP, (0.2, 0.4), augment=AugmentConfig(**STRONG)),
        TrainTransform(CROP, (0.6, 1.4), augment=AugmentConfig(**STRONG), jpeg_draft=True),
    ):
        for seed in range(4):
            opened, opened_label = open_pair(row, "label")
            assert np.array_equal(opened_label, label)
            a, b = run(transform, opened, opened_label, seed), run(transform, decoded, label, seed)
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_an_image_and_label_of_different_sizes_are_refused():
    image, label = scene()
    with pytest.raises(UnifyError, match="image of 160x96 pixels has a label of 80x96"):
        TrainTransform(CROP, (1.0, 1.0))(image, label[:, :80], np.random.default_rng(0))
    with pytest.raises(UnifyError, match="native label of 80x96 pixels beside a label of 160x96"):
        TrainTransform(CROP, (1.0, 1.0))(image, label, np.random.default_rng(0), label[:, :80])


@pytest.mark.parametrize("settings", [AugmentConfig.none(), AugmentConfig(**STRONG)], ids=["plain", "augmented"])
def test_a_native_label_goes_through_every_geometric_change_with_the_label(settings):
    image, label = scene()
    native = (label.astype(np.uint16) * 300 + 1).astype(np.uint16)  # ids above 255 and none equal to the label's
    transforms = [
        TrainTransform(CROP, (0.3, 1.6), augment=settings),
        TrainTransform(CROP, (0.2, 0.45), augment=settings, jpeg_draft=True),
    ]
    for transform in transforms:
        for seed in range(8):
            source = Image.open(io.BytesIO(jpeg(image))) if transform.jpeg_draft else image
            pixels, target, moved = run(transform, source, label, seed, native)
            source = Image.open(io.BytesIO(jpeg(image))) if transform.jpeg_draft else image
            alone = run(transform, source, label, seed)
            assert torch.equal(pixels, alone[0]) and torch.equal(target, alone[1])  # unchanged by the native map
            assert moved.dtype == torch.long and moved.shape == target.shape
            outside = target == IGNORE_INDEX  # the scene's labels hold no 255: ignored = padded or sheared in
            assert torch.equal(moved == OUTSIDE, outside)
            assert torch.equal(moved[~outside], target[~outside] * 300 + 1)


def test_the_training_config_carries_the_settings_to_the_transform(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "output_dir: x\ntaxonomy: synthetic_fine\ntrain_data: [{path: x}]\n"
        "augment: {brightness: [0.9, 1.1], blur_probability: 0}\njpeg_draft: false\n"
    )
    config = load_config(path)
    assert config.augment == dataclasses.replace(AugmentConfig(), brightness=(0.9, 1.1), blur_probability=0)
    transform = TrainTransform.from_config(config)
    assert transform.augment is config.augment and transform.jpeg_draft is False
    write_run_config(config, tmp_path)
    assert load_config(tmp_path / "config.yaml").augment == config.augment
    assert load_config(path, ["augment={hue_degrees: [0, 0]}"]).augment.hue_degrees == (0.0, 0.0)
    assert TrainConfig(output_dir="x", taxonomy="t", train_data=[{"path": "x"}]).jpeg_draft is True


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"brightness": [1.2, 0.8]},
            r"augment.brightness must be \[low, high\] with 0 <= low <= high, got \[1.2, 0.8\]",
        ),
        ({"contrast": 1.1}, r"contrast must be a list of two numbers, got 1.1 in augment"),
        ({"hue_degrees": [-200, 0]}, r"augment.hue_degrees must be .* -180 <= low <= high <= 180, got \[-200.0, 0.0\]"),
        ({"shear_degrees": [0, 60]}, r"augment.shear_degrees must be .* <= 45, got \[0.0, 60.0\]"),
        ({"blur_probability": 1.5}, r"augment.blur_probability must be in \[0, 1\], got 1.5"),
        ({"noise_std": -0.1}, r"augment.noise_std must be >= 0, got -0.1"),
        ({"hue": [0, 1]}, r"unknown augment keys \['hue'\]"),
    ],
)
def test_bad_augment_settings_name_the_field_and_value(settings, message):
    with pytest.raises(UnifyError, match=message):
        TrainConfig(output_dir="x", taxonomy="t", train_data=[{"path": "x"}], augment=settings)


def _png(label: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(label).save(buffer, "PNG")
    return buffer.getvalue()


def test_shear_grid_equals_affine_grid():
    for height, width, slope in ((48, 64, 0.035), (7, 5, -0.6)):
        theta = torch.tensor([[[1.0, slope * height / width, 0.0], [0.0, 1.0, 0.0]]])
        expected = F.affine_grid(theta, [1, 1, height, width], align_corners=False)
        assert torch.allclose(shear_grid(height, width, slope), expected, atol=1e-6)


def test_unreadable_images_are_bad_samples_naming_the_column():
    image, label = scene()
    with pytest.raises(BadSampleError, match="image: unreadable image"):
        open_pair({IMAGE: {"bytes": b"not an image"}, "label": {"bytes": _png(label)}}, "label")
    truncated = jpeg(image)[:900]
    opened, label = open_pair({IMAGE: {"bytes": truncated}, "label": {"bytes": _png(label)}}, "label")
    with pytest.raises(BadSampleError, match="image: unreadable image"):
        TrainTransform(CROP, (0.3, 0.3), jpeg_draft=True)(opened, label, np.random.default_rng(0))

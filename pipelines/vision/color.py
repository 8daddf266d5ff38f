"""Light and colour facts of one RGB frame.

Definitions (all on 8-bit sRGB input):

* **luma** — Rec. 601 luma ``0.299 R + 0.587 G + 0.114 B`` of the gamma-encoded values,
  scaled to 0..1; ``luminance`` is its mean, ``contrast`` its standard deviation.
* **lighting key** — ``low-key`` when mean luma < :data:`LOW_KEY_BELOW` (a dark frame
  dominated by shadows), ``high-key`` when mean luma > :data:`HIGH_KEY_ABOVE` (bright, few
  shadows), ``mid-key`` otherwise.
* **colour names** — each pixel gets one name from HSV: achromatic pixels (saturation <
  :data:`ACHROMATIC_SATURATION` or value < :data:`BLACK_VALUE`) are ``black``, ``grey`` or
  ``white`` by value; chromatic pixels are named by hue (:data:`HUE_NAMES`), with dark
  orange/red named ``brown``. ``palette`` lists the names covering at least
  :data:`PALETTE_MIN_SHARE` of the frame, largest first.
* **dominant colour** — the largest *chromatic* name when chromatic pixels cover at least
  :data:`CHROMATIC_MIN_SHARE` of the frame (a red word on a white page is "red": white,
  grey and black are backgrounds, not colours); otherwise the largest achromatic name.
* **saturation** — mean HSV saturation (0..1).
* **colour temperature** — correlated colour temperature of the frame's mean colour
  (sRGB → linear → CIE XYZ → xy, McCamy's 1992 cubic approximation), clamped to
  1,000–20,000 K; ``warm`` below :data:`WARM_BELOW_K`, ``cool`` above :data:`COOL_ABOVE_K`,
  ``neutral`` between. It describes the overall cast, not the light sources. The cubic holds
  near the Planckian locus; a mean colour below its epicentre (y ≤ 0.1858: deep blues,
  violets and purples, far off the locus, where the cubic would turn pure blue into 1,667 K,
  "warm") is put at the cool end, 20,000 K, when its blue is at least its red, else at the
  warm end, 1,000 K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOW_KEY_BELOW = 0.30
HIGH_KEY_ABOVE = 0.65
ACHROMATIC_SATURATION = 0.20
BLACK_VALUE = 0.18
WHITE_VALUE = 0.80
PALETTE_MIN_SHARE = 0.05
CHROMATIC_MIN_SHARE = 0.02
WARM_BELOW_K = 4500.0
COOL_ABOVE_K = 7000.0
ANALYSIS_SIDE = 256  # frames are measured at this longer side: facts do not depend on resolution

# upper hue bound (degrees, exclusive) -> name; hue wraps at 360 back to red
HUE_NAMES: list[tuple[float, str]] = [
    (15, "red"), (40, "orange"), (70, "yellow"), (165, "green"), (195, "cyan"),
    (255, "blue"), (290, "purple"), (345, "pink"), (360, "red"),
]


@dataclass(frozen=True)
class ColourFacts:
    luminance: float
    contrast: float
    lighting_key: str
    dominant_colour: str
    palette: list[tuple[str, float]]
    saturation: float
    colour_temperature_k: float
    colour_temperature: str


def downscale(rgb: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb
    scale = side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114) / 255.0


def lighting_key(mean_luma: float) -> str:
    if mean_luma < LOW_KEY_BELOW:
        return "low-key"
    if mean_luma > HIGH_KEY_ABOVE:
        return "high-key"
    return "mid-key"


def colour_names(rgb: np.ndarray) -> np.ndarray:
    """An array of colour names, one per pixel (see the module docstring)."""
    import cv2

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(float)
    hue, sat, val = hsv[..., 0] * 360.0 / 256.0, hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    names = np.empty(hue.shape, dtype=object)
    bounds = np.array([b for b, _ in HUE_NAMES])
    labels = np.array([n for _, n in HUE_NAMES], dtype=object)
    names[:] = labels[np.searchsorted(bounds, hue, side="right").clip(0, len(labels) - 1)]
    brown = ((names == "orange") | (names == "red")) & (val < 0.55) & (sat >= ACHROMATIC_SATURATION)
    names[brown] = "brown"
    achromatic = (sat < ACHROMATIC_SATURATION) | (val < BLACK_VALUE)
    names[achromatic & (val < BLACK_VALUE)] = "black"
    names[achromatic & (val >= BLACK_VALUE) & (val < WHITE_VALUE)] = "grey"
    names[achromatic & (val >= WHITE_VALUE)] = "white"
    return names


def colour_temperature_k(rgb: np.ndarray) -> float:
    """McCamy CCT of the mean colour, in kelvin (clamped to 1,000–20,000)."""
    srgb = rgb.reshape(-1, 3).astype(float).mean(axis=0) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    x_, y_, z_ = m @ linear
    total = x_ + y_ + z_
    if total <= 1e-9:
        return 1000.0
    x, y = x_ / total, y_ / total
    if y <= 0.1858 + 1e-9:  # below McCamy's epicentre, off the locus: blue-violet is cool, red-purple warm
        return 20000.0 if linear[2] >= linear[0] else 1000.0
    n = (x - 0.3320) / (0.1858 - y)
    cct = 449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33
    return float(np.clip(cct, 1000.0, 20000.0))


def temperature_name(kelvin: float) -> str:
    if kelvin < WARM_BELOW_K:
        return "warm"
    if kelvin > COOL_ABOVE_K:
        return "cool"
    return "neutral"


def measure_colour(rgb: np.ndarray) -> ColourFacts:
    """All light and colour facts of one RGB uint8 frame."""
    import cv2

    small = downscale(rgb)
    y = luma(small.astype(float))
    names = colour_names(small)
    unique, counts = np.unique(names, return_counts=True)
    shares = sorted(((str(n), c / names.size) for n, c in zip(unique, counts)), key=lambda p: (-p[1], p[0]))
    chromatic = [(n, s) for n, s in shares if n not in ("black", "grey", "white")]
    chromatic_share = sum(s for _, s in chromatic)
    dominant = chromatic[0][0] if chromatic and chromatic_share >= CHROMATIC_MIN_SHARE else shares[0][0]
    sat = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[..., 1].astype(float) / 255.0
    kelvin = colour_temperature_k(small)
    return ColourFacts(
        luminance=round(float(y.mean()), 4),
        contrast=round(float(y.std()), 4),
        lighting_key=lighting_key(float(y.mean())),
        dominant_colour=dominant,
        palette=[(n, round(float(s), 4)) for n, s in shares if s >= PALETTE_MIN_SHARE],
        saturation=round(float(sat.mean()), 4),
        colour_temperature_k=round(kelvin, 1),
        colour_temperature=temperature_name(kelvin),
    )

"""Film analysis (Bretti, Mettes, Van Noord, "Are Multimodal LLMs Movie Buffs?", Findings EACL 2026).

A film clip is examined like a film-studies student would be: movie knowledge (genres,
budget), cinematographic knowledge (the scale and camera movement of every shot) and a free
critical analysis (lighting, colour, framing, camera movement, editing pace, sound, what the
clip conveys), graded by a teacher's rubric and audited claim by claim.

**Single label** (what ``predict``, retrieval and hypotheses use): the **budget band** of the
film's production budget in US dollars, from ``labels.budget`` (a band name) or
``labels.budget_usd`` (a number, banded here):

=============  =======================
band           production budget (USD)
=============  =======================
``low``        under 5 million
``mid``        5 to 30 million
``high``       30 to 100 million
``blockbuster``  100 million or more
=============  =======================

**Genres** (multi-label, ``labels.genres``): the 21 IMDb genres MovieNet annotates —
:data:`GENRES`; other spellings are mapped (``Sci-Fi`` → ``sci-fi``, ``science fiction`` →
``sci-fi``) and unknown ones kept out (and counted by the dataset checks).

**Shots** (``labels.shots``, optional): time spans with a ``shot_scale`` of the five
MovieShots classes and/or a ``camera_movement`` (``pipelines/vision/framing.py``,
``camera.py``).

Never shown to a model: the budget, box office and genre fields, and the shot annotations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipelines.tasks.base import TaskSpec, field_key, register_task

GENRES: tuple[str, ...] = (
    "action", "adventure", "animation", "biography", "comedy", "crime", "documentary", "drama", "family",
    "fantasy", "history", "horror", "music", "musical", "mystery", "romance", "sci-fi", "sport", "thriller",
    "war", "western",
)
GENRE_ALIASES = {"science fiction": "sci-fi", "scifi": "sci-fi", "science-fiction": "sci-fi", "sports": "sport",
                 "biopic": "biography", "historical": "history", "animated": "animation", "romantic": "romance",
                 "documentaries": "documentary", "musicals": "musical"}
BUDGET_BANDS: tuple[tuple[float, str], ...] = (
    (5e6, "low"), (30e6, "mid"), (100e6, "high"), (float("inf"), "blockbuster"),
)


def budget_band(usd: float) -> str:
    """The band of a production budget in US dollars (table in the module doc)."""
    return next(name for upper, name in BUDGET_BANDS if usd < upper)


def normalise_genres(raw: Any) -> list[str]:
    """Known genres in ``raw`` (a list, or a string separated by ``,``, ``|`` or ``/``), in
    :data:`GENRES` order, each once."""
    if raw is None:
        return []
    parts: Iterable[Any] = raw if isinstance(raw, (list, tuple)) else str(raw).replace("|", ",").replace("/", ",").split(",")
    found = set()
    for part in parts:
        name = " ".join(str(part).strip().casefold().replace("_", " ").split())
        name = GENRE_ALIASES.get(name, name)
        if name in GENRES:
            found.add(name)
    return [g for g in GENRES if g in found]


@dataclass(frozen=True)
class FilmTask(TaskSpec):
    genres: tuple[str, ...] = GENRES

    def normalise_label(self, raw: object) -> str | None:
        """A band name as is; a number (or "12,000,000", "$12M") as the band of that budget."""
        label = super().normalise_label(raw)
        if label is not None or raw is None or isinstance(raw, bool):
            return label
        text = str(raw).strip().casefold().replace("$", "").replace(",", "").replace("usd", "").strip()
        scale = 1.0
        if text.endswith(("m", "million")):
            text, scale = text.removesuffix("million").removesuffix("m").strip(), 1e6
        try:
            return budget_band(float(text) * scale)
        except ValueError:
            return None

    def raw_label(self, labels: dict[str, Any]) -> Any:
        """``labels.budget`` (a band, or an amount), else ``labels.budget_usd``."""
        value = labels.get("budget")
        return labels.get("budget_usd") if value in (None, "") else value

    def defines_label(self, field_name: str) -> bool:
        return super().defines_label(field_name) or any(
            word in field_key(field_name) for word in ("budget", "boxoffice", "gross", "revenue", "genre"))


FILM = register_task(
    FilmTask(
        name="film",
        label_key="budget",
        labels=tuple(name for _, name in BUDGET_BANDS),
        label_descriptions={
            "low": "a production budget under 5 million US dollars",
            "mid": "a production budget of 5 to 30 million US dollars",
            "high": "a production budget of 30 to 100 million US dollars",
            "blockbuster": "a production budget of 100 million US dollars or more",
        },
        label_fields=("budget", "budget_usd", "box_office", "gross", "revenue", "genres", "genre", "shots"),
        generic_words=tuple("film films movie movies budget budgets dollar dollars million money cost costs expensive "
                            "cheap production studio".split()),
        metrics=("accuracy", "macro_f1"),
    )
)

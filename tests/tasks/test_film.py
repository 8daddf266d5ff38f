"""The film task's definitions: budget bands, genres, what defines its labels."""

from pipelines.tasks import get_task
from pipelines.tasks.film import GENRES, budget_band, normalise_genres


def test_budget_bands_at_their_edges():
    assert [budget_band(v) for v in (0, 4_999_999, 5e6, 29_999_999, 30e6, 99e6, 100e6, 3e8)] == [
        "low", "low", "mid", "mid", "high", "high", "blockbuster", "blockbuster"]


def test_gold_from_a_band_or_an_amount():
    film = get_task("film")
    assert film.gold({"budget": "High"}) == "high"
    assert film.gold({"budget_usd": 18_000_000}) == "mid"
    assert film.gold({"budget": "$120M"}) == "blockbuster"
    assert film.gold({"budget": "12,000,000"}) == "mid"
    assert film.gold({"budget": "a lot"}) is None and film.gold({}) is None


def test_genres_are_normalised_to_the_list():
    assert len(GENRES) == 21
    assert normalise_genres("Sci-Fi|Drama, Science Fiction / western") == ["drama", "sci-fi", "western"]
    assert normalise_genres(["Comedy", "space opera"]) == ["comedy"]
    assert normalise_genres(None) == []


def test_budget_genre_and_shot_fields_are_never_shown():
    film = get_task("film")
    for field in ("budget", "Budget (USD)", "box_office", "worldwide gross", "genres", "Genre", "shots", "label"):
        assert film.defines_label(field), field
    assert not film.defines_label("year") and not film.defines_label("director")

"""Rules that tell a real hypothesis or explanation from an empty one.

A small LLM asked for hypotheses about popularity readily writes "1. The video is a local
hit. 2. The video is a global hit." — sentences that restate a class and explain nothing.
:func:`hypothesis_problems` names what is wrong with a hypothesis, by these rules:

* **restates a class** — fewer than :data:`MIN_CONTENT_WORDS` content words once the words of
  the label names, of the class descriptions, the task's own generic words (popularity:
  ``popular``, ``views`` …) and a list of generic words (``video``, ``likely`` …) are removed:
  nothing is said about a *property* of videos;
* **duplicates hypothesis N** — its content words overlap an earlier usable hypothesis's by
  a Jaccard index of at least :data:`DUPLICATE_JACCARD`;
* **cites no example** — ``based_on`` names none of the labelled neighbours it was formed
  from (each hypothesis must be drawn from the examples);
* **not in its examples** — it shares fewer than :data:`MIN_GROUNDED_WORDS` content words
  (compared by their Snowball stems: "galaxies" is "galaxy") with the texts of the examples it cites: a property none of them shows (a small model
  readily copies the wording of its instructions instead);
* **favours no label** — ``favours`` is not one of the task's labels.

:func:`grounded` decides whether an explanation mentions something of the video's own text:
at least :data:`MIN_GROUNDED_WORDS` content words shared with the video's text representation,
words of the prompt's fixed parts (class names and descriptions, generic words) not counted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

MIN_CONTENT_WORDS = 3
DUPLICATE_JACCARD = 0.7
MIN_GROUNDED_WORDS = 2

GENERIC = frozenset("""
a an the this that these those it its is are was were be been being has have had do does did will would can could
may might should of in on at to for from by with and or but not no nor as than then so such very more most less
video videos clip clips class classes label labels likely probably because since therefore thus which who
whom whose what when where why how also often usually tend tends they them their there here i you we he she one
about at least most many much some any all each every other another into out up down over under again
hypothesis hypotheses example examples similar same property properties
""".split())


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", str(text).casefold())


@functools.lru_cache(maxsize=1)
def _english_stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) English stem of ``word``, so that "galaxies" meets "galaxy",
    "drawings" meets "drawing" and "sleeping" meets "sleeps"."""
    return str(_english_stemmer().stemWord(word))


def content_words(text: str, ignore: Iterable[str] = ()) -> set[str]:
    """Stems of the words of ``text`` that carry content: not generic, not in ``ignore``, not
    one letter."""
    skip = GENERIC | set(ignore)
    return {stem(w) for w in words(text) if w not in skip and len(w) > 1} - {stem(w) for w in skip}


def task_words(task: Any) -> set[str]:
    """Words of the task's label names, class descriptions and its own generic words (what the
    labels are about: popularity's views and trending countries): saying them explains nothing."""
    out: set[str] = set(getattr(task, "generic_words", ()))
    for label, description in task.label_descriptions.items():
        out |= set(words(label.replace("-", " "))) | set(words(description))
    return out


def hypothesis_problems(statement: str, favours: str | None, based_on: Sequence[Any], task: Any,
                        earlier: Sequence[tuple[int, str]], cited_texts: Sequence[str] | None = None) -> list[str]:
    """What makes a hypothesis degenerate (empty list: it is usable).

    Args:
        statement: The hypothesis.
        favours: The label it argues for.
        based_on: The neighbours it cites (already mapped to ids; unknown ones left out).
        task: The task spec (labels and their descriptions).
        earlier: ``(number, statement)`` of the usable hypotheses before it.
        cited_texts: The texts of the cited examples (``None``: not checked).
    """
    problems = []
    own = content_words(statement, task_words(task))
    if len(own) < MIN_CONTENT_WORDS:
        problems.append("restates a class")
    for number, other in earlier:
        theirs = content_words(other, task_words(task))
        if own and theirs and len(own & theirs) / len(own | theirs) >= DUPLICATE_JACCARD:
            problems.append(f"duplicates hypothesis {number}")
            break
    if not based_on:
        problems.append("cites no example")
    elif cited_texts is not None:
        seen = set().union(*(content_words(t, task_words(task)) for t in cited_texts)) if cited_texts else set()
        if len(own & seen) < MIN_GROUNDED_WORDS:
            problems.append("not in its examples")
    if favours not in task.labels:
        problems.append("favours no label")
    return problems


def grounded(explanation: str, video_text: str, task: Any) -> bool | None:
    """Whether ``explanation`` mentions something of the video's own text (``None`` when there
    is no explanation)."""
    if not explanation.strip():
        return None
    shared = content_words(explanation, task_words(task)) & content_words(video_text, task_words(task))
    return len(shared) >= MIN_GROUNDED_WORDS

"""Fitting a sectioned text into a budget, so that every modality reaches the model.

A video's text representation has sections (title, description, metadata, visual facts,
frames, on-screen text, speech). Cutting the whole text at N characters keeps the first
sections and drops the last ones — with frames first, a neighbour's speech never reached the
LLM. :func:`fit_sections` instead gives each section a share of the budget (*water-filling*:
a section shorter than its share keeps all of its text and its unused share goes to the
others, in proportion to their shares), cuts the long ones on a word boundary, and marks
every cut with :data:`CUT_MARK`, so a reader (human or model) sees that text was left out.

Budgets are counted by a ``measure`` function: characters by default, or tokens of the LLM
that reads the text (:func:`token_counter`), so that "200 tokens per example" means what it
says for that model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

CUT_MARK = " […]"
Measure = Callable[[str], int]


def cut_words(text: str, limit: int, measure: Measure = len) -> str:
    """``text`` if it fits in ``limit``; else its longest prefix ending at a word boundary
    that fits together with :data:`CUT_MARK` (``""`` when not even one word fits)."""
    if measure(text) <= limit:
        return text
    # word ends: positions just before a whitespace character, in order
    ends = [i for i in range(1, len(text)) if text[i].isspace() and not text[i - 1].isspace()]
    lo, hi, best = 0, len(ends) - 1, ""
    while lo <= hi:  # measure grows with the prefix: binary search for the longest that fits
        mid = (lo + hi) // 2
        candidate = text[: ends[mid]] + CUT_MARK
        if measure(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    if not best and text.strip():  # the first word alone is too long: cut inside it
        lo, hi = 1, len(text)
        while lo <= hi:
            mid = (lo + hi) // 2
            if measure(text[:mid] + CUT_MARK) <= limit:
                best, lo = text[:mid] + CUT_MARK, mid + 1
            else:
                hi = mid - 1
    return best


def excerpt(text: str, width: int = 70) -> str:
    """``text`` on one line, cut to ``width`` characters with a mark (for tables)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def allocate(sizes: Sequence[int], shares: Sequence[float], budget: int) -> list[int]:
    """Budget per section by water-filling: sections that need less than their share of
    what is left keep their size; the rest split what remains in proportion to ``shares``."""
    alloc = [0] * len(sizes)
    open_ = [i for i, s in enumerate(sizes) if s > 0]
    left = max(budget, 0)
    while open_:
        total_share = sum(max(shares[i], 1e-9) for i in open_)
        fair = {i: left * max(shares[i], 1e-9) / total_share for i in open_}
        small = [i for i in open_ if sizes[i] <= fair[i]]
        if not small:
            for i in open_:
                alloc[i] = int(math.floor(fair[i]))
            break
        for i in small:
            alloc[i] = sizes[i]
            left -= sizes[i]
            open_.remove(i)
    return alloc


def fit_parts(parts: Sequence[Any], budget: int, measure: Measure = len,
              separator: str = "\n\n") -> tuple[list[Any], list[str]]:
    """``parts`` (pydantic sections with ``name``, ``heading``, ``text``, ``share``) cut so
    that, rendered, they take at most about ``budget`` units of ``measure``.

    Returns:
        Copies of the parts with their cut texts, and the names of the sections that were cut.
    """
    heads = [section_head(p) for p in parts]
    overhead = sum(measure(h) for h in heads) + measure(separator) * max(len(parts) - 1, 0)
    sizes = [measure(p.text) for p in parts]
    if sum(sizes) + overhead <= budget:
        return list(parts), []
    alloc = allocate(sizes, [p.share for p in parts], budget - overhead)
    fitted, cut = [], []
    for part, size, room in zip(parts, sizes, alloc):
        if size <= room:
            fitted.append(part)
            continue
        cut.append(part.name)
        # not even one word fits: the mark alone says the section exists
        fitted.append(part.model_copy(update={"text": cut_words(part.text, room, measure) or CUT_MARK.strip()}))
    return fitted, cut


def fit_sections(parts: Sequence[Any], budget: int, measure: Measure = len,
                 separator: str = "\n\n") -> tuple[str, list[str]]:
    """:func:`fit_parts`, rendered as one text; also the names of the sections that were cut."""
    fitted, cut = fit_parts(parts, budget, measure, separator)
    return render_sections(fitted, separator), cut


# sections made of timestamped lines: their heading stands on a line of its own
LINE_SECTIONS = ("frames", "speech")


def section_head(part: Any) -> str:
    """``"Title: "`` for one-line sections, ``"Frames:\\n"`` for sections of timestamped lines."""
    return f"{part.heading}:" + ("\n" if part.name in LINE_SECTIONS or "\n" in part.text else " ")


def render_sections(parts: Sequence[Any], separator: str = "\n\n") -> str:
    return separator.join(section_head(p) + p.text for p in parts)


def estimate_tokens(text: str) -> int:
    """About four characters per token (English, BPE tokenizers): used when the LLM's own
    tokenizer is not known (a remote model without ``llm.tokenizer``)."""
    return math.ceil(len(text) / 4)


@lru_cache(maxsize=8)
def _tokenizer_measure(path: str) -> Measure:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def tokenizer_file(llm_cfg: Any) -> Path | None:
    """The ``tokenizer.json`` that counts tokens for an ``llm`` config block: the one named
    by ``llm.tokenizer`` (a file or a folder holding it), else the local model folder's own;
    ``None`` when neither exists (the model is remote or a single GGUF file)."""
    from pipelines.models.bundled import resolve_model

    candidates = []
    if getattr(llm_cfg, "tokenizer", None):
        candidates.append(Path(llm_cfg.tokenizer).expanduser())
    if not llm_cfg.spec.remote:
        try:
            candidates.append(Path(resolve_model(llm_cfg.model)).expanduser())
        except Exception:  # an unresolvable model fails where it is loaded, with its own message
            pass
    for path in candidates:
        file = path / "tokenizer.json" if path.is_dir() else path
        if file.name == "tokenizer.json" and file.is_file():
            return file
    return None


def token_counter(llm_cfg: Any) -> tuple[Measure, str]:
    """A function counting tokens as the LLM of ``llm_cfg`` sees them, and its name
    (``tokenizer.json`` path, or ``estimate`` for characters / 4)."""
    file = tokenizer_file(llm_cfg)
    if file is None:
        return estimate_tokens, "estimate"
    return _tokenizer_measure(str(file)), str(file)


def fit_record_text(record: Any, budget: int, measure: Measure = len) -> str:
    """A summary or neighbour's text within ``budget``: by section when the record keeps its
    sections (``parts``), else the whole text cut on a word boundary."""
    parts = getattr(record, "parts", None)
    if parts:
        return fit_sections(parts, budget, measure)[0]
    return cut_words(record.text, budget, measure)

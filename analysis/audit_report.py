"""The audit report: each video's generated texts as marked essays.

``write_audit_report(run, records, out_dir)`` writes ``audit.html`` (one self-contained file)
and ``claims.csv`` (the sheet for human verdicts). Per video: the strip of sampled frames
with their timestamps, then every audited text with each claim highlighted by its verdict
(green supported, red contradicted, orange unsupported — content found nowhere in the video's
evidence — grey unverifiable); a claim opens on click (a ``<details>`` element: no script) to
show its type, the rule's reason and the evidence — stage, field, value, time — with a link to
the strip's frame nearest that time (each frame is embedded once). Tables of claim precision
and hallucination rate per claim type head the page, one per audited text (``rates``): the
generated texts first, the frame descriptions composed from the measurements last and apart.

Run text (titles, analyses, transcripts) is untrusted: the report's Jinja2 environment
escapes everything (``analysis/report.py``), and the page's Content-Security-Policy allows
only its own ``data:`` images and no script.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from analysis.audit import COMPOSED, VERDICTS, chair, claims_table, rates, write_sheet
from analysis.load import RunData
from analysis.report import _by_item, _frame_path, _thumbnail, environment

# the verdict a piece shared by several claims is marked with: the worst first
SEVERITY = ("contradicted", "unsupported", "supported", "unverifiable")


def _severity(verdict: str) -> int:
    return SEVERITY.index(verdict) if verdict in SEVERITY else len(SEVERITY)


def segments(text: str, claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``text`` cut into plain pieces and claims (by their character spans, in order). A claim
    whose span overlaps one already placed (two claims the splitter drew from one sentence) is
    listed with it (``also``), and the piece is marked by the worse verdict (contradicted, then
    unsupported, then supported); a claim with an out-of-range span is listed on the last piece. None is lost."""
    out: list[dict[str, Any]] = []
    at = 0
    for claim in sorted(claims, key=lambda c: (c["start"], c["end"])):
        start, end = int(claim["start"]), int(claim["end"])
        if start < at or end > len(text) or end <= start:
            host = next((s for s in reversed(out) if s["claim"] is not None), None)
            if host is None:
                out.append({"text": "", "claim": claim, "also": [], "verdict": claim["verdict"]})
            else:
                host["also"].append(claim)
                host["verdict"] = min(host["verdict"], claim["verdict"], key=_severity)
            continue
        if start > at:
            out.append({"text": text[at:start], "claim": None})
        out.append({"text": text[start:end], "claim": claim, "also": [], "verdict": claim["verdict"]})
        at = end
    if at < len(text):
        out.append({"text": text[at:], "claim": None})
    return out


def _nearest(frames: list[dict[str, Any]], time_s: float | None) -> dict[str, Any] | None:
    if time_s is None or not frames:
        return None
    return min(frames, key=lambda f: abs(f["timestamp_s"] - time_s))


def write_audit_report(run: RunData, records: Iterable[Any], out_dir: Path) -> dict[str, Path]:
    """Write ``audit.html`` and ``claims.csv`` for the audit ``records`` of ``run``."""
    dumped = [r if isinstance(r, dict) else r.model_dump(mode="json") for r in records]
    table = claims_table(dumped)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames_by_item = _by_item(run.stages.get("extract_frames"), "frames")
    titles = dict(zip(run.items.item_id, run.items.title)) if not run.items.empty else {}
    items = []
    for record in dumped:
        frames = [{"timestamp_s": f["timestamp_s"], "index": f["index"], "number": k,
                   "uri": _thumbnail(_frame_path(run, f["path"]))}
                  for k, f in enumerate(frames_by_item.get(record["item_id"]) or [], 1)]
        texts = []
        for source, text in record["sources"].items():
            claims = []
            for c in (c for c in record["claims"] if c["source"] == source):
                times = [e.get("time_s") for e in c["evidence"] if e.get("time_s") is not None]
                claims.append({**c, "frame": _nearest(frames, times[0] if times else None)})
            texts.append({"source": source, "segments": segments(text, claims),
                          "counts": {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}})
        items.append({"item_id": record["item_id"], "title": titles.get(record["item_id"], ""), "frames": frames,
                      "texts": texts})
    summary = rates(table) if not table.empty else None
    by_text = [{"text": text, "composed": text in COMPOSED, "rows": part.to_dict("records")}
               for text, part in (summary.groupby("text", sort=False) if summary is not None else [])]
    objects = [row for row in chair(table).to_dict("records") if row["item_id"] == "all"] if not table.empty else []
    html = environment().get_template("audit.html.j2").render(
        run_id=run.run_id, generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), items=items,
        by_text=by_text, objects=objects, n_claims=len(table))
    page = out_dir / "audit.html"
    page.write_text(html, encoding="utf-8")
    return {"html": page, "sheet": write_sheet(table, out_dir / "claims.csv")}

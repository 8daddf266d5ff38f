"""Audit a finished run: the ``audit_claims`` stage applied to the records a run already holds.

The checks are rules over records (no model), so ``m2t audit RUN`` can audit any run after
the fact — one whose config had no ``audit_claims`` stage, or with other targets — without
running anything else. A run that has ``audit_claims`` records is read as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.records import AuditRecord, Item


def audit_run(run_dir: Path, targets: list[str] | None = None) -> list[AuditRecord]:
    """One audit record per item of the run that has something to audit (in item order)."""
    from pipelines.stages.audit_claims import AuditClaimsConfig, audit_claims
    from pipelines.stages.registry import STAGES, ModelPool, StageContext
    from pipelines.store import RunStore

    store = RunStore(run_dir)
    present = store.stages_with_records()
    if targets is None and "audit_claims" in present:
        return [r for r in store.current_records("audit_claims") if isinstance(r, AuditRecord)]
    try:
        task = (store.read_manifest().get("config") or {}).get("task")
    except Exception:  # noqa: BLE001 - no readable manifest: the task's label words are then not ignored
        task = None
    cfg = AuditClaimsConfig(task=task, **({"targets": targets} if targets else {}))
    by_stage: dict[str, dict[str, Any]] = {s: {r.item_id: r for r in store.current_records(s)} for s in present}
    items = [Item.model_validate(i) for i in (store.items() or [])]
    pool = ModelPool()
    ctxs = [StageContext(pool, {"item_id": item.item_id, "stage": "audit_claims", "stage_version": STAGES[
        "audit_claims"].version, "key": "after-the-run", "input_hash": "", "config_hash": ""},
        upstream={s: records[item.item_id] for s, records in by_stage.items() if item.item_id in records})
        for item in items]
    records = audit_claims(items, cfg, ctxs) if items else []
    return [r for r in records if isinstance(r, AuditRecord) and r.claims]

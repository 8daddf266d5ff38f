"""analyse_film: the film exam, answered by one or two "students".

* ``text`` — the LLM (``llm``) reads the clip's text representation (``summarize``: the
  measured facts, frame descriptions, objects, on-screen text, speech, sounds) — the
  method of the case studies: every modality brought to text;
* ``vlm`` — a vision-language model is given the sampled frames themselves: with
  ``vlm.backend: hf`` a transformers image-text-to-text model (``vlm.model``, the ``hf`` frame
  describer's backend; several images in one turn where the model takes them, else one
  contact sheet; ``pipelines/models/vlm.py``); with ``vlm.backend: openai`` any
  OpenAI-compatible vision endpoint given in ``vlm.llm`` (the frames as data URLs in one
  request, at most the model's ``llm.max_images``, sent with the exam's JSON schema) — the
  same config shape as ``describe_frames``.

Both get the same questions from one prompt file (``prompts/<task>/exam.md``): a critical
analysis (lighting, colour, framing, camera movement, editing pace, sound, what it conveys),
the scale and camera movement of each measured shot (the shots of ``measure_visuals``, at
most ``max_shots``, by time span), the genres (one to three of the task's list) and the
budget band; and answer in the same JSON schema. The text student (``shots_apart``, the
default) is asked each shot in a short question of its own after the clip, which begins with the
exam's system message and clip, so a backend that keeps prefixes reads the clip once: asked all
shots in one answer, the bundled 1.5B copied its first shot's scale to every later shot. When
the clip's facts list the shots, the answer first quotes the shot's entry, constrained to begin
with its label (``(2) 2.0–4.0 s:``), then gives the scale and movement. The
text student's answers are constrained to their schemas by backends that can (onnx, local
transformers, llama.cpp; an OpenAI-compatible server is sent the schema as
``response_format``); the vlm student's is read from free text.
Every part is checked against its allowed values — an unknown genre or scale is dropped and
named in ``problems``, never guessed — and an answer without a readable JSON object is kept
with ``extraction: failed`` and its raw text: a student who cannot answer fails the exam on
the record, not silently. Note the text student reads the measured shot scales and camera
movements in the visual facts: its agreement with them shows whether it uses the evidence;
the vlm student's shows what the model sees.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipelines.budget import excerpt, fit_record_text, token_counter
from pipelines.errors import ConfigError
from pipelines.models.llm import LLMConfig, Messages
from pipelines.records import (
    FilmAnalysisRecord,
    FilmAnswer,
    FramesRecord,
    Item,
    Shot,
    ShotAnswer,
    SummaryRecord,
    VisualsRecord,
)
from pipelines.stages.registry import StageConfig, StageContext, repr_unless_default, stage

UNKNOWN = "unknown"  # the scale of a shot without a person (the measurement's None)


class VLMStudentConfig(BaseModel):
    """The vlm student's model: the same shape as ``describe_frames``' (backend, model, device,
    dtype, max_new_tokens, max_side, llm)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["hf", "openai"] = Field("hf", description="hf: a transformers image-text-to-text model; "
                                                               "openai: an OpenAI-compatible vision endpoint (llm)")
    model: str | None = Field(None, description="hf: a local directory or an id in the local HF cache "
                                                "(openai: llm.model)")
    device: str = "cpu"
    dtype: str = Field("float32", description="float32, bfloat16, float16 or auto")
    max_new_tokens: int = Field(500, ge=16, description="hf: length of the answer (openai: llm.max_tokens)")
    max_frames: int = Field(8, ge=1, description="sampled frames given to the model (evenly chosen)")
    max_side: int = Field(1024, ge=64, description="openai: frames larger than this are downscaled before sending")
    llm: LLMConfig | None = Field(None, description="openai: the vision endpoint and model (backend: openai, model, "
                                                    "base_url, max_tokens, max_images, max_image_side ...)")

    __repr_args__ = repr_unless_default("backend", "max_side", "llm")  # hf configs from before keep their keys

    @model_validator(mode="after")
    def _model_for_backend(self) -> "VLMStudentConfig":
        if self.backend == "hf" and not self.model:
            raise ValueError("vlm.backend hf needs vlm.model: a local image-text-to-text model directory")
        if self.backend == "openai":
            if self.llm is None or not self.llm.spec.sees_images:
                raise ValueError("vlm.backend openai needs vlm.llm with a backend that takes images, e.g. "
                                 "{backend: openai, model: <served VLM>, base_url: http://127.0.0.1:8000/v1}")
            if self.llm.max_images is not None and self.max_frames > self.llm.max_images:
                raise ValueError(f"vlm.max_frames {self.max_frames} is more than the model takes in one request "
                                 f"(vlm.llm.max_images {self.llm.max_images}): lower max_frames")
            self.model = self.llm.model
        return self


class AnalyseFilmConfig(StageConfig):
    task: str = Field(description="the case study's task (filled in from the config's task:)")
    students: list[Literal["text", "vlm"]] = Field(["text"], min_length=1,
                                                   description="who sits the exam: text and/or vlm")
    llm: LLMConfig = Field(default_factory=lambda: LLMConfig(max_tokens=600), description="the text student")
    vlm: VLMStudentConfig | None = Field(None, description="the vlm student (needed when students has vlm)")
    prompt: str | None = Field(None, description="prompt file; default <task>/exam")
    text_tokens: int = Field(1500, ge=100, description="the clip's text is fitted into this many tokens")
    max_shots: int = Field(12, ge=1, description="shots asked about (the first ones, in time order)")
    shots_apart: bool = Field(True, description="the text student answers each shot's scale and movement in a "
                                                "question of its own after the clip (false: all shots in the "
                                                "exam's one answer, as the vlm student does)")

    @model_validator(mode="after")
    def _vlm_needs_a_model(self) -> "AnalyseFilmConfig":
        if "vlm" in self.students and self.vlm is None:
            raise ValueError("students has vlm: give vlm.model (a local image-text-to-text model)")
        return self


def prompt_name(cfg: AnalyseFilmConfig) -> str:
    return cfg.prompt or f"{cfg.task}/exam"


def _vocabularies(task_name: str) -> dict[str, Any]:
    from pipelines.tasks import get_task
    from pipelines.vision.camera import CAMERA_MOVEMENTS
    from pipelines.vision.framing import SHOT_SCALES

    task = get_task(task_name)
    genres = getattr(task, "genres", None)
    if not genres:
        raise ConfigError(f"analyse_film needs a task with a genre list (film); {task_name!r} has none")
    return {"genres": list(genres), "budgets": dict(task.label_descriptions), "shot_scales": list(SHOT_SCALES),
            "camera_movements": list(CAMERA_MOVEMENTS), "task": task}


def shots_asked(ctx: StageContext, cfg: AnalyseFilmConfig) -> list[Shot]:
    visuals = ctx.upstream.get("measure_visuals")
    return list(visuals.shots[: cfg.max_shots]) if isinstance(visuals, VisualsRecord) else []


def shots_listed(ctx: StageContext) -> bool:
    """Whether the clip's text lists its shots one by one, numbered (measure_visuals' rule)."""
    from pipelines.stages.measure_visuals import lists_shots

    visuals = ctx.upstream.get("measure_visuals")
    return isinstance(visuals, VisualsRecord) and lists_shots(visuals.shots)


def span(shot: Shot) -> str:
    """A shot's time span as the visual facts write it ("4.0–6.0 s")."""
    return f"{shot.start_s:.1f}–{shot.end_s:.1f} s"


def exam_schema(task_name: str, shots: list[Shot]) -> dict[str, Any]:
    """The answer's JSON schema: the analysis first (reasoning before the verdicts), then one
    entry per shot asked, the genres and the budget band, each from its allowed values.

    Each shot's entry starts with its number and time span, fixed by the schema (the answer
    cannot skip or reorder shots), so that the model writes the span right before choosing
    the scale: with the shots listed by span in the text, a small model then reads that
    shot's facts instead of answering the lists in order.
    """
    v = _vocabularies(task_name)
    properties: dict[str, Any] = {"analysis": {"type": "string", "minLength": 40, "maxLength": 500}}
    if shots:
        properties["shots"] = {"type": "array", "items": False, "prefixItems": [
            {"type": "object", "properties": {
                "shot": {"const": k}, "time": {"const": span(shot)},
                "scale": {"type": "string", "enum": [*v["shot_scales"], UNKNOWN]},
                "movement": {"type": "string", "enum": v["camera_movements"]}},
             "required": ["shot", "time", "scale", "movement"]}
            for k, shot in enumerate(shots, 1)]}
    properties["genres"] = {"type": "array", "items": {"type": "string", "enum": v["genres"]}, "minItems": 1,
                            "maxItems": 3}
    properties["budget"] = {"type": "string", "enum": list(v["task"].labels)}
    return {"type": "object", "properties": properties, "required": list(properties)}


def shot_schema(number: int | None = None, shot: Shot | None = None) -> dict[str, Any]:
    """The schema of one shot's own question: its scale and its camera movement; with
    ``number`` and ``shot`` (the clip's facts list the shots), first the shot's entry of that
    list, which must begin with the entry's own label, ``(2) 2.0–4.0 s:``: the student quotes
    its evidence before it answers, and cannot quote another shot's."""
    import re

    from pipelines.vision.camera import CAMERA_MOVEMENTS
    from pipelines.vision.framing import SHOT_SCALES

    properties: dict[str, Any] = {}
    if number is not None and shot is not None:
        properties["entry"] = {"type": "string", "pattern": "^" + re.escape(f"({number}) {span(shot)}:") + "[^;]{0,60}$"}
    properties["scale"] = {"type": "string", "enum": [*SHOT_SCALES, UNKNOWN]}
    properties["movement"] = {"type": "string", "enum": list(CAMERA_MOVEMENTS)}
    return {"type": "object", "properties": properties, "required": list(properties)}


def shots_in_exam(cfg: AnalyseFilmConfig, student: str) -> bool:
    """Whether ``student``'s exam lists the shots (else each is asked on its own)."""
    return student != "text" or not cfg.shots_apart


def render_exam(item: Item, cfg: AnalyseFilmConfig, ctx: StageContext, student: str = "text",
                shot: int | None = None) -> Messages:
    """The exam messages for one student (``m2t render analyse_film`` shows the text student's);
    with ``shot`` (1-based), the text student's own question about that shot instead: the same
    system message and clip, then the one question, so the prefix is read once per clip."""
    from pipelines.prompts import load_prompt

    v = _vocabularies(cfg.task)
    listed = shots_listed(ctx)
    asked = [{"number": k, "span": span(s), "listed": listed} for k, s in enumerate(shots_asked(ctx, cfg), 1)]
    shots = asked if shot is None and shots_in_exam(cfg, student) else []
    video_text = ""
    if student == "text":
        summary = ctx.upstream["summarize"]
        assert isinstance(summary, SummaryRecord)
        measure, _ = token_counter(cfg.llm)
        video_text = fit_record_text(summary, cfg.text_tokens, measure)
    frames = _frame_refs(ctx, cfg) if student == "vlm" else []
    return load_prompt(prompt_name(cfg)).messages(
        student=student, video_text=video_text, n_frames=len(frames), shots=shots,
        shot=asked[shot - 1] if shot is not None else None, genres=v["genres"],
        budgets=v["budgets"], shot_scales=v["shot_scales"], camera_movements=v["camera_movements"])


def _frame_refs(ctx: StageContext, cfg: AnalyseFilmConfig) -> list[Any]:
    frames = ctx.upstream.get("extract_frames")
    if not isinstance(frames, FramesRecord):
        raise ConfigError("the vlm student needs the extract_frames stage in the config")
    refs = frames.frames
    limit = cfg.vlm.max_frames if cfg.vlm else len(refs)
    if len(refs) > limit:
        refs = [refs[round(i * (len(refs) - 1) / (limit - 1))] for i in range(limit)] if limit > 1 else refs[:1]
    return refs


def read_answer(reply: str, student: str, model: str, shots: list[Shot], task_name: str) -> FilmAnswer:
    """The student's answer from its reply: each part checked against its allowed values."""
    from pipelines.models.structured import json_objects
    from pipelines.tasks.film import normalise_genres

    v = _vocabularies(task_name)
    objects = [o for o in json_objects(reply) if {"analysis", "genres", "budget", "shots"} & set(o)]
    if not objects:
        from pipelines.models.structured import _string_field

        if reply.lstrip().startswith("{"):  # cut off by the token limit: keep a finished analysis
            analysis = _string_field(reply, "analysis")
            return FilmAnswer(student=student, model=model, analysis=" ".join((analysis or "").split()),
                              extraction="partial" if analysis else "failed", raw=reply,
                              problems=["the JSON answer was cut off at the token limit (raise llm.max_tokens)"])
        return FilmAnswer(student=student, model=model, extraction="failed", raw=reply,
                          problems=["no JSON object in the answer"])
    answer, problems = objects[-1], []
    raw_genres = answer.get("genres") or []
    genres = normalise_genres(raw_genres)
    if len(genres) < len(raw_genres if isinstance(raw_genres, list) else [raw_genres]):
        problems.append(f"genres outside the list dropped: {raw_genres!r}")
    budget = v["task"].normalise_label(answer.get("budget"))
    if budget is None:
        problems.append(f"budget {answer.get('budget')!r} is not a band")
    read: list[ShotAnswer] = []
    given = {int(s["shot"]): s for s in answer.get("shots") or []
             if isinstance(s, dict) and str(s.get("shot", "")).isdigit()}
    for k, shot in enumerate(shots, 1):
        entry = given.get(k, {})
        scale = entry.get("scale") if entry.get("scale") in v["shot_scales"] else None
        movement = entry.get("movement") if entry.get("movement") in v["camera_movements"] else None
        if not entry:
            problems.append(f"shot {k} not answered")
        elif (scale is None and entry.get("scale") != UNKNOWN) or movement is None:
            problems.append(f"shot {k}: {entry.get('scale')!r} / {entry.get('movement')!r} not in the lists")
        read.append(ShotAnswer(shot=k, start_s=shot.start_s, end_s=shot.end_s, shot_scale=scale,
                               camera_movement=movement))
    analysis = answer.get("analysis")
    if not isinstance(analysis, str) or not analysis.strip():
        problems.append("no analysis")
    return FilmAnswer(student=student, model=model, genres=genres, budget=budget, shots=read,
                      analysis=" ".join(str(analysis or "").split()), extraction="json", problems=problems, raw=reply)


def read_shot(reply: str, k: int, shot: Shot) -> tuple[ShotAnswer, list[str]]:
    """The text student's answer to shot ``k``'s own question, and what was not usable in it."""
    from pipelines.models.structured import json_objects
    from pipelines.vision.camera import CAMERA_MOVEMENTS
    from pipelines.vision.framing import SHOT_SCALES

    entry = next((o for o in reversed(json_objects(reply)) if {"scale", "movement"} & set(o)), {})
    scale = entry.get("scale") if entry.get("scale") in SHOT_SCALES else None
    movement = entry.get("movement") if entry.get("movement") in CAMERA_MOVEMENTS else None
    problems = []
    if not entry:
        problems.append(f"shot {k} not answered (no JSON object in the reply to its question)")
    elif (scale is None and entry.get("scale") != UNKNOWN) or movement is None:
        problems.append(f"shot {k}: {entry.get('scale')!r} / {entry.get('movement')!r} not in the lists")
    return ShotAnswer(shot=k, start_s=shot.start_s, end_s=shot.end_s, shot_scale=scale, camera_movement=movement,
                      raw=reply), problems


def text_requests(item: Item, cfg: AnalyseFilmConfig, ctx: StageContext,
                  shots: list[Shot]) -> list[tuple[Messages, dict[str, Any]]]:
    """The text student's requests for one clip: the exam, then (``shots_apart``) one question
    per shot, all beginning with the same system message and clip."""
    exam = (render_exam(item, cfg, ctx), exam_schema(cfg.task, shots if shots_in_exam(cfg, "text") else []))
    if shots_in_exam(cfg, "text"):
        return [exam]
    listed = shots_listed(ctx)
    return [exam, *((render_exam(item, cfg, ctx, shot=k), shot_schema(k, shot) if listed else shot_schema())
                    for k, shot in enumerate(shots, 1))]


def read_text_answer(replies: list[str], cfg: AnalyseFilmConfig, shots: list[Shot]) -> FilmAnswer:
    """The text student's answer from the replies to :func:`text_requests`."""
    if shots_in_exam(cfg, "text"):
        return read_answer(replies[0], "text", cfg.llm.model, shots, cfg.task)
    answer = read_answer(replies[0], "text", cfg.llm.model, [], cfg.task)
    for k, (reply, shot) in enumerate(zip(replies[1:], shots), 1):
        shot_answer, problems = read_shot(reply, k, shot)
        answer.shots.append(shot_answer)
        answer.problems.extend(problems)
    return answer


def render_text_requests(item: Item, cfg: AnalyseFilmConfig, ctx: StageContext) -> list[Messages]:
    """Every request the text student is sent for one clip (``m2t render analyse_film``): the
    exam and, with ``shots_apart``, each shot's question."""
    return [messages for messages, _ in text_requests(item, cfg, ctx, shots_asked(ctx, cfg))]


def vlm_request(item: Item, cfg: AnalyseFilmConfig, ctx: StageContext,
                shots: list[Shot]) -> tuple[Messages, dict[str, Any]] | None:
    """The openai vlm student's request for one clip: the exam text and the sampled frames in
    one user turn, with the exam's JSON schema; None for a clip without frames."""
    from pipelines.models.llm import image_part

    assert cfg.vlm is not None
    refs = _frame_refs(ctx, cfg)
    if not refs:
        return None
    instruction = "\n\n".join(text for _, text in render_exam(item, cfg, ctx, student="vlm"))
    content = [{"type": "text", "text": instruction}, *(image_part(r.path, cfg.vlm.max_side) for r in refs)]
    return [("user", content)], exam_schema(cfg.task, shots)


def _vlm_answer(item: Item, cfg: AnalyseFilmConfig, ctx: StageContext, shots: list[Shot]) -> FilmAnswer:
    from PIL import Image

    from pipelines.media import load_frame
    from pipelines.models.vlm import HFFrameDescriber

    assert cfg.vlm is not None
    vlm = cfg.vlm
    name = str(vlm.model)
    refs = _frame_refs(ctx, cfg)
    if not refs:
        return FilmAnswer(student="vlm", model=name, extraction="failed", problems=["the clip has no frames"])
    model = ctx.models.get(f"vlm:{name}:{vlm.device}:{vlm.dtype}:{vlm.max_new_tokens}", lambda: HFFrameDescriber(
        name, device=vlm.device, dtype=vlm.dtype, max_new_tokens=vlm.max_new_tokens))
    instruction = "\n\n".join(text for _, text in render_exam(item, cfg, ctx, student="vlm"))
    reply = model.answer([Image.fromarray(load_frame(r.path)) for r in refs], instruction)
    return read_answer(reply, "vlm", name, shots, cfg.task)


def check_exam(cfg: AnalyseFilmConfig, stages: list[str]) -> None:
    """Config time: the vlm student looks at the sampled frames; the task must have genres."""
    if "vlm" in cfg.students and "extract_frames" not in stages:
        raise ConfigError("analyse_film: the vlm student needs the extract_frames stage before it")
    _vocabularies(cfg.task)


def _models(cfg: AnalyseFilmConfig) -> list[str]:
    return ([cfg.llm.model] if "text" in cfg.students else []) + ([str(cfg.vlm.model)] if cfg.vlm and "vlm" in cfg.students
                                                                   else [])


SHORT = {"extreme close-up": "ECU", "close-up": "CU", "medium": "MS", "full": "FS", "long": "LS", "static": "static",
         "pan left": "pan L", "pan right": "pan R", "tilt up": "tilt U", "tilt down": "tilt D", "zoom in": "zoom in",
         "zoom out": "zoom out"}


def _short(value: str | None) -> str:
    return SHORT.get(value, value) if value else "?"


def print_exam(result: Any, cfg: Any, console: Any) -> None:
    """``m2t run``'s summary of the film exam, per clip and student: genres and budget beside the gold ones, each shot's
    scale and camera movement as measured → answered (annotated in brackets when they
    differ), the teacher's marks; then each analysis."""
    from rich.table import Table

    exams = result.records.get("analyse_film", {})
    if not exams:
        return
    from pipelines.tasks import get_task

    task = get_task(cfg.task)
    items = {i.item_id: i for i in result.items}
    grades = {(item_id, g.student): g for item_id, rec in result.records.get("grade_analysis", {}).items()
              for g in rec.grades}
    visuals = result.records.get("measure_visuals", {})
    title = "film exam" + (f" ({cfg.dataset.labels_note})" if cfg.dataset.labels_note else "")
    table = Table(title=title, title_justify="left", show_lines=True)
    for col in ("clip", "student", "genres (gold → answered)", "budget", "shots: scale and camera, measured → answered",
                "marks (obs/evid/interp → overall)"):
        table.add_column(col)
    agree = {}
    for item_id, rec in exams.items():
        labels = items[item_id].labels if item_id in items else {}
        annotated = labels.get("shots") or []
        measured = getattr(visuals.get(item_id), "shots", [])
        for answer in rec.answers:
            cells = []
            for s in answer.shots:
                t = (s.start_s + s.end_s) / 2
                m = next((x for x in measured if x.start_s <= t < x.end_s), None)
                a = next((x for x in annotated if x["start_s"] <= t < x["end_s"]), {})
                ms, mm = (m.shot_scale, m.camera_movement) if m else (None, None)
                cell = f"{_short(ms)} {_short(mm)} → {_short(s.shot_scale)} {_short(s.camera_movement)}"
                if (a.get("shot_scale"), a.get("camera_movement")) not in ((ms, mm), (None, None)):
                    cell += f" [dim](annotated {_short(a.get('shot_scale'))} {_short(a.get('camera_movement'))})[/]"
                cells.append(cell)
                hits = agree.setdefault(answer.student, [0, 0])
                hits[0] += (s.shot_scale, s.camera_movement) == (ms, mm)
                hits[1] += 1
            gold_genres = ", ".join(labels.get("genres") or []) or "-"
            budget = task.gold(labels) if labels else None
            mark = "" if budget is None else ("[green]✓[/]" if answer.budget == budget else "[red]✗[/]")
            g = grades.get((item_id, answer.student))
            marks = "-" if g is None or not g.scores else (
                "/".join(str(g.scores.get(c, "?")) for c in ("observations", "evidence", "interpretation"))
                + f" → {g.overall or '?'}")
            failed = (f" [red]({answer.extraction}: {'; '.join(answer.problems)[:60]})[/]"
                      if answer.extraction in ("failed", "partial") else "")
            table.add_row(item_id, answer.student, f"{gold_genres} → {', '.join(answer.genres) or '-'}{failed}",
                          f"{budget or '-'} → {answer.budget or '-'} {mark}", "\n".join(cells) or "-", marks)
    console.print(table)
    for student, (hit, n) in sorted(agree.items()):
        console.print(f"{student} student: {hit} of {n} shots answered as measured (scale and camera movement)",
                  highlight=False)
    for item_id, rec in exams.items():
        for answer in rec.answers:
            if answer.analysis:
                console.print(f"[bold]{item_id}[/] ({answer.student} student): {excerpt(answer.analysis, 600)}",
                          highlight=False, soft_wrap=True)


@stage("analyse_film", version=2, config=AnalyseFilmConfig, record=FilmAnalysisRecord,
       needs=("summarize", "measure_visuals"), uses=("extract_frames",), batched=True,
       prompts=lambda cfg: [prompt_name(cfg)], render=render_text_requests, models=_models,
       check=lambda cfg, stages: check_exam(cfg, stages), summary=print_exam)
def analyse_film(items: list[Item], cfg: AnalyseFilmConfig, ctxs: list[StageContext]) -> list[Any]:
    """The text student's answers for the whole batch in one request list (in flight together
    on a remote backend; a failed request fails only its clip): per clip the exam and, with
    ``shots_apart``, one short question per shot; then the vlm student's, one clip at a time."""
    from pipelines.prompts import load_prompt

    shots = [shots_asked(ctx, cfg) for ctx in ctxs]
    text_answers: list[FilmAnswer | Exception | None] = [None] * len(items)
    if "text" in cfg.students:
        per_clip = [text_requests(item, cfg, ctx, asked) for item, ctx, asked in zip(items, ctxs, shots)]
        flat = [request for requests in per_clip for request in requests]
        replies = ctxs[0].llm(cfg.llm).answer_all(flat) if flat else []  # failures are values
        start = 0
        for i, requests in enumerate(per_clip):
            mine = replies[start:start + len(requests)]
            start += len(requests)
            failed = next((r for r in mine if isinstance(r, Exception)), None)
            text_answers[i] = failed or read_text_answer([str(r) for r in mine], cfg, shots[i])
    vlm_answers: list[FilmAnswer | Exception | None] = [None] * len(items)
    if "vlm" in cfg.students and cfg.vlm is not None and cfg.vlm.backend == "openai":
        assert cfg.vlm.llm is not None
        asked = [vlm_request(item, cfg, ctx, s) for item, ctx, s in zip(items, ctxs, shots)]
        sent = [i for i, request in enumerate(asked) if request is not None]
        replies = ctxs[0].llm(cfg.vlm.llm).answer_all([asked[i] for i in sent]) if sent else []
        for i in range(len(items)):
            vlm_answers[i] = FilmAnswer(student="vlm", model=cfg.vlm.llm.model, extraction="failed",
                                        problems=["the clip has no frames"])
        for i, reply in zip(sent, replies):
            vlm_answers[i] = reply if isinstance(reply, Exception) else read_answer(
                reply, "vlm", cfg.vlm.llm.model, shots[i], cfg.task)
    prompt = load_prompt(prompt_name(cfg))
    out: list[Any] = []
    for i, (item, ctx) in enumerate(zip(items, ctxs)):
        try:
            for answer in (text_answers[i], vlm_answers[i]):
                if isinstance(answer, Exception):
                    raise answer
            answers = [a for a in (text_answers[i], vlm_answers[i]) if isinstance(a, FilmAnswer)]
            if "vlm" in cfg.students and vlm_answers[i] is None:
                answers.append(_vlm_answer(item, cfg, ctx, shots[i]))
            out.append(FilmAnalysisRecord(**{**ctx.provenance, "model": ", ".join(_models(cfg)),
                                             "prompt_id": prompt.id, "prompt_version": prompt.version},
                                          answers=answers, shots_asked=shots[i]))
        except Exception as exc:  # reported per item by the executor
            out.append(exc)
    return out

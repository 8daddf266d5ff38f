"""Typed records: what every stage writes, and what analysis reads.

Every record carries the provenance fields of :class:`Record` (which item, which stage and
version, the hashes that make it resumable and cacheable, the model and prompt used) plus a
stage-specific payload. Media is stored by reference (paths, frame indices, time spans),
never inlined. Records are JSON on disk; :func:`parse_record` turns a JSON object back into
the right class by its ``stage`` field.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    """Timezone-aware now, so records from different machines sort correctly."""
    return datetime.now(timezone.utc)


class Item(BaseModel):
    """One dataset row: a video (by reference) and its metadata.

    ``video`` is the path as written in the manifest; ``video_path`` is the resolved,
    checked absolute path (``None`` when the manifest gives no video).
    """

    model_config = ConfigDict(extra="forbid")

    item_id: str
    video: str | None = None
    video_path: str | None = None
    title: str = ""
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)
    split: str | None = None
    truth: dict[str, Any] = Field(default_factory=dict)


class Record(BaseModel):
    """Provenance shared by every stage output."""

    model_config = ConfigDict(extra="forbid")

    stage_name: ClassVar[str] = ""

    item_id: str
    stage: str
    stage_version: int
    key: str = Field(description="cache key: sha256 of everything that determines this record")
    input_hash: str
    config_hash: str
    model: str | None = None
    prompt_id: str | None = None
    prompt_version: int | None = None
    created_at: datetime = Field(default_factory=utc_now)
    seconds: float = Field(0.0, description="wall time the stage spent on this item")
    reproducible: bool | None = Field(
        None, description="whether recomputing gives this record again: False when it holds answers of a remote "
                          "model (servers batch requests across users) or of sampled generation (temperature > 0), "
                          "which only the cache gives back; None in records written before m2t said so")


class FrameRef(BaseModel):
    """One extracted frame, stored as a JPEG file."""

    index: int = Field(description="frame index in the decoded video")
    timestamp_s: float = Field(description="presentation time of the frame (start), seconds")
    requested_s: float = Field(description="time the sampling mode asked for, seconds")
    path: str
    width: int
    height: int


class VideoInfo(BaseModel):
    """What the decoder reports about a video."""

    fps: float
    num_frames: int
    duration_s: float
    width: int
    height: int


class FramesRecord(Record):
    stage_name: ClassVar[str] = "extract_frames"

    video: VideoInfo | None = Field(description="what the decoder reports; None when the file has no video stream")
    mode: str
    frames: list[FrameRef]
    no_video: bool = Field(False, description="the file has no video stream (audio only): no frames, not an error")


class TranscriptSegment(BaseModel):
    start_s: float
    end_s: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


class TranscriptRecord(Record):
    stage_name: ClassVar[str] = "transcribe_audio"

    language: str | None = None
    language_probability: float | None = None
    duration_s: float = 0.0
    segments: list[TranscriptSegment] = Field(default_factory=list)
    no_audio: bool = Field(False, description="the video has no audio track (not an error)")
    audio_duration_s: float | None = Field(None, description="the audio stream's declared duration, seconds")
    audio_truncated: bool = Field(False, description="the decoded audio ends well before the audio stream's declared "
                                                     "duration (a damaged file); what was decoded is kept")
    audio_ends_early: bool = Field(False, description="the audio ends before the picture (valid media: music or a "
                                                      "voice-over on part of the clip); nothing is heard after duration_s")

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


class SummarySection(BaseModel):
    """One section of the text representation, kept apart so that later stages can fit the
    text into their own budget without dropping a modality (``pipelines/budget.py``)."""

    name: str = Field(description="title | description | metadata | visual_facts | objects | frames | onscreen_text | "
                                  "speech | sound")
    heading: str
    text: str
    share: float = Field(1.0, description="relative share of a budget the section gets when the text must be cut")


class SoundSegment(BaseModel):
    """Consecutive patches with the same label (the merge rule: pipelines/models/audio_events.py)."""

    start_s: float
    end_s: float
    label: str = Field(description="YAMNet display name of the top class; 'Silence' for quiet patches; 'Unknown' "
                                   "below min_score")
    category: str = Field(description="speech | music | silence | laughter | applause | tone | noise | other")
    score: float = Field(description="the label's mean probability over the segment's patches (1.0: measured "
                                     "silence)")
    top: list[tuple[str, float]] = Field(description="the best classes over the segment, (label, mean probability)")
    patches: int = Field(description="0.96 s patches merged into the segment")


class AudioEventsRecord(Record):
    """Sound events per segment: the evidence for claims about what is heard."""

    stage_name: ClassVar[str] = "describe_audio"

    segments: list[SoundSegment] = Field(default_factory=list)
    categories: dict[str, float] = Field(default_factory=dict, description="category -> seconds (categories heard)")
    no_audio: bool = Field(False, description="the file has no audio stream (not an error)")
    duration_s: float = Field(0.0, description="where the decoded audio ends on the file's timeline")
    audio_start_s: float = Field(0.0, description="where the audio stream starts on the file's timeline")
    text: str = Field(description="the sounds as one or two short sentences")


class SummaryRecord(Record):
    stage_name: ClassVar[str] = "summarize"

    text: str = Field(description="the sequential text representation of the video")
    sections: list[str] = Field(description="which parts went into the text, in order")
    parts: list[SummarySection] = Field(default_factory=list, description="the sections, each whole")
    cut: list[str] = Field(default_factory=list, description="sections cut to fit summarize.max_chars")
    flags: list[str] = Field(default_factory=list, description="no_media (a text-only item), no_video, no_audio, "
                                                                  "audio_truncated, audio_ends_early: unusual media")


class OcrLineRef(BaseModel):
    text: str
    confidence: float
    box: list[list[float]] = Field(description="four corners (x, y) in frame pixels, clockwise from top-left")


class FrameText(BaseModel):
    frame_index: int
    timestamp_s: float
    lines: list[OcrLineRef]


class TextSpan(BaseModel):
    """One distinct piece of on-screen text and the frames it was read in."""

    text: str
    confidence: float = Field(description="best recognition confidence over its frames")
    first_s: float
    last_s: float
    frame_indices: list[int]


class OnscreenTextRecord(Record):
    stage_name: ClassVar[str] = "read_onscreen_text"

    frames: list[FrameText]
    texts: list[TextSpan] = Field(description="deduplicated across the video's frames, in order of appearance")

    @property
    def text(self) -> str:
        return " | ".join(t.text for t in self.texts)


class ColourShare(BaseModel):
    name: str
    share: float


class FaceBox(BaseModel):
    x: int
    y: int
    w: int
    h: int
    height_share: float = Field(description="face height / frame height")


class FrameVisuals(BaseModel):
    """Measured facts of one sampled frame (definitions: pipelines/vision/color.py, models/faces.py)."""

    frame_index: int
    timestamp_s: float
    luminance: float
    contrast: float
    lighting_key: str
    dominant_colour: str
    palette: list[ColourShare]
    saturation: float
    colour_temperature_k: float
    colour_temperature: str
    faces: list[FaceBox]
    people: int = Field(0, description="COCO person boxes found (0 when people are not detected)")
    shot_scale: str | None = Field(description="one of the five MovieShots scales, from the largest face or the "
                                               "tallest person (pipelines/vision/framing.py); None without either")
    motion: float | None = Field(description="mean in-shot frame difference within 0.5 s of the frame (0..1)")
    motion_level: str


class Shot(BaseModel):
    """One shot between hard cuts, with what was measured on its own frames
    (``pipelines/vision/per_shot.py``)."""

    index: int
    start_s: float
    end_s: float
    shot_scale: str | None = Field(None, description="majority of the shot's measured frames; None: no face or person")
    scale_basis: str = Field("none", description="face | person | none: what decided the scale")
    scale_share: float | None = Field(None, description="the deciding face's or person's height / frame height "
                                                        "(middle measured frame)")
    camera_movement: str = Field("unknown", description="static, pan left/right, tilt up/down, zoom in/out, or unknown "
                                                        "(pipelines/vision/camera.py)")
    camera_dx: float | None = Field(None, description="picture motion, frame widths per second (+: right)")
    camera_dy: float | None = Field(None, description="picture motion, frame widths per second (+: down)")
    camera_zoom: float | None = Field(None, description="log scale change per second (+: the picture grows)")
    flow_pairs: int = Field(0, description="frame pairs whose global motion could be measured")


class VisualsRecord(Record):
    """Per-frame and per-video visual facts: the evidence the hallucination audit checks against."""

    stage_name: ClassVar[str] = "measure_visuals"

    frames: list[FrameVisuals]
    shots: list[Shot]
    cuts_s: list[float]
    shot_count: int
    motion: float | None
    motion_level: str
    luminance: float
    lighting_key: str
    dominant_colour: str
    colour_temperature: str
    frames_with_faces: int
    shot_scales: dict[str, int] = Field(description="shot scale -> number of shots (shots of unknown scale left out)")
    camera_movements: dict[str, int] = Field(default_factory=dict, description="camera movement -> number of shots")
    text: str = Field(description="the facts as a few short sentences")


class DetectedObject(BaseModel):
    label: str = Field(description="COCO class name")
    score: float
    box: list[float] = Field(description="x1, y1, x2, y2 in 0..1 frame coordinates")
    position: str = Field(description="left | centre | right: the third of the width holding the box's centre")


class FrameObjects(BaseModel):
    frame_index: int
    timestamp_s: float
    objects: list[DetectedObject] = Field(description="best score first")


class ObjectsRecord(Record):
    """COCO objects with boxes per sampled frame: the evidence for "there is a cup" claims."""

    stage_name: ClassVar[str] = "detect_objects"

    frames: list[FrameObjects]
    counts: dict[str, int] = Field(description="object label -> number of sampled frames it was detected in")
    text: str = Field(description="the objects as one short sentence")


class ImageLabel(BaseModel):
    name: str
    score: float


class FrameDescription(BaseModel):
    frame_index: int
    timestamp_s: float
    text: str
    labels: list[ImageLabel] = Field(default_factory=list, description="ImageNet labels (offline backend)")


class FrameDescriptionsRecord(Record):
    stage_name: ClassVar[str] = "describe_frames"

    backend: str
    descriptions: list[FrameDescription]


class EmbeddingRecord(Record):
    stage_name: ClassVar[str] = "embed"

    dim: int
    vector_b64: str = Field(description="float32 little-endian vector, base64 (L2-normalised when the config says so)")
    text_sha256: str = Field(description="sha256 of the embedded text: equal texts are exact duplicates")

    def vector(self) -> Any:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(self.vector_b64), dtype="<f4")


class Neighbour(BaseModel):
    item_id: str
    score: float = Field(description="cosine similarity to the query")
    label: str
    split: str | None
    text: str = Field(description="the neighbour's summary text, every section fitted into retrieve_similar.max_chars")
    parts: list[SummarySection] = Field(default_factory=list, description="the same text by section, for "
                                                                          "stages that fit it into their own budget")


class NeighboursRecord(Record):
    stage_name: ClassVar[str] = "retrieve_similar"

    neighbours: list[Neighbour]
    index_size: int = Field(description="labelled items the search ran over")
    excluded: list[str] = Field(default_factory=list, description="ids left out as the query itself or exact duplicates")


class Hypothesis(BaseModel):
    number: int
    text: str
    favours: str | None = Field(None, description="the label the hypothesis argues for")
    based_on: list[str] = Field(default_factory=list, description="ids of the neighbours it was drawn from")
    problems: list[str] = Field(default_factory=list, description="why it is degenerate (empty: usable); "
                                                                  "rules in pipelines/hypotheses.py")


class HypothesesRecord(Record):
    stage_name: ClassVar[str] = "hypothesize"

    hypotheses: list[Hypothesis] = Field(description="the usable hypotheses, numbered 1..n: what predict sees")
    degenerate: list[Hypothesis] = Field(default_factory=list,
                                         description="hypotheses still degenerate after one repair, with their "
                                                     "problems; never shown to predict")
    neighbour_ids: list[str]
    extraction: str = Field(description="json | partial_json | numbered_lines, each possibly after repair+, "
                                        "or sentences: how the hypotheses were read")
    repaired: bool = Field(False, description="a repair request was sent (unreadable or degenerate hypotheses)")
    raw: str


class ExplanationCheck(BaseModel):
    """The audit's rule verdicts on one explanation, taken by predict before the answer is kept
    (``pipelines/audit/explanation.py``: the rules and evidence of ``audit_claims``, claims cut
    by sentences and clauses)."""

    counts: dict[str, int] = Field(description="verdict -> claims, every verdict listed (0 included)")
    verifiable_share: float | None = Field(None, description="(supported + contradicted + unsupported) / claims: "
                                                             "an explanation that says nothing checkable has 0; "
                                                             "None without claims")
    flagged: list[AuditedClaim] = Field(default_factory=list, description="the claims found contradicted or "
                                                                          "unsupported: what a repair names")


class PredictionVersion(BaseModel):
    """One answer of the model kept whole: the first, when its explanation was sent back, or a
    repair's."""

    label: str
    scale: int | None = None
    confidence: float | None = None
    explanation: str = ""
    evidence: list[str] = Field(default_factory=list)
    cited_hypotheses: list[int] = Field(default_factory=list)
    raw: str = ""
    check: ExplanationCheck


class ExplanationRepair(BaseModel):
    """One request that sent an explanation back with its contradicted or unsupported claims
    named (``prompts/<task>/repair_explanation.md``)."""

    named: list[str] = Field(description="the claims the request named, in the answer's own words")
    raw: str = Field("", description="the model's reply")
    answer: PredictionVersion | None = Field(None, description="the reply read as an answer, with its check; None: "
                                                               "not usable (error says why)")
    error: str = Field("", description="why the reply was not used: the model failed, or it held no valid answer")
    kept: bool = Field(False, description="the repaired answer replaced the one sent back (it was usable and has "
                                          "no more contradicted or unsupported claims)")


class PredictionRecord(Record):
    stage_name: ClassVar[str] = "predict"

    mode: str
    label: str
    scale: int | None = Field(None, description="1-4 (1-2 local, 3-4 global) when the model gave one consistent with the label")
    confidence: float | None = None
    explanation: str = ""
    cited_hypotheses: list[int] = Field(default_factory=list, description="hypothesis numbers the answer cites "
                                                                          "that exist")
    cited_unknown: list[int] = Field(default_factory=list, description="cited numbers of no hypothesis")
    grounded: bool | None = Field(None, description="the explanation mentions something of the video's own text "
                                                    "(pipelines/hypotheses.py: grounded); None without explanation")
    evidence: list[str] = Field(default_factory=list, description="quotes the model gave from the item's text")
    evidence_found: list[bool] = Field(default_factory=list, description="whether each quote occurs in the text")
    extraction: str = Field(description="json | repair | label_scores (+partial: a JSON answer cut off by the "
                                        "token limit, its complete fields used): which path produced the label")
    label_scores: dict[str, float] = Field(default_factory=dict,
                                           description="label_scores only: the calibrated score of each label "
                                                       "(log-likelihood given the video minus given a content-free "
                                                       "input); the label is their arg-max")
    label_scores_raw: dict[str, float] = Field(default_factory=dict,
                                               description="label_scores only: log P(label | prompt with the video)")
    label_scores_content_free: dict[str, float] = Field(
        default_factory=dict, description="label_scores only: log P(label | the same prompt with the video's text "
                                          "replaced by 'N/A'), the model's prior that calibration removes")
    possible_injection: bool = False
    injection_signals: list[str] = Field(default_factory=list)
    raw: str = ""
    explanation_check: ExplanationCheck | None = Field(None, description="the audit's rule verdicts on the kept "
                                                                         "explanation; None: not checked "
                                                                         "(predict.check_explanation off, or no "
                                                                         "explanation)")
    verifiable_share: float | None = Field(None, description="the kept explanation's claims that the rules could "
                                                             "check: (supported + contradicted + unsupported) / "
                                                             "claims")
    first_answer: PredictionVersion | None = Field(None, description="the model's first answer whole, when its "
                                                                     "explanation was sent back")
    repairs: list[ExplanationRepair] = Field(default_factory=list, description="the requests that sent the "
                                                                               "explanation back, in order")
    explanation_flagged: bool = Field(False, description="the kept explanation still has contradicted or "
                                                         "unsupported claims after the repairs")


class ShotAnswer(BaseModel):
    """A student's answer about one measured shot."""

    shot: int = Field(description="1-based number of the shot among the measured shots shown")
    start_s: float
    end_s: float
    shot_scale: str | None = None
    camera_movement: str | None = None
    raw: str | None = Field(None, description="the reply to this shot's own question (the text student with "
                                              "shots_apart); None when the shot was answered in the exam's reply")


class FilmAnswer(BaseModel):
    """One student's answers to the film exam (``prompts/film/exam.md``)."""

    student: str = Field(description="text (an LLM reading the text representation) | vlm (a model given the frames)")
    model: str
    genres: list[str] = Field(default_factory=list)
    budget: str | None = None
    shots: list[ShotAnswer] = Field(default_factory=list)
    analysis: str = ""
    extraction: str = Field(description="json | partial (cut off by the token limit: only a finished analysis "
                                        "kept) | failed: how the answer was read")
    problems: list[str] = Field(default_factory=list, description="why parts of the answer were not usable")
    raw: str = ""


class FilmAnalysisRecord(Record):
    """Every student's exam answers for one clip (same questions, same schema)."""

    stage_name: ClassVar[str] = "analyse_film"

    answers: list[FilmAnswer]
    shots_asked: list[Shot] = Field(description="the measured shots the questions were about (at most max_shots)")


class Grade(BaseModel):
    """The teacher's marks for one student's analysis (``prompts/film/grade.md``)."""

    student: str
    student_model: str
    judge_model: str
    scores: dict[str, int] = Field(description="criterion -> 1..5 (observations, evidence, interpretation)")
    overall: int | None = Field(None, description="1..5")
    reasons: dict[str, str] = Field(default_factory=dict, description="criterion -> the teacher's reason")
    extraction: str = Field(description="json | repair | failed")
    raw: str = ""


class GradesRecord(Record):
    stage_name: ClassVar[str] = "grade_analysis"

    grades: list[Grade]


class EvidenceRef(BaseModel):
    """What a verdict rests on: a stage's field and its value, where it was measured."""

    stage: str
    field: str
    value: str = Field(description="the value, as text")
    time_s: float | None = None
    frame_index: int | None = None


class AuditedClaim(BaseModel):
    source: str = Field(description="where the text came from: <stage>.<field>, with the student, hypothesis "
                                    "number or frame, e.g. analyse_film.analysis[text]")
    text: str
    start: int = Field(description="character span of the claim in the source text")
    end: int
    type: str = Field(description="claim type (pipelines/audit/claims.py)")
    verdict: str = Field(description="supported | contradicted | unverifiable")
    reason: str
    evidence: list[EvidenceRef] = Field(default_factory=list)
    checked_by: str = Field("rules", description="rules | judge")


class AuditRecord(Record):
    """Every claim of the audited texts of one video, with its verdict and evidence."""

    stage_name: ClassVar[str] = "audit_claims"

    sources: dict[str, str] = Field(description="source -> the whole audited text")
    claims: list[AuditedClaim]
    split: dict[str, str] = Field(default_factory=dict, description="source -> how it was cut into claims: llm | "
                                                                     "sentences (with the reason when the llm failed)")
    invented: list[str] = Field(default_factory=list, description="claims the splitting model returned that are not "
                                                                  "in the text (left out of the audit)")
    counts: dict[str, int] = Field(description="verdict -> number of claims")


class ErrorRecord(BaseModel):
    """One failed item of one stage: the reason in one line a user can act on."""

    model_config = ConfigDict(extra="forbid")

    item_id: str
    stage: str
    key: str | None = None
    error_type: str
    reason: str
    created_at: datetime = Field(default_factory=utc_now)


RECORD_TYPES: dict[str, type[Record]] = {
    cls.stage_name: cls
    for cls in (
        FramesRecord, TranscriptRecord, SummaryRecord, OnscreenTextRecord, VisualsRecord, FrameDescriptionsRecord,
        ObjectsRecord, EmbeddingRecord, NeighboursRecord, HypothesesRecord, PredictionRecord, FilmAnalysisRecord,
        GradesRecord, AuditRecord, AudioEventsRecord,
    )
}


def register_record_type(cls: type[Record]) -> type[Record]:
    """Let a stage defined outside this module add its record class (decorator; ``@stage``
    also registers the record class it is given)."""
    RECORD_TYPES[cls.stage_name] = cls
    return cls


class UnknownRecordTypeError(ValueError):
    """Records of a stage whose record class no module imported so far defines."""


def record_type_path(cls: type[Record]) -> str:
    """Where a record class lives, ``module:Class`` (the run manifest's ``record_types``
    names the classes of plug-in stages so a fresh process can read their records)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def import_record_type(path: str) -> type[Record]:
    """Import the record class at ``module:Class`` and register it.

    Raises:
        UnknownRecordTypeError: the module or the class cannot be imported (e.g. it was
            defined in a notebook: import that code first).
    """
    import importlib

    module, _, name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UnknownRecordTypeError(f"cannot import the record class {path} ({exc}); import the code that defines "
                                     "it before reading the run") from None
    if not (isinstance(cls, type) and issubclass(cls, Record)):
        raise UnknownRecordTypeError(f"{path} is not a record class")
    return register_record_type(cls)


def record_class(stage: str) -> type[Record]:
    """The record class of ``stage``: the built-in ones are defined in this module, a plug-in
    stage's is registered when its module is imported (readers of a run import it from the
    path the run manifest gives: :func:`import_record_type`). No stage module is imported.

    Raises:
        UnknownRecordTypeError: no record class is registered for ``stage``.
    """
    cls = RECORD_TYPES.get(stage)
    if cls is None:
        raise UnknownRecordTypeError(f"unknown record stage {stage!r}; import the module that defines its stage "
                                     f"(known: {', '.join(sorted(RECORD_TYPES))})")
    return cls


def parse_record(data: dict[str, Any]) -> Record:
    """Rebuild a typed record from its JSON object, choosing the class by ``stage``."""
    return record_class(str(data.get("stage", ""))).model_validate(data)

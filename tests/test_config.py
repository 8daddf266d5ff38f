from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BASE = """
name: base
task: popularity
dataset: {path: data/samples/manifest.jsonl}
stages:
  extract_frames: {num_frames: 8}
  transcribe_audio: {}
  summarize: {}
"""


def test_the_shipped_config_is_valid():
    cfg = load_config(ROOT / "pipelines" / "configs" / "popularity.yaml")
    assert list(cfg.stages) == [
        "extract_frames", "read_onscreen_text", "measure_visuals", "detect_objects", "describe_frames",
        "transcribe_audio", "describe_audio", "summarize", "embed", "retrieve_similar", "hypothesize", "predict",
        "audit_claims",
    ]
    resolved = cfg.resolved_stages()
    assert resolved["transcribe_audio"]["model"] == "bundled:whisper-tiny.en"
    assert resolved["describe_frames"]["backend"] == "offline"
    assert resolved["predict"]["task"] == "popularity" and resolved["predict"]["mode"] == "hypotheses"
    assert resolved["predict"]["llm"] == resolved["hypothesize"]["llm"]  # one model load for both


def test_include_then_override_then_set(tmp_path: Path):
    write(tmp_path / "base.yaml", BASE)
    child = write(tmp_path / "child.yaml", "include: base.yaml\nname: child\nstages:\n  extract_frames: {mode: fps}\n")
    cfg = load_config(child, ["extract_frames.fps=2.5", "run.batch_size=2", "stages.transcribe_audio.language=null"])
    assert cfg.name == "child"
    assert cfg.stages["extract_frames"] == {"num_frames": 8, "mode": "fps", "fps": 2.5}
    assert cfg.run.batch_size == 2
    assert cfg.resolved_stages()["transcribe_audio"]["language"] is None
    assert list(cfg.stages) == ["extract_frames", "transcribe_audio", "summarize"]
    assert cfg.hash() != load_config(child).hash()


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (BASE + "colour: red\n", [], "unknown key 'colour'"),
        (BASE.replace("{num_frames: 8}", "{num_frame: 8}"), [], "unknown key 'stages.extract_frames.num_frame'"),
        (BASE, ["extract_frames.num_frame=3"], "unknown key 'stages.extract_frames.num_frame'"),
        (BASE, ["dataset.pth=x"], "unknown key 'dataset.pth'"),
        (BASE, ["extract_frames.num_frames=-1"], "stages.extract_frames.num_frames"),
        (BASE, ["nothing"], "expected key=value"),
        (BASE.replace("summarize: {}", "summarise: {}"), [], "unknown stage 'stages.summarise'"),
        (BASE + "stages:\n  summarize: {}\n", [], "key 'stages' appears twice"),
        (BASE.replace("task: popularity", "task: nosuchtask"), [], "unknown task 'nosuchtask'"),
        (BASE + "  embed: {}\n  retrieve_similar: {}\n  predict: {mode: hypotheses}\n", [],
         "predict mode hypotheses needs the hypothesize stage"),
        (BASE + "  predict: {mode: icl}\n", [], "predict mode icl needs the retrieve_similar stage"),
        (BASE + "  embed: {}\n  retrieve_similar: {}\n  hypothesize: {}\n  predict: {mode: hypotheses_nn}\n", [],
         "hypotheses_nn needs predict.nn_predictions"),
        (BASE + "  embed: {}\n  retrieve_similar: {}\n  hypothesize: {prompt: popularity/nope}\n", [],
         "no prompt 'popularity/nope'"),
        (BASE.replace("name: base\n", ""), [], "missing key 'name'"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, text: str, overrides: list[str], message: str):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(write(tmp_path / "c.yaml", text), overrides)


def test_variants_can_add_stages_anywhere_and_remove_them(tmp_path: Path):
    write(tmp_path / "base.yaml", BASE)
    variant = write(tmp_path / "v.yaml", "include: base.yaml\nstages:\n  read_onscreen_text: {}\n"
                                         "  describe_frames: {}\n  transcribe_audio: null\n")
    cfg = load_config(variant)
    # describe_frames is appended by the merge but moved before summarize, which uses it
    assert list(cfg.stages) == ["extract_frames", "read_onscreen_text", "describe_frames", "summarize"]


def test_set_on_a_stage_that_is_not_configured(tmp_path: Path):
    path = write(tmp_path / "c.yaml", BASE.replace("  transcribe_audio: {}\n", ""))
    with pytest.raises(ConfigError, match="stage 'transcribe_audio' is not in this config"):
        load_config(path, ["transcribe_audio.language=de"])


def test_include_cycle_is_reported(tmp_path: Path):
    write(tmp_path / "a.yaml", "include: b.yaml\n")
    write(tmp_path / "b.yaml", "include: a.yaml\n")
    with pytest.raises(ConfigError, match="include cycle"):
        load_config(tmp_path / "a.yaml")


# ---- overrides touch only what they name; errors say where and what was meant


def test_override_of_an_anchored_block_changes_only_that_stage():
    """popularity.yaml shares one `llm` block between hypothesize and predict (&llm / *llm);
    before, PyYAML's shared dict made --set predict.llm.temperature change hypothesize too."""
    from pipelines.config import load_config

    cfg = load_config(ROOT / "pipelines/configs/popularity.yaml", ["predict.llm.temperature=0.7"])
    assert cfg.stage_config("predict").llm.temperature == 0.7
    assert cfg.stage_config("hypothesize").llm.temperature == 0.0


def test_set_stage_null_removes_the_stage_like_yaml_null(tmp_path):
    from pipelines.config import load_config

    base = ROOT / "pipelines/configs/popularity.yaml"
    cfg = load_config(base, ["predict=null", "hypothesize=null"])
    assert "hypothesize" not in cfg.stages and "predict" not in cfg.stages
    with pytest.raises(ConfigError, match="predict mode hypotheses needs the hypothesize stage"):
        load_config(base, ["hypothesize=null"])


def test_removing_a_needed_stage_names_it_and_says_what_to_do():
    with pytest.raises(ConfigError, match="stage 'hypothesize' needs stage 'retrieve_similar', which this config "
                                          "does not have; add 'retrieve_similar' or remove 'hypothesize'"):
        load_config(ROOT / "pipelines/configs/popularity.yaml", ["retrieve_similar=null"])


@pytest.mark.parametrize("override, expected", [
    ("predikt.mode=icl", "unknown stage 'predikt'; did you mean 'predict'?"),
    ("extract_frames.num_frame=3", "unknown key 'stages.extract_frames.num_frame'; did you mean 'num_frames'?"),
    ("predict.llm.temprature=1", "unknown key 'stages.predict.llm.temprature'; did you mean 'temperature'?"),
    ("stages.hypothesise.k=1", "stage 'hypothesise' is not in this config; did you mean 'hypothesize'?"),
    ("datset.path=x", "unknown key 'datset'; did you mean 'dataset'?"),
])
def test_unknown_keys_get_a_did_you_mean(override, expected):
    from pipelines.config import load_config

    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "pipelines/configs/popularity.yaml", [override])
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_unknown_keys_in_yaml_get_a_did_you_mean(tmp_path):
    from pipelines.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("include: " + str(ROOT / "pipelines/configs/popularity.yaml") + "\n"
                    "stages:\n  summarise: {}\n")
    with pytest.raises(ConfigError, match="unknown stage 'stages.summarise'; did you mean 'summarize'?"):
        load_config(path)
    path.write_text("include: " + str(ROOT / "pipelines/configs/popularity.yaml") + "\nrun: {batch_sise: 2}\n")
    with pytest.raises(ConfigError, match="unknown key 'run.batch_sise'; did you mean 'batch_size'?"):
        load_config(path)


def test_yaml_errors_name_file_line_and_column(tmp_path):
    from pipelines.config import load_config

    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ntask: popularity\nstages:\n  summarize: {}\n    bad: value\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml is not valid YAML: line 5, column 5: expected <block end>"):
        load_config(path)
    path.write_text("name: x\nname: y\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml is not valid YAML: line 2, column 1: key 'name' appears twice"):
        load_config(path)


def test_folder_dataset_with_a_labels_file(tmp_path):
    path = write(tmp_path / "c.yaml", BASE.replace("{path: data/samples/manifest.jsonl}",
                                                   "{adapter: folder, path: videos, labels_file: videos/labels.csv}"))
    cfg = load_config(path)
    assert (cfg.dataset.adapter, cfg.dataset.path, cfg.dataset.labels_file) == ("folder", "videos", "videos/labels.csv")
    assert load_config(path, ["dataset.labels_file=null"]).dataset.labels_file is None

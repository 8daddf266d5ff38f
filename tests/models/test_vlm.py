"""HFFrameDescriber on tiny randomly initialised models of real architectures.

Each model is built here, saved with ``save_pretrained`` and loaded back by path, the way a
user's checkpoint is, so loading, prompting, batching and decoding all run for real. The
weights are random, so the descriptions are gibberish; the tests check the contract (one
string per frame, in order, one ``generate`` call per batch, greedy determinism).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import ConfigError
from pipelines.models.vlm import HFFrameDescriber, _strip_echo
from tests.tiny_models import WORDS, build_tiny_blip  # noqa: E402


def _frames(n: int) -> list[Image.Image]:
    """Noise frames of varied sizes and modes, so each one reaches the model differently."""
    rng = np.random.default_rng(7)
    frames = []
    for i in range(n):
        pixels = rng.integers(0, 256, size=(48 + 4 * i, 64 - 2 * i, 3), dtype=np.uint8)
        frame = Image.fromarray(pixels)
        if i % 4 == 1:
            frame = frame.convert("L")
        elif i % 4 == 2:
            frame = frame.convert("RGBA")
        frames.append(frame)
    return frames


def _count_generate(describer: HFFrameDescriber, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wraps the loaded model's ``generate``; returns the batch size of every call made."""
    calls: list[int] = []
    original: Callable[..., Any] = describer.model.generate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(kwargs["pixel_values"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(describer.model, "generate", counting)
    return calls


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BLIP captioner (no chat template: the instruction is passed as plain text)."""
    return build_tiny_blip(tmp_path_factory.mktemp("tiny-blip"))


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA (CLIP vision tower + Llama): a decoder-only model prompted via its chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    try:
        from transformers import CLIPImageProcessorPil as ClipImages
    except ImportError:
        from transformers import CLIPImageProcessor as ClipImages

    folder = tmp_path_factory.mktemp("tiny-llava")
    tokens = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "USER", "ASSISTANT", ":", ".", *WORDS]
    vocab = {token: i for i, token in enumerate(tokens)}
    word_level = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    word_level.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=word_level,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        padding_side="left",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    chat_template = (
        "{% for message in messages %}{{ message['role'].upper() }}: {% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}<image> {% else %}{{ part['text'] }}{% endif %}{% endfor %} {% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=ClipImages(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        patch_size=16,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=chat_template,
    )
    # initializer_range well above the default 0.02, so that different frames get different
    # (random) descriptions and a mix-up of order or batches shows.
    tiny = {
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37,
        "initializer_range": 0.2,
    }
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**tiny, image_size=32, patch_size=16, projection_dim=32),
        text_config=LlamaConfig(
            **tiny,
            vocab_size=len(tokenizer),
            num_key_value_heads=2,
            max_position_embeddings=128,
            pad_token_id=vocab["<pad>"],
            bos_token_id=vocab["<s>"],
            eos_token_id=vocab["</s>"],
        ),
        image_token_id=vocab["<image>"],
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_blip_one_generate_call_per_frame(blip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    describer = HFFrameDescriber(str(blip_dir), max_new_tokens=8)
    calls = _count_generate(describer, monkeypatch)

    out = describer.describe(_frames(8), "a photo of")

    assert len(out) == 8
    assert all(isinstance(text, str) and text for text in out)
    assert len(set(out)) > 4
    assert describer.generate_calls == 8
    assert calls == [1] * 8


def test_blip_a_frame_is_described_the_same_among_others_or_alone(blip_dir: Path) -> None:
    frames = _frames(8)
    describer = HFFrameDescriber(str(blip_dir), max_new_tokens=8)
    expected = describer.describe(frames, "a photo of")

    assert [describer.describe([frame], "a photo of")[0] for frame in frames] == expected
    assert describer.describe(frames[::-1], "a photo of") == expected[::-1]


def test_blip_drops_the_echoed_prompt(blip_dir: Path) -> None:
    describer = HFFrameDescriber(str(blip_dir), max_new_tokens=8)

    out = describer.describe(_frames(2), "a photo of")

    assert all(text and not text.startswith("a photo of") for text in out)


def test_llava_chat_template_one_generate_call_per_frame(llava_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    describer = HFFrameDescriber(str(llava_dir), max_new_tokens=6)
    calls = _count_generate(describer, monkeypatch)
    frames = _frames(4)

    out = describer.describe(frames, "describe this frame.")

    assert describer.processor.chat_template
    assert len(out) == 4 and all(isinstance(text, str) and text for text in out)
    assert len(set(out)) > 1
    assert not any(text.startswith(("USER", "ASSISTANT", ":")) for text in out)
    assert describer.generate_calls == 4 and calls == [1] * 4
    assert describer.describe(frames[2:3], "describe this frame.") == out[2:3]


def test_no_images_no_generate_call(blip_dir: Path) -> None:
    describer = HFFrameDescriber(str(blip_dir))

    assert describer.describe([], "a photo of") == []
    assert describer.generate_calls == 0


def test_missing_model_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="local model directory") as info:
        HFFrameDescriber(str(tmp_path / "no-such-model"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"dtype": "float8"}, "unknown dtype"), ({"max_new_tokens": 0}, "max_new_tokens"), ({"device": "gpu0"}, "device")],
)
def test_bad_arguments_are_config_errors(blip_dir: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HFFrameDescriber(str(blip_dir), **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a photo of a dog", "a dog"),
        ("A  Photo of a dog", "a dog"),
        ("a photo offset", "a photo offset"),
        ("a dog", "a dog"),
        ("  a photo of  ", ""),
    ],
)
def test_strip_echo(text: str, expected: str) -> None:
    assert _strip_echo(text, "a photo of") == expected


def test_half_precision_casts_pixel_values(llava_dir: Path) -> None:
    import torch

    describer = HFFrameDescriber(str(llava_dir), dtype="bfloat16", max_new_tokens=4)

    out = describer.describe(_frames(2), "describe this frame.")

    assert describer.model.dtype == torch.bfloat16
    assert len(out) == 2 and all(out)

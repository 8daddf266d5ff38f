"""Vision-language backend that describes video frames with a transformers model.

:class:`HFFrameDescriber` drives any checkpoint that ``AutoModelForImageTextToText`` loads
(BLIP, Florence-2, SmolVLM, Qwen2-VL / Qwen2.5-VL, LLaVA, LLaVA-OneVision) through one code
path, so a config switches models by changing a string. Each frame is described in a
``generate`` call of its own: in a batch, a frame's description would depend on the frames
batched with it (other shapes, other sums; greedy decoding turns a last-bit difference into
other words). Nothing is downloaded: the model must be a local directory or an id already in
the local HF cache.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pipelines.errors import ConfigError, first_line
from pipelines.models.bundled import resolve_model

if TYPE_CHECKING:
    from PIL import Image

_DTYPES = ("float32", "float16", "bfloat16", "auto")


class HFFrameDescriber:
    """Describes images with a transformers image-text-to-text model.

    Prompting follows the checkpoint: processors that carry a chat template (SmolVLM,
    Qwen2-VL, LLaVA, ...) get one user turn holding the image and the instruction; the others
    (BLIP, Florence-2) get the instruction as plain text next to the image. Decoding is greedy
    and each frame is its own ``generate`` call (module docstring), so a frame's description
    depends on that frame and the instruction only.

    Args:
        model: A local model directory, an id already in the local HF cache, or
            ``bundled:<name>``.
        device: Torch device the model runs on (``"cpu"``, ``"cuda"``, ...).
        dtype: Weight dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"auto"`` (the
            checkpoint's own).
        max_new_tokens: Upper bound on each description's length in tokens.

    Raises:
        ConfigError: If an argument is invalid or the model cannot be loaded offline.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        max_new_tokens: int = 40,
    ) -> None:
        if dtype not in _DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r} for the vision-language model; use one of {', '.join(_DTYPES)}")
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}")

        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            torch_device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"unknown torch device {device!r}; use e.g. 'cpu' or 'cuda'") from None
        path = resolve_model(model)
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        try:
            self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(
                path, local_files_only=True, dtype=torch_dtype
            ).to(torch_device)
        except Exception as exc:
            raise ConfigError(
                f"cannot load vision-language model {model!r} ({first_line(exc)}); give a local model "
                "directory or the id of an image-text-to-text model already in the local HF cache"
            ) from None
        self.model.eval()

        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"
        self.max_new_tokens = max_new_tokens
        self._device = torch_device
        self._dtype = self.model.dtype
        self._generate_calls = 0

    @property
    def generate_calls(self) -> int:
        """How many ``generate`` calls were made so far; one per image described."""
        return self._generate_calls

    def describe(self, images: list[Image.Image], instruction: str) -> list[str]:
        """Describes each image as the instruction asks.

        Args:
            images: PIL images of any size and mode; each is converted to RGB.
            instruction: What to say about each image, e.g. ``"Describe the frame."``. For
                Florence-2 this is a task token such as ``"<MORE_DETAILED_CAPTION>"``.

        Returns:
            One description per image, in input order, with surrounding whitespace and an
            echoed instruction removed. Each image is one greedy ``generate`` call.

        Raises:
            TypeError: If an item is not a PIL image.
        """
        from PIL import Image as PILImage

        for image in images:
            if not isinstance(image, PILImage.Image):
                raise TypeError(f"describe expects PIL images, got {type(image).__name__}")
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        prompt = self._prompt(instruction)
        return [self._describe_one(image, prompt, instruction) for image in rgb]

    def answer(self, images: list[Image.Image], instruction: str, max_new_tokens: int | None = None) -> str:
        """One answer about several images together (the frames of a clip).

        A checkpoint with a chat template gets every image in one user turn (multi-image:
        LLaVA, Qwen2-VL, SmolVLM, LLaVA-OneVision); the others (BLIP, Florence-2), which take
        one image per text, get the images tiled into one contact sheet in time order, left to
        right and top to bottom. Greedy decoding; ``max_new_tokens`` defaults to the
        describer's own.
        """
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        if getattr(self.processor, "chat_template", None):
            content = [*({"type": "image"} for _ in rgb), {"type": "text", "text": instruction}]
            prompt = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                        add_generation_prompt=True, tokenize=False)
            inputs = self.processor(images=rgb, text=[prompt], return_tensors="pt")
        else:
            inputs = self.processor(images=[contact_sheet(rgb)], text=[instruction], return_tensors="pt")
        return self._generate(inputs, instruction, max_new_tokens or self.max_new_tokens)

    def _prompt(self, instruction: str) -> str:
        if not getattr(self.processor, "chat_template", None):
            return instruction
        conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]
        return self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def _describe_one(self, image: Image.Image, prompt: str, instruction: str) -> str:
        inputs = self.processor(images=[image], text=[prompt], return_tensors="pt")
        return self._generate(inputs, instruction, self.max_new_tokens)

    def _generate(self, inputs: Any, instruction: str, max_new_tokens: int) -> str:
        """One greedy ``generate`` call over processed ``inputs`` (one prompt); the new text."""
        import torch

        inputs = inputs.to(self._device, dtype=self._dtype)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        self._generate_calls += 1
        text = self.processor.batch_decode(_new_tokens(output, inputs.get("input_ids")), skip_special_tokens=True)[0]
        return _strip_echo(text, instruction)


def contact_sheet(images: list[Image.Image], columns: int = 4, cell: int = 256) -> Image.Image:
    """The images side by side in a grid (time order: rows left to right, top to bottom),
    each fitted into a ``cell`` × ``cell`` square on black."""
    from PIL import Image as PILImage

    columns = max(1, min(columns, len(images)))
    rows = max(1, -(-len(images) // columns))
    sheet = PILImage.new("RGB", (columns * cell, rows * cell))
    for k, image in enumerate(images):
        tile = image.copy()
        tile.thumbnail((cell, cell))
        x, y = (k % columns) * cell + (cell - tile.width) // 2, (k // columns) * cell + (cell - tile.height) // 2
        sheet.paste(tile, (x, y))
    return sheet


def _new_tokens(output: Any, input_ids: Any) -> Any:
    """The generated part of ``output``: decoder-only models return prompt + continuation."""
    if input_ids is None or output.shape[1] < input_ids.shape[1]:
        return output
    length = input_ids.shape[1]
    if bool((output[:, :length] == input_ids.to(output.device)).all()):
        return output[:, length:]
    return output


def _strip_echo(text: str, instruction: str) -> str:
    """``text`` without a leading copy of the instruction (BLIP continues its prompt)."""
    text = text.strip()
    words = instruction.split()
    if words:
        echo = re.match(r"\s*".join(re.escape(word) for word in words), text, flags=re.IGNORECASE)
        if echo and not (text[echo.end() : echo.end() + 1].isalnum() and words[-1][-1].isalnum()):
            text = text[echo.end() :].strip()
    return text

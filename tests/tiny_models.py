"""Tiny, randomly initialised models of real architectures, built offline for tests.

They are saved with ``save_pretrained`` and loaded back by path, the way a user's checkpoint
is; their words are meaningless, the code path is real.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "a an the of in on at to with and or is are was this that there here it its frame video scene shot "
    "person people man woman child boy girl crowd car bus bike road street city building house room "
    "kitchen table chair sofa bed window door wall floor sky cloud sun tree grass field water river sea "
    "beach mountain dog cat bird horse red green blue yellow black white grey dark light small large "
    "sitting standing walking running talking holding looking playing smiling screen text sign logo "
    "describe photo picture image close up view front back left right top bottom inside outside"
).split()


def build_tiny_blip(folder: Path) -> Path:
    """A tiny BLIP captioner (no chat template: the instruction is passed as plain text)."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.bert.tokenization_bert import load_vocab

    try:
        from transformers import BlipImageProcessorPil as BlipImages
    except ImportError:
        from transformers import BlipImageProcessor as BlipImages

    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "source-vocab.txt"
    vocab_file.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]", *WORDS]) + "\n")
    # vocab=<dict>: in transformers 5, vocab_file= silently yields a 7-token vocabulary.
    tokenizer = BertTokenizer(vocab=load_vocab(str(vocab_file)), bos_token="[DEC]", additional_special_tokens=["[ENC]"])
    assert len(tokenizer) == 7 + len(WORDS)
    processor = BlipProcessor(BlipImages(size={"height": 32, "width": 32}), tokenizer)
    # initializer_range well above the default 0.02, so that different frames get different
    # (random) descriptions and a mix-up of order or batches shows.
    tiny = {
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37,
        "initializer_range": 0.2,
    }
    config = BlipConfig(
        text_config={
            **tiny,
            "vocab_size": len(tokenizer),
            "encoder_hidden_size": 32,
            "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "sep_token_id": tokenizer.sep_token_id,
        },
        vision_config={**tiny, "image_size": 32, "patch_size": 16},
        projection_dim=32,
        image_text_hidden_size=32,
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_tiny_llava(folder: Path) -> Path:
    """A tiny LLaVA (CLIP vision tower + Llama text model) with a chat template: several
    images in one user turn, and prompts as long as a real exam question. The tokenizer is
    the bundled SmolLM2's with an ``<image>`` token added."""
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    try:
        from transformers import CLIPImageProcessorPil as ClipImages
    except ImportError:
        from transformers import CLIPImageProcessor as ClipImages

    from pipelines.models.bundled import resolve_model

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("bundled:smollm2-135m-instruct"), local_files_only=True)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tokenizer.padding_side = "left"
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    images = ClipImages(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
                "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}"
                "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, chat_template=template, patch_size=16,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=32, patch_size=16, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                eos_token_id=tokenizer.eos_token_id, initializer_range=0.2),
        image_token_index=image_token, vision_feature_select_strategy="default", vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder

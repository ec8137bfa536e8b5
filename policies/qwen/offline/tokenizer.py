"""A Qwen2.5-style tokenizer built offline: byte-level BPE with the real special tokens at the real ids.

For: the tiny random test checkpoint and the random-weight benchmark, where no tokenizer can be
downloaded. The base vocabulary is a small BPE trained here on computer_use-like text, padded with
filler tokens up to 151,643 entries, so `<|endoftext|>` lands at 151643, `<|image_pad|>` at 151655,
`<tool_call>` at 151657, exactly as in Qwen2.5; the chat template is Qwen2.5-VL's.
Not for: real inference (its text pieces are not Qwen's; only the ids and the template match).
"""

from __future__ import annotations

import json
from typing import Any

# The special tokens' ids in Qwen2.5's vocabulary (the model config and the tests use them too).
ENDOFTEXT_ID = 151643
IM_START_ID = 151644
IM_END_ID = 151645
VISION_START_ID = 151652
VISION_END_ID = 151653
VISION_PAD_ID = 151654
IMAGE_PAD_ID = 151655
VIDEO_PAD_ID = 151656
TOOL_CALL_ID = 151657

SPECIAL_TOKENS: tuple[tuple[str, bool], ...] = (  # (content, special) from id 151643 on, as in Qwen2.5
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False), ("</tool_call>", False),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False), ("<|repo_name|>", False), ("<|file_sep|>", False),
)
# The split pattern of Qwen2's tokenizer.json.
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# The chat template of Qwen/Qwen2.5-VL-*-Instruct (chat_template.json).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = (
    'You are a helpful assistant. <tools> {"type": "function", "function": {"name": "computer_use", '
    '"description": "Use a mouse and keyboard to interact with a computer, and take screenshots.", '
    '"parameters": {"properties": {"action": {"enum": ["key", "type", "mouse_move", "left_click", '
    '"left_click_drag", "right_click", "middle_click", "double_click", "scroll", "wait", "terminate"]}, '
    '"keys": ["ctrl", "alt", "enter"], "text": "hello world", "coordinate": [640, 360], "pixels": -120, '
    '"time": 2, "status": "success"}}}} </tools> The screen\'s resolution is 1316x728. '
    'Open the file menu and click Save. Step 1: {"name": "computer_use", "arguments": {"action": "key"}}'
)


def build_tokenizer(base_vocab: int = ENDOFTEXT_ID, merges: int = 600) -> Any:
    """A PreTrainedTokenizerFast: byte-level BPE + filler up to `base_vocab`, then the specials."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, merge_list = _train_bpe(merges)
    for i in range(base_vocab - len(vocab)):  # never produced by a merge: only a random model emits them
        vocab[f"<filler_{i}>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merge_list, ignore_merges=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    for content, special in SPECIAL_TOKENS:
        tok.add_tokens([AddedToken(content, special=special, normalized=False)])
    _check_ids(tok)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE,
        model_max_length=131072, clean_up_tokenization_spaces=False,
    )


def _train_bpe(merges: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + merges, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    data = json.loads(tok.to_str())["model"]
    merge_list = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in data["merges"]]
    return dict(data["vocab"]), merge_list


def _check_ids(tok: Any) -> None:
    for offset, (content, _special) in enumerate(SPECIAL_TOKENS):
        got = tok.token_to_id(content)
        if got != ENDOFTEXT_ID + offset:
            raise AssertionError(f"{content} landed at id {got}, expected {ENDOFTEXT_ID + offset}")

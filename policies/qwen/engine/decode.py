"""Our own prefill + decode loop for Qwen2.5-VL: a cached system prompt, interruptible, one token at a time.

Why not `model.generate`: (1) prefix caching — the system prompt (the computer_use tool text, ~2,000
tokens, byte-identical across a run's steps) is run through the model once and its KV cache reused
by every step; `generate` cannot do that for Qwen2.5-VL, because it derives the 3-D positions of a
prompt only from an empty cache (and drops the pixels after the first forward); (2) the kill switch
must stop an in-flight generation between two tokens, not after `max_new_tokens`; (3) the phase
timings (prefill, per-token decode) come out of the loop itself; (4) on a GPU the decode steps
run as CUDA graph replays of a static-KV step (`static_decode`), and under constrained decoding the
grammar's fixed opening is prefilled with the prompt (`forced`). Positions come from `mrope`.
Sampling reuses transformers' logits processors (repetition penalty, temperature, top-k, top-p);
greedy decoding gives the same tokens as `generate` (`tests/policies/qwen/engine/test_decode.py`).
Not for: building inputs (transformers_inputs) or the grammar (constrained, passed in as a processor).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from policies.qwen.engine.mrope import position_tensor
from policies.qwen.errors import GenerationInterrupted

JUMP_MIN_WITH_GRAPHS = 3  # a guess from the eager/graph step costs, to be measured on a GPU


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: greedy at temperature 0, else sampled; the penalty applies to both."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class DecodeResult:
    tokens: tuple[int, ...]  # the answer, forced opening included
    prefix_tokens: int  # prompt tokens whose KV came from an earlier call's cache (0: none reused)
    forced: int = 0  # answer tokens prefilled with the prompt rather than decoded
    passes: int = 0  # forward passes after the prefill (jump-forward: fewer than the decoded tokens)


@dataclass
class _Prefix:
    ids: tuple[int, ...]
    cache: Any


class Decoder:
    """Runs one prompt to an answer on `model`; keeps the KV cache of the last system-prompt prefix."""

    def __init__(self, model: Any, image_token_id: int, prefix_cache: bool = True, static: str = "off",
                 end_token_id: int = 151645) -> None:
        """`static`: decode steps on a static KV cache, `graphs` (replayed as CUDA graphs), `compiled`
        (torch.compile, then graphs on a GPU), `eager`, or `off` (the model's own forward per token)."""
        self.model = model
        self.image_token_id = image_token_id
        self.prefix_cache = prefix_cache
        self.end_token_id = end_token_id  # <|im_end|>: the system turn's end
        self.static = _static(model, static)
        self.merge = int(getattr(model.config.vision_config, "spatial_merge_size", 2))
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"  # 5.x renamed it
        self._keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self._prefix: _Prefix | None = None
        # a draft pass runs eagerly: beside a CUDA graph step (one launch) it pays only for longer drafts
        self.jump_min = JUMP_MIN_WITH_GRAPHS if self.static is not None and self.static.graphs else 1

    def generate(self, tensors: dict[str, Any], max_new_tokens: int, processors: Any, eos_ids: Sequence[int],
                 sampling: Sampling = Sampling(), stop: Any = None, forced: Sequence[int] = (),
                 jump: Callable[[int], Sequence[int]] | None = None) -> DecodeResult:
        """Prefill `tensors` (input_ids, pixel_values, image_grid_thw, ...) and decode up to `max_new_tokens`.

        `forced`: the answer's first tokens, known in advance (the grammar's opening), prefilled with
        the prompt; they count towards `max_new_tokens`. `processors` is called as a transformers
        LogitsProcessorList on (all ids so far, scores).
        `jump` (greedy only; jump-forward decoding): given the token just chosen, a draft of the tokens
        that follow it (the grammar's forced bytes); the draft is fed with that token in one pass and
        each draft token is kept only while it is the token the model chooses at its place, so the
        answer equals token-by-token decoding and the model runs about once per free token.
        Raises `GenerationInterrupted` as soon as `stop` (a threading.Event) is seen set.
        """
        import torch

        input_ids = tensors["input_ids"]
        if len(forced) >= max_new_tokens:
            raise ValueError(f"{len(forced)} forced tokens leave nothing to decode in {max_new_tokens}")
        if forced:
            input_ids = torch.cat([input_ids, input_ids.new_tensor([list(forced)])], dim=1)
        positions, following = position_tensor(input_ids, tensors.get("image_grid_thw"), self.image_token_id,
                                               self.merge)
        _check(stop)
        cache, cached, hit = self._start(input_ids, positions)
        suffix = slice(cached, None)
        vision = {k: tensors[k] for k in ("pixel_values", "image_grid_thw") if k in tensors}
        logits = self._forward(input_ids[:, suffix], positions[:, :, suffix], cache, **vision)
        length = input_ids.shape[1]
        if self.static is not None:
            self.static.begin(cache, length, max_new_tokens)
            cache = None  # its KV now lives in the static buffers
        warpers = _warpers(sampling)
        ids, tokens = input_ids, list(forced)
        eos = set(eos_ids)
        steps = max_new_tokens - len(forced)
        rows: list[Any] = []  # logits after each fed draft token, not yet checked against the model's choice
        draft: list[int] = []  # draft tokens fed (their KV written) but not yet verified
        produced = passes = 0
        while True:
            scores = processors(ids, logits.float())
            token = _choose(ids, scores, warpers)
            tokens.append(token)
            produced += 1
            if draft and token == draft[0]:  # the model chose the fed draft token: its pass is done already
                ids = torch.cat([ids, ids.new_tensor([[token]])], dim=1)
                draft.pop(0)
                logits = rows.pop(0)
                if produced == steps:
                    break
                continue
            draft, rows = [], []  # the rest of the draft is dropped: its KV slots are rewritten from here
            if token in eos or produced == steps:
                break
            _check(stop)
            position, slot = following + produced - 1, length + produced - 1
            if jump is not None and not warpers[1]:
                draft = list(jump(token))[:max(0, steps - produced - 1)]
                draft = draft if len(draft) >= self.jump_min else []
            ids = torch.cat([ids, ids.new_tensor([[token]])], dim=1)
            passes += 1
            if draft:
                out = self._forward_many([token, *draft], position, slot, cache)
                logits, rows = out[:1], list(out[1:].split(1))
            elif self.static is not None:
                logits = self.static.step(token, position, slot)
            else:
                _cut(cache, slot)
                logits = self._forward(ids[:, -1:], positions.new_full((3, 1, 1), position), cache)
        return DecodeResult(tuple(tokens), cached if hit else 0, len(forced), passes)

    def _forward_many(self, fed: list[int], position: int, slot: int, cache: Any) -> Any:
        """Logits [len(fed), vocab] after each of `fed` (one pass), their KV from `slot` on; a cache
        left longer than `slot` by an earlier, partly rejected draft is cut back to it first (static
        buffers need no cut: slots past the current one are masked and rewritten)."""
        import torch

        if self.static is not None:
            return self.static.steps(fed, position, slot)
        _cut(cache, slot)
        ids = torch.tensor([fed], dtype=torch.long, device=self.model.device)
        steps = torch.arange(position, position + len(fed), device=self.model.device)
        output = self.model(input_ids=ids, position_ids=steps.view(1, 1, -1).expand(3, 1, -1), use_cache=True,
                            **{self._cache_arg: cache})
        return output.logits[0]

    def _start(self, input_ids: Any, positions: Any) -> tuple[Any, int, bool]:
        """A KV cache holding the prompt's system-prompt prefix (from the last call, or made now), its
        length, and whether it came from the last call."""
        length = prefix_length(input_ids[0].tolist(), self.image_token_id, self.end_token_id) \
            if self.prefix_cache else 0
        if length == 0:
            return self._fresh_cache(), 0, False
        ids = tuple(input_ids[0, :length].tolist())
        hit = self._prefix is not None and self._prefix.ids == ids
        if not hit:
            self._prefix = None  # free the old one before building the new one
            cache = self._fresh_cache()
            self._forward(input_ids[:, :length], positions[:, :, :length], cache, logits=False)
            self._prefix = _Prefix(ids, cache)
        assert self._prefix is not None
        return copy.deepcopy(self._prefix.cache), length, hit

    def _fresh_cache(self) -> Any:
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config.get_text_config())
        except TypeError:  # 4.x: no config argument
            return DynamicCache()

    def _forward(self, ids: Any, positions: Any, cache: Any, logits: bool = True, **vision: Any) -> Any:
        output = self.model(input_ids=ids, position_ids=positions, use_cache=True,
                            **{self._cache_arg: cache}, **self._keep, **vision)
        if not logits:
            return None
        return output.logits[:, -1, :]  # no sync here: choosing the token (int()) waits for it anyway


def _static(model: Any, mode: str) -> Any:
    """off, eager (the static step, no graph), graphs (replayed as CUDA graphs), compiled (torch.compile,
    then a CUDA graph where the model is on a GPU)."""
    if mode not in ("off", "eager", "graphs", "compiled"):
        raise ValueError(f"static decoding is off, eager, graphs or compiled, not {mode!r}")
    if mode == "off":
        return None
    from policies.qwen.engine.static_decode import StaticDecode, usable

    problem = usable(model)
    if problem is not None:
        raise ValueError(f"static decoding cannot run: {problem}")
    on_gpu = next(model.parameters()).device.type == "cuda"
    return StaticDecode(model, graphs=mode == "graphs" or (mode == "compiled" and on_gpu), compiled=mode == "compiled")


def prefix_length(ids: Sequence[int], image_token_id: int, end_token_id: int = 151645) -> int:
    """Tokens of the system message (through its `<|im_end|>`), if it comes before the first image; else 0."""
    try:
        end = list(ids).index(end_token_id) + 1
    except ValueError:
        return 0
    try:
        first_image = list(ids).index(image_token_id)
    except ValueError:
        first_image = len(ids)
    return end if end < first_image and end < len(ids) else 0


def _cut(cache: Any, length: int) -> None:
    """Drop a rejected draft's KV: cut `cache` back to `length` tokens (negative crop: 4.x and 5.x alike)."""
    excess = cache.get_seq_length() - length
    if excess > 0:
        cache.crop(-excess)


def _check(stop: Any) -> None:
    if stop is not None and stop.is_set():
        raise GenerationInterrupted("generation stopped by the user")


def _warpers(sampling: Sampling) -> Any:
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    chain: list[Any] = []
    if sampling.repetition_penalty != 1.0:
        chain.append(RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty))
    if sampling.temperature > 0:
        chain.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k > 0:
            chain.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            chain.append(TopPLogitsWarper(sampling.top_p))
    return (LogitsProcessorList(chain), sampling.temperature > 0)


def _choose(ids: Any, scores: Any, warpers: Any) -> int:
    import torch

    chain, sample = warpers
    scores = chain(ids, scores)
    if sample:
        return int(torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1)[0, 0])
    return int(scores.argmax(dim=-1)[0])

"""The in-process `ChatBackend`: Qwen2.5-VL through transformers (4.57+ or 5.x), no torchvision needed.

Loads `Qwen2_5_VLForConditionalGeneration` from a hub id or a local directory with the configured
dtype, device_map and attention (`auto` = flash_attention_2 when flash-attn imports and a GPU with
bf16/fp16 is used, else sdpa), plus the tokenizer and the image processor with the pixel budget
set explicitly; inputs are built by `transformers_inputs` (no AutoProcessor). Generation runs in
`decode` (the system prompt's KV cache reused across steps, interruptible by `ModelRequest.stop`;
on one GPU each decode step is a CUDA graph replay, `static_decode`, with `model.cuda_graphs`;
with SDPA the vision windows are attended in one call per layer, `vision_windows`; on a GPU the
screenshot is resized there too, `device_image`),
greedy at temperature 0, else the configured sampling; EOS ids come from the generation config and
the tokenizer. `ModelRequest.constrained` switches on the tool-call grammar (`constrained`).
Reported per call: timings_ms preprocess / prefill (vision encoder + prefill = time to first token)
/ decode / total, token counts, vision tokens.
Errors: no torch/transformers → `MissingModelExtra` (an ImportError naming the extra); a model that
cannot be found or read → `BackendError`, one line naming what was tried.
Not for: the prompt, parsing, or servers (openai_backend).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from policies.qwen.engine.decode import Decoder, Sampling
from policies.qwen.engine.device_image import resize_on_device
from policies.qwen.engine.inputs import PreparedInputs, load_image_processor, prepare_inputs
from policies.qwen.engine.steps import BlockTokens, StepClock, step_timings
from policies.qwen.engine.vision_windows import install as install_vision_windows
from policies.qwen.errors import BackendError
from policies.qwen.messages import ModelReply, ModelRequest
from policies.qwen.resize import ModelFrame, model_frame, resize_for_model

MODEL_EXTRA = "pip install 'deskpilot[model]'"
BAD_VERSIONS = ("5.4.", "5.5.0", "5.5.1", "5.5.2", "5.5.3")  # image RoPE bug, fixed in 5.5.4


class MissingModelExtra(BackendError, ImportError):
    """torch or transformers is missing or unusable; the message names the extra to install."""


def require_model_extra() -> Any:
    """Import transformers (and torch) or raise MissingModelExtra; refuse known-bad versions."""
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise MissingModelExtra(f"the transformers backend needs {exc.name or exc}: {MODEL_EXTRA}") from None
    version = transformers.__version__
    major, minor = (int(part) for part in version.split(".")[:2])
    if (major, minor) < (4, 57) or version.startswith(BAD_VERSIONS):
        raise MissingModelExtra(f"transformers {version} mishandles Qwen2.5-VL positions; {MODEL_EXTRA}")
    return transformers


def resolve_attention(requested: str, dtype: str) -> str:
    """`auto` → flash_attention_2 where it can run (flash-attn, CUDA, 16-bit), else sdpa."""
    if requested != "auto":
        return requested
    import torch

    usable = importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()
    return "flash_attention_2" if usable and dtype in ("bfloat16", "float16") else "sdpa"


def static_mode(settings: Any, device_type: str, model: Any = None) -> str:
    """`graphs` (static-KV decode steps replayed as CUDA graphs) where `model.cuda_graphs` is on and the
    model sits whole on one GPU (`compiled` with `model.compile_decode` too); else `off` (the model's
    own forward per token)."""
    if not getattr(settings, "cuda_graphs", True) or device_type != "cuda":
        return "off"
    if model is not None:
        from policies.qwen.engine.static_decode import usable

        if usable(model) is not None:
            return "off"
    return "compiled" if getattr(settings, "compile_decode", False) else "graphs"


def load_model(name: str, dtype: str, device_map: str | None, attention: str) -> Any:
    """`from_pretrained` with the dtype argument spelled for the installed major version."""
    transformers = require_model_extra()
    import torch

    dtype_value = dtype if dtype == "auto" else getattr(torch, dtype)
    dtype_arg = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs = {dtype_arg: dtype_value, "attn_implementation": attention}
    if device_map and device_map != "none":
        kwargs["device_map"] = device_map
    model = _loading(name, transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained, name, **kwargs)
    return model.eval()


def _loading(name: str, load: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return load(*args, **kwargs)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model {name!r}: {_tried(name)}: {_first_line(exc)}") from None


def _tried(name: str) -> str:
    local = Path(name).expanduser()
    if local.exists():
        return f"tried the local directory {local.resolve()}, which is not a loadable checkpoint"
    if name.startswith(("/", ".", "~")) or "\\" in name:
        return f"tried the local directory {local}, which does not exist"
    return "tried a local directory of that name (none) and the Hugging Face hub id (cache, then network)"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class TransformersBackend:
    name = "transformers"

    def __init__(self, settings: Any, parts: tuple[Any, Any, Any] | None = None) -> None:
        """Load what `settings` (a `ModelSettings`) names, or use `parts` = (model, tokenizer, image processor)."""
        self.settings = settings
        started = time.perf_counter()
        if parts is None:
            parts = self._load(settings)
        else:
            require_model_extra()
        self.model, self.tokenizer, self.image_processor = parts
        self.vision_layers_batched = install_vision_windows(self.model)  # SDPA: one attention call per vision layer
        self.load_ms = (time.perf_counter() - started) * 1000
        self.image_token_id = int(self.model.config.image_token_id)
        self.eos_ids = eos_token_ids(self.model, self.tokenizer)
        self.mm_token_types = _accepts(self.model, "mm_token_type_ids")
        self.exact_length = False  # benchmarks: never stop at EOS, decode exactly max_new_tokens (free decoding)
        self.decoder = Decoder(self.model, self.image_token_id, bool(getattr(settings, "prefix_cache", True)),
                               static_mode(settings, self.model.device.type, self.model))
        self._vocabulary: Any = None
        self._indexes: dict[tuple[int, int] | None, Any] = {}
        if getattr(settings, "decoding", "free") == "constrained":
            self.vocabulary()  # the slow, size-independent part of the grammar index, paid at load

    @staticmethod
    def _load(settings: Any) -> tuple[Any, Any, Any]:
        transformers = require_model_extra()
        name = settings.name
        tokenizer = _loading(name, transformers.AutoTokenizer.from_pretrained, name)
        images = _loading(name, load_image_processor, name, settings.min_pixels, settings.max_pixels)
        attention = resolve_attention(settings.attn_implementation, settings.dtype)
        return load_model(name, settings.dtype, settings.device_map, attention), tokenizer, images

    @property
    def device(self) -> Any:
        return self.model.device

    def resize_for_model(self, image: Any, min_pixels: int, max_pixels: int) -> tuple[Any, ModelFrame]:
        """The policy's resize to W′×H′: on the model's GPU (`model.resize_on_device`), else with Pillow."""
        if self.device.type != "cuda" or not getattr(self.settings, "resize_on_device", True):
            return resize_for_model(image, min_pixels, max_pixels)
        frame = model_frame(image.width, image.height, min_pixels, max_pixels)
        return resize_on_device(image, frame.model, self.device), frame

    def prepare(self, request: ModelRequest) -> PreparedInputs:
        """The exact inputs `complete` feeds the model (text with pads expanded; pixels made on its device)."""
        return prepare_inputs(
            self.tokenizer, self.image_processor, request.messages, self.image_token_id, self.mm_token_types,
            self.device,
        )

    def constraint_index(self, image_size: tuple[int, int] | None) -> Any:
        """The tool-call TokenIndex for points inside a W′×H′ image (cached per size; ~1 s each,
        plus a few seconds once for the vocabulary trie)."""
        if image_size not in self._indexes:
            from policies.qwen.constrained.grammar import tool_call_dfa
            from policies.qwen.constrained.processor import TokenIndex

            dfa = tool_call_dfa(*(image_size or (None, None)))
            if len(self._indexes) >= 4:  # screens rarely change size; keep the newest few
                self._indexes.pop(next(iter(self._indexes)))
            self._indexes[image_size] = TokenIndex(dfa, self.vocabulary(), self.eos_ids)
        return self._indexes[image_size]

    def vocabulary(self) -> Any:
        """The tokenizer's vocabulary as a byte trie (built once, a second or two)."""
        if self._vocabulary is None:
            from policies.qwen.constrained.processor import Vocabulary

            self._vocabulary = Vocabulary.of(self.tokenizer)
        return self._vocabulary

    def complete(self, request: ModelRequest) -> ModelReply:
        import torch

        started = time.perf_counter()
        prepared = self.prepare(request)
        inputs = {k: v.to(self.device) for k, v in prepared.tensors.items()}
        prompt_length = prepared.prompt_tokens
        size = prepared.image_sizes[-1] if prepared.image_sizes else None
        processors, clock = self._processors(request, prompt_length, size)
        forced = self.forced_opening(request, size)
        generate_start = time.perf_counter()
        with torch.inference_mode():
            result = self.decoder.generate(inputs, request.max_new_tokens, processors, self.eos_ids,
                                           self.sampling(), request.stop, forced)
        ended = time.perf_counter()
        new_tokens = list(result.tokens)
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        timings = step_timings(started, generate_start, clock.stamps, ended, len(new_tokens) - result.forced)
        grammar = next((p for p in processors if hasattr(p, "seconds")), None)
        if grammar is not None:
            timings["grammar"] = round(grammar.seconds * 1000, 3)
        return ModelReply(
            text=text, prompt_tokens=prompt_length, completion_tokens=len(new_tokens),
            vision_tokens=prepared.vision_tokens, timings_ms=timings,
            extra={
                "finish_reason": "stop" if new_tokens and new_tokens[-1] in self.eos_ids else "length",
                "constrained": request.constrained, "device": str(self.device),
                "cached_prefix_tokens": result.prefix_tokens, "forced_tokens": result.forced,
            },
        )

    def forced_opening(self, request: ModelRequest, image_size: tuple[int, int] | None) -> tuple[int, ...]:
        """With the grammar on: the tokens every tool call starts with (prefilled, not decoded); else ()."""
        if not request.constrained:
            return ()
        index = self.constraint_index(image_size)
        return index.opening(lambda text: self.tokenizer.encode(text, add_special_tokens=False),
                             request.max_new_tokens)

    def _processors(
        self, request: ModelRequest, prompt_length: int, image_size: tuple[int, int] | None
    ) -> tuple[Any, StepClock]:
        import torch
        from transformers import LogitsProcessorList

        sync = torch.cuda.synchronize if self.device.type == "cuda" else None
        clock = StepClock(sync)
        processors: list[Any] = []
        if request.constrained:
            from policies.qwen.constrained.processor import ToolCallConstraint

            index = self.constraint_index(image_size)
            try:
                constraint = ToolCallConstraint(index, prompt_length, request.max_new_tokens)
            except ValueError as exc:
                raise BackendError(f"constrained decoding: {exc}") from None
            processors.append(constraint)
        elif self.exact_length:
            processors.append(BlockTokens(self.eos_ids))
        return LogitsProcessorList([*processors, clock]), clock

    def sampling(self) -> Sampling:
        """Greedy at temperature 0, else the configured sampling; the repetition penalty applies to both."""
        s = self.settings
        temperature = float(getattr(s, "temperature", 0.0) or 0.0)
        penalty = float(getattr(s, "repetition_penalty", 1.0) or 1.0)
        if temperature <= 0:
            return Sampling(repetition_penalty=penalty)
        return Sampling(temperature, float(getattr(s, "top_p", 1.0)), int(getattr(s, "top_k", 0) or 0), penalty)

    def close(self) -> None:
        self.model = None
        self.decoder = None
        self._vocabulary = None
        self._indexes.clear()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


def eos_token_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    """EOS ids from the generation config, the tokenizer and `<|im_end|>`, in that order, unique."""
    found: list[int] = []
    configured = getattr(model.generation_config, "eos_token_id", None)
    candidates = configured if isinstance(configured, (list, tuple)) else [configured]
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for token in [*candidates, tokenizer.eos_token_id, im_end]:
        if isinstance(token, int) and token >= 0 and token not in found:
            found.append(token)
    if not found:
        raise BackendError("the model names no end-of-sequence token (generation_config.eos_token_id)")
    return tuple(found)


def _accepts(model: Any, argument: str) -> bool:
    import inspect

    return argument in inspect.signature(model.forward).parameters

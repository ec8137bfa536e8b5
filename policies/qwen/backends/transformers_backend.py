"""The in-process `ChatBackend`: Qwen-VL models through transformers (4.57+ or 5.x), no torchvision needed.

Loads the class the checkpoint's config.json names (`architectures.MODEL_CLASSES`: Qwen2.5-VL,
Qwen3-VL, Qwen3-VL-MoE) from a hub id or a local directory with the configured
dtype, device_map and attention (`auto` = flash_attention_2 when flash-attn imports and a GPU with
bf16/fp16 is used, else sdpa), plus the tokenizer and the image processor with the pixel budget
set explicitly; inputs are built by `transformers_inputs` (no AutoProcessor). Generation runs in
`decode` (the system prompt's KV cache reused across steps, interruptible by `ModelRequest.stop`;
on one GPU each decode step is a CUDA graph replay, `static_decode`, with `model.cuda_graphs`;
with SDPA the vision windows are attended in one call per layer, `vision_windows`; on a GPU the
screenshot is resized there too, `device_image`),
greedy at temperature 0, else the configured sampling; EOS ids come from the generation config and
the tokenizer. `ModelRequest.constrained` switches on the tool-call grammar (`constrained`).
Engine optimisations run only on model types they are proven equal on (`architectures.VERIFIED`);
elsewhere the backend uses transformers' own path and says so once (`engine_notes`, first reply).
Options come typed (`TransformersOptions`, built from `ModelSettings`, whose defaults are config.yaml's).
Reported per call: timings_ms preprocess / prefill (vision encoder + prefill = time to first token)
/ decode / total, token counts, vision tokens.
Errors: no torch/transformers → `MissingModelExtra` (an ImportError naming the extra); a model that
cannot be found or read → `BackendError`, one line naming what was tried.
Not for: the prompt, parsing, or servers (openai_backend).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from policies.qwen.backends.architectures import VERIFIED, model_class_name, unverified
from policies.qwen.engine.compile_cache import use_compile_cache
from policies.qwen.engine.decode import Decoder, Sampling
from policies.qwen.engine.device_image import resize_on_device
from policies.qwen.engine.inputs import PreparedInputs, load_image_processor, prepare_inputs
from policies.qwen.engine.steps import BlockTokens, StepClock, step_timings
from policies.qwen.engine.vision_windows import install as install_vision_windows
from policies.qwen.errors import BackendError
from policies.qwen.messages import ModelReply, ModelRequest
from policies.qwen.resize import FACTOR, ModelFrame, model_frame, resize_for_model

MODEL_EXTRA = "pip install 'deskpilot[model]'"
WARM_UP_TOKENS = 4096  # = static_decode.COMPILED_BUCKET: a one-screenshot step's buffers (graphs and compiled)
BAD_VERSIONS = ("5.4.", "5.5.0", "5.5.1", "5.5.2", "5.5.3")  # image RoPE bug, fixed in 5.5.4


@dataclass(frozen=True)
class TransformersOptions:
    """What the transformers backend needs, typed; no defaults here: `ModelSettings` (= config.yaml) has them."""

    name: str
    min_pixels: int
    max_pixels: int
    dtype: str
    device_map: str
    attn_implementation: str
    decoding: str
    jump_forward: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    prefix_cache: bool
    cuda_graphs: bool
    compile_decode: bool
    compile_cache_dir: str
    resize_on_device: bool
    vision_attention: str
    local_only: bool = False  # the hub is known to be out of reach: read the cache only

    @classmethod
    def of(cls, settings: Any, **changes: Any) -> TransformersOptions:
        """From a `ModelSettings` (or these options): its fields by name."""
        if isinstance(settings, TransformersOptions):
            return settings if not changes else TransformersOptions(**{**settings.__dict__, **changes})
        values = {f.name: getattr(settings, f.name) for f in fields(cls) if f.name != "local_only"}
        return cls(**{**values, **changes})


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
    """`graphs` (static-KV decode steps replayed as CUDA graphs) where `model.cuda_graphs` is on, the
    model type is verified for it and the model sits whole on one GPU (`compiled` with
    `model.compile_decode` too); else `off` (the model's own forward per token)."""
    options = TransformersOptions.of(settings)
    if not options.cuda_graphs or device_type != "cuda":
        return "off"
    if model is not None:
        from policies.qwen.engine.static_decode import usable

        if "static_decode" not in VERIFIED.get(_model_type(model), frozenset()) or usable(model) is not None:
            return "off"
    return "compiled" if options.compile_decode else "graphs"


def load_model(name: str, dtype: str, device_map: str | None, attention: str, local_only: bool = False) -> Any:
    """`from_pretrained` of the class config.json names, the dtype argument spelled for the installed version."""
    transformers = require_model_extra()
    import torch

    config = _loading(name, transformers.AutoConfig.from_pretrained, name, local_files_only=local_only)
    cls = getattr(transformers, model_class_name(config), None)
    if cls is None:
        raise BackendError(f"transformers {transformers.__version__} has no {model_class_name(config)}; "
                           f"{MODEL_EXTRA} (a newer transformers)")
    dtype_value = dtype if dtype == "auto" else getattr(torch, dtype)
    dtype_arg = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs = {dtype_arg: dtype_value, "attn_implementation": attention, "local_files_only": local_only}
    if device_map and device_map != "none":
        kwargs["device_map"] = device_map
    model = _loading(name, cls.from_pretrained, name, **kwargs)
    return model.eval()


def _model_type(model: Any) -> str:
    return str(getattr(model.config, "model_type", ""))


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
        """Load what `settings` (`TransformersOptions`, or a `ModelSettings`) names, or use `parts` =
        (model, tokenizer, image processor)."""
        self.settings = settings
        started = time.perf_counter()
        if parts is None:
            parts = self._load(self.options)
        else:
            require_model_extra()
        self.model, self.tokenizer, self.image_processor = parts
        self.model_type = _model_type(self.model)
        verified = VERIFIED.get(self.model_type, frozenset())
        # SDPA: one attention call per vision layer, where proven equal to the model's own loop
        self.vision_layers_batched = install_vision_windows(self.model, self.options.vision_attention) \
            if "vision_windows" in verified else 0
        self.load_ms = (time.perf_counter() - started) * 1000
        self.image_token_id = int(self.model.config.image_token_id)
        self.eos_ids = eos_token_ids(self.model, self.tokenizer)
        self.mm_token_types = _accepts(self.model, "mm_token_type_ids")
        self.exact_length = False  # benchmarks: never stop at EOS, decode exactly max_new_tokens (free decoding)
        static = static_mode(self.options, self.model.device.type, self.model)
        if static == "compiled":  # kernels compiled by an earlier process are read back, not rebuilt
            use_compile_cache(self.options.compile_cache_dir)
        self.decoder = Decoder(self.model, self.image_token_id,
                               self.options.prefix_cache and "prefix_cache" in verified, static,
                               end_token_id=_token_id(self.tokenizer, "<|im_end|>"))
        self.engine_notes = unverified(self.model_type, self.options)  # said once, with the first reply
        self._vocabulary: Any = None
        self._indexes: dict[Any, Any] = {}
        if self.options.decoding == "constrained":
            self.vocabulary()  # the slow, size-independent part of the grammar index, paid at load

    @property
    def settings(self) -> Any:
        return self._settings

    @settings.setter
    def settings(self, settings: Any) -> None:
        self._settings = settings
        self.options = TransformersOptions.of(settings)

    @staticmethod
    def _load(options: TransformersOptions) -> tuple[Any, Any, Any]:
        transformers = require_model_extra()
        name, local = options.name, options.local_only
        tokenizer = _loading(name, transformers.AutoTokenizer.from_pretrained, name, local_files_only=local)
        images = _loading(name, load_image_processor, name, options.min_pixels, options.max_pixels, local)
        attention = resolve_attention(options.attn_implementation, options.dtype)
        return load_model(name, options.dtype, options.device_map, attention, local), tokenizer, images

    @property
    def device(self) -> Any:
        return self.model.device

    def resize_for_model(self, image: Any, min_pixels: int, max_pixels: int, factor: int = FACTOR,
                         grid: int | None = None) -> tuple[Any, ModelFrame]:
        """The policy's resize to W′×H′: on the model's GPU (`model.resize_on_device`), else with Pillow."""
        on_gpu = "device_resize" in VERIFIED.get(self.model_type, frozenset())
        if self.device.type != "cuda" or not self.options.resize_on_device or not on_gpu:
            return resize_for_model(image, min_pixels, max_pixels, factor, grid)
        frame = model_frame(image.width, image.height, min_pixels, max_pixels, factor, grid)
        return resize_on_device(image, frame.model, self.device), frame

    def prepare(self, request: ModelRequest) -> PreparedInputs:
        """The exact inputs `complete` feeds the model (text with pads expanded; pixels made on its device)."""
        return prepare_inputs(
            self.tokenizer, self.image_processor, request.messages, self.image_token_id, self.mm_token_types,
            self.device, request.default_system, request.assistant_prefix,
        )

    def constraint_index(self, grammar: Any) -> Any:
        """The TokenIndex of `grammar` — a Dfa, or a W′×H′ size (or None) for the full computer_use tool
        call — cached for the newest few (~1 s each, plus a few seconds once for the vocabulary trie)."""
        from policies.qwen.constrained.bytes_dfa import Dfa

        if not isinstance(grammar, Dfa):
            from policies.qwen.constrained.grammar import tool_call_dfa

            grammar = tool_call_dfa(*(grammar or (None, None)))
        key = id(grammar)
        if key not in self._indexes:
            from policies.qwen.constrained.processor import TokenIndex

            if len(self._indexes) >= 4:  # screens rarely change size; keep the newest few
                self._indexes.pop(next(iter(self._indexes)))
            self._indexes[key] = (grammar, TokenIndex(grammar, self.vocabulary(), self.eos_ids))
        return self._indexes[key][1]

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
        grammar = request.grammar if request.grammar is not None else size
        processors, clock = self._processors(request, prompt_length, grammar)
        forced = self.forced_opening(request, grammar)
        generate_start = time.perf_counter()
        with torch.inference_mode():
            result = self.decoder.generate(inputs, request.max_new_tokens, processors, self.eos_ids,
                                           self.sampling(), request.stop, forced, self._jump(request, processors))
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
                "decode_passes": result.passes,
                **self._notes_once(),
            },
        )

    def _notes_once(self) -> dict[str, Any]:
        notes, self.engine_notes = self.engine_notes, ()
        return {"engine_notes": list(notes)} if notes else {}

    def warm_up(self, buffer_tokens: int = WARM_UP_TOKENS) -> float:
        """Compile (`model.compile_decode`) and capture (CUDA graphs) the decode step now, for buffers of
        `buffer_tokens`, so the first task's first step does not pay it; seconds spent (0.0: the decode
        steps are the model's own forward, nothing to warm). The daemon calls it before taking tasks.
        Buffers only grow, so every later prompt up to that size reuses this graph and compiled step."""
        import torch
        from transformers import LogitsProcessorList

        if self.decoder is None or self.decoder.static is None:
            return 0.0
        started = time.perf_counter()
        new_tokens = 4
        ids = torch.zeros((1, buffer_tokens - new_tokens - 1), dtype=torch.long, device=self.device)
        with torch.inference_mode():  # text only, no system turn: the prefix cache is left alone
            self.decoder.generate({"input_ids": ids}, new_tokens, LogitsProcessorList(), ())
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def forced_opening(self, request: ModelRequest, grammar: Any) -> tuple[int, ...]:
        """With the grammar on: the tokens every answer starts with (prefilled, not decoded); else ()."""
        if not request.constrained:
            return ()
        index = self.constraint_index(grammar)
        return index.opening(lambda text: self.tokenizer.encode(text, add_special_tokens=False),
                             request.max_new_tokens)

    def _jump(self, request: ModelRequest, processors: Any) -> Any:
        """Jump-forward drafts (the grammar's forced tokens) where `model.jump_forward` and the grammar are on."""
        if not (request.constrained and self.options.jump_forward):
            return None
        return next((p.draft for p in processors if hasattr(p, "draft")), None)

    def _processors(self, request: ModelRequest, prompt_length: int, grammar: Any) -> tuple[Any, StepClock]:
        import torch
        from transformers import LogitsProcessorList

        sync = torch.cuda.synchronize if self.device.type == "cuda" else None
        clock = StepClock(sync)
        processors: list[Any] = []
        if request.constrained:
            from policies.qwen.constrained.processor import ToolCallConstraint

            index = self.constraint_index(grammar)
            try:
                constraint = ToolCallConstraint(index, prompt_length, request.max_new_tokens, self._encode)
            except ValueError as exc:
                raise BackendError(f"constrained decoding: {exc}") from None
            processors.append(constraint)
        elif self.exact_length:
            processors.append(BlockTokens(self.eos_ids))
        return LogitsProcessorList([*processors, clock]), clock

    def sampling(self) -> Sampling:
        """Greedy at temperature 0, else the configured sampling; the repetition penalty applies to both."""
        o = self.options
        if o.temperature <= 0:
            return Sampling(repetition_penalty=o.repetition_penalty)
        return Sampling(o.temperature, o.top_p, o.top_k, o.repetition_penalty)

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


def _token_id(tokenizer: Any, token: str) -> int:
    found = tokenizer.convert_tokens_to_ids(token)
    return found if isinstance(found, int) and found >= 0 else 151645


def _accepts(model: Any, argument: str) -> bool:
    import inspect

    return argument in inspect.signature(model.forward).parameters

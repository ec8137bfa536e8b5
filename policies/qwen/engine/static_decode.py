"""One decode step of Qwen2.5-VL's text model on a static KV cache, replayed as a CUDA graph on a GPU.

Why: after the prefill, each new token of the 7B model is one memory-bound pass over ~15 GB of
weights (about 3 ms on an H200), but transformers' eager forward launches hundreds of small
kernels per token from Python, which costs several times that. Here the step — the model's own
modules (embedding, norms, q/k/v/o projections, MLP, lm_head) called with fixed shapes, the new
K/V written into preallocated buffers at a slot held in a device tensor — is captured once per
buffer size in a `torch.cuda.CUDAGraph` and replayed per token: one launch. Optionally the step
goes through `torch.compile` first (`model.compile_decode`), which fuses its elementwise work
(norms, rope, softmax) into fewer kernels. Elsewhere (CPU tests) the same step runs eagerly.
Positions: after the prompt, Qwen2.5-VL's three rope axes are equal (text tokens), so plain 1-D
rope at the decoder's position (not the cache slot: image tokens compress positions) is exact.
Qwen3-VL's attention normalises q and k per head before rope (`q_norm`, `k_norm`), which the step
applies where the layer has them; its interleaved M-RoPE is plain rope once the three axes are equal.
Ours is only the attention core (grouped-query attention over the buffer, slots after the current
one masked, softmax in float32 as the eager attention does); tests/policies/qwen/engine/test_static_decode.py checks the
logits and greedy tokens against the model's own forward.
Not for: the prefill (the model's forward, in decode.py) or choosing tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BUCKET = 256  # buffer lengths are multiples of this, so steps of similar length share one graph
COMPILED_BUCKET = 4096  # with torch.compile: each new length compiles again, so fewer, larger sizes


@dataclass
class _Buffers:
    length: int
    keys: list[Any]
    values: list[Any]
    token: Any  # [1, 1] long: the token fed in
    position: Any  # [1] long: its rope position
    slot: Any  # [1] long: where its K/V go in the buffers
    slots: Any  # [1, 1, 1, length] long: 0..length-1, for the mask
    logits: Any = None
    graph: Any = None


def usable(model: Any) -> str | None:
    """Why the static step cannot run on `model` (None: it can): all weights on one device, the usual layout."""
    devices = {p.device for p in model.parameters()}
    if len(devices) != 1:
        return "the model is split over several devices"
    try:
        _text_model(model)
    except AttributeError as exc:
        return f"unexpected model layout ({exc})"
    return None


def _text_model(model: Any) -> Any:
    text = model.model.language_model
    text.layers[0].self_attn.q_proj  # noqa: B018 - the attribute check itself
    return text


class StaticDecode:
    """Decode steps for `model` after a prefill: `begin` with the prefill's cache, then `step` per token."""

    def __init__(self, model: Any, graphs: bool, compiled: bool = False) -> None:
        """`graphs`: capture the step as a CUDA graph; `compiled`: run it through `torch.compile` first
        (fused kernels; a one-time compile of about a minute per buffer size, so buffers grow by
        `COMPILED_BUCKET`)."""
        text = _text_model(model)
        self.model = model
        self.layers = list(text.layers)
        self.embed, self.norm, self.head = text.embed_tokens, text.norm, model.lm_head
        config = model.config.get_text_config()
        attention = self.layers[0].self_attn
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(getattr(attention, "head_dim", config.hidden_size // self.heads))
        self.scaling = float(getattr(attention, "scaling", self.head_dim ** -0.5))
        rotary = text.rotary_emb
        self.inv_freq = rotary.inv_freq.float()
        self.rope_scale = float(getattr(rotary, "attention_scaling", 1.0))
        self.graphs = graphs
        self.bucket = COMPILED_BUCKET if compiled else BUCKET
        self._step = self._forward
        if compiled:
            import torch

            self._step = torch.compile(self._forward, fullgraph=True, dynamic=False)
        self.captures = 0  # graphs captured so far (one per buffer size)
        self._buffers: _Buffers | None = None

    def begin(self, cache: Any, prompt_length: int, max_new_tokens: int) -> None:
        """Copy the prefill's KV (a transformers cache holding `prompt_length` tokens) into the buffers."""
        needed = prompt_length + max_new_tokens + 1  # + a scratch slot for warm-up and capture
        if self._buffers is None or self._buffers.length < needed:
            self._buffers = None  # free the old buffers and graph first
            self._buffers = self._allocate(-(-needed // self.bucket) * self.bucket)
        buffers = self._buffers
        for index in range(len(self.layers)):
            keys, values = _layer_kv(cache, index)
            if keys.shape[2] != prompt_length:
                raise ValueError(f"the cache holds {keys.shape[2]} tokens, expected {prompt_length}")
            buffers.keys[index][:, :, :prompt_length].copy_(keys)
            buffers.values[index][:, :, :prompt_length].copy_(values)

    def step(self, token: int, position: int, slot: int) -> Any:
        """Logits [1, vocab] for `token` at rope `position`, its K/V stored at cache `slot`."""
        buffers = self._buffers
        if buffers is None or slot >= buffers.length - 1:
            raise ValueError(f"slot {slot} is outside the buffers: call begin with enough room")
        buffers.token.fill_(token)
        buffers.position.fill_(position)
        buffers.slot.fill_(slot)
        if buffers.graph is None:
            return self._step(buffers)
        buffers.graph.replay()
        return buffers.logits

    def steps(self, tokens: list[int], position: int, slot: int) -> Any:
        """Logits [len(tokens), vocab] after each of `tokens` (rope positions and cache slots from
        `position`, `slot` on), in one eager pass (jump-forward drafts; never a graph)."""
        import torch

        buffers = self._buffers
        if buffers is None or slot + len(tokens) >= buffers.length:
            raise ValueError(f"slots {slot}+{len(tokens)} are outside the buffers: call begin with enough room")
        device = buffers.token.device
        fed = torch.tensor([tokens], dtype=torch.long, device=device)
        offsets = torch.arange(len(tokens), device=device)
        return self._forward_many(buffers, fed, position + offsets, slot + offsets)

    def _forward_many(self, b: _Buffers, fed: Any, positions: Any, slots: Any) -> Any:
        """`_forward` for several tokens at once, each seeing the slots up to its own (causal)."""
        import torch

        count = fed.shape[1]
        hidden = self.embed(fed)  # [1, T, hidden]
        angles = positions.float().view(-1, 1) * self.inv_freq.view(1, -1)
        angles = torch.cat((angles, angles), dim=-1).view(1, 1, count, -1)
        cos = (angles.cos() * self.rope_scale).to(hidden.dtype)
        sin = (angles.sin() * self.rope_scale).to(hidden.dtype)
        visible = b.slots.view(1, 1, 1, -1) <= slots.view(1, 1, count, 1)  # [1, 1, T, length]
        groups = self.heads // self.kv_heads
        for index, layer in enumerate(self.layers):
            attention = layer.self_attn
            x = layer.input_layernorm(hidden)
            q = _normed(attention, "q_norm", attention.q_proj(x).view(1, count, self.heads, self.head_dim))
            k = _normed(attention, "k_norm", attention.k_proj(x).view(1, count, self.kv_heads, self.head_dim))
            q, k = _rotate(q.transpose(1, 2), cos, sin), _rotate(k.transpose(1, 2), cos, sin)
            v = attention.v_proj(x).view(1, count, self.kv_heads, self.head_dim).transpose(1, 2)
            b.keys[index].index_copy_(2, slots, k)
            b.values[index].index_copy_(2, slots, v)
            q = q.reshape(1, self.kv_heads, groups, count, self.head_dim)
            scores = torch.matmul(q, b.keys[index].unsqueeze(2).transpose(3, 4)) * self.scaling
            scores = scores.masked_fill(~visible.unsqueeze(2), float("-inf"))  # [1, kv, groups, T, length]
            weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(weights, b.values[index].unsqueeze(2))  # [1, kv, groups, T, head_dim]
            out = out.reshape(1, self.heads, count, self.head_dim).transpose(1, 2).reshape(1, count, -1)
            hidden = hidden + attention.o_proj(out)
            mlp = layer.mlp(layer.post_attention_layernorm(hidden))
            hidden = hidden + (mlp[0] if isinstance(mlp, tuple) else mlp)
        return self.head(self.norm(hidden))[0]

    def _allocate(self, length: int) -> _Buffers:
        import torch

        weight = self.head.weight
        shape = (1, self.kv_heads, length, self.head_dim)
        # zeros, not empty: a masked slot still meets the softmax's zero weight, and 0 * NaN is NaN
        buffers = _Buffers(
            length=length,
            keys=[torch.zeros(shape, dtype=weight.dtype, device=weight.device) for _ in self.layers],
            values=[torch.zeros(shape, dtype=weight.dtype, device=weight.device) for _ in self.layers],
            token=torch.zeros((1, 1), dtype=torch.long, device=weight.device),
            position=torch.zeros(1, dtype=torch.long, device=weight.device),
            slot=torch.full((1,), length - 1, dtype=torch.long, device=weight.device),
            slots=torch.arange(length, device=weight.device).view(1, 1, 1, length),
        )
        if self.graphs:
            self._capture(buffers)
        return buffers

    def _capture(self, buffers: _Buffers) -> None:
        """Warm up on a side stream, then record one step into a CUDA graph (writes go to the scratch slot)."""
        import torch

        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._step(buffers)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            buffers.logits = self._step(buffers)
        buffers.graph = graph
        self.captures += 1

    def _forward(self, b: _Buffers) -> Any:
        import torch

        hidden = self.embed(b.token)  # [1, 1, hidden]
        angles = b.position.float().view(1, 1) * self.inv_freq.view(1, -1)
        angles = torch.cat((angles, angles), dim=-1).view(1, 1, 1, -1)
        cos = (angles.cos() * self.rope_scale).to(hidden.dtype)
        sin = (angles.sin() * self.rope_scale).to(hidden.dtype)
        visible = b.slots <= b.slot  # [1, 1, 1, length]
        groups = self.heads // self.kv_heads
        for index, layer in enumerate(self.layers):
            attention = layer.self_attn
            x = layer.input_layernorm(hidden)
            q = _normed(attention, "q_norm", attention.q_proj(x).view(1, 1, self.heads, self.head_dim))
            k = _normed(attention, "k_norm", attention.k_proj(x).view(1, 1, self.kv_heads, self.head_dim))
            q, k = _rotate(q.transpose(1, 2), cos, sin), _rotate(k.transpose(1, 2), cos, sin)
            v = attention.v_proj(x).view(1, 1, self.kv_heads, self.head_dim).transpose(1, 2)
            b.keys[index].index_copy_(2, b.slot, k)
            b.values[index].index_copy_(2, b.slot, v)
            # query heads h*groups .. h*groups+groups-1 share kv head h (transformers' repeat_kv order)
            q = q.reshape(1, self.kv_heads, groups, self.head_dim)
            scores = torch.matmul(q, b.keys[index].transpose(2, 3)) * self.scaling  # [1, kv, groups, length]
            scores = scores.masked_fill(~visible, float("-inf"))
            weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(weights, b.values[index]).reshape(1, 1, self.heads * self.head_dim)
            hidden = hidden + attention.o_proj(out)
            mlp = layer.mlp(layer.post_attention_layernorm(hidden))
            hidden = hidden + (mlp[0] if isinstance(mlp, tuple) else mlp)  # MoE blocks may add router logits
        return self.head(self.norm(hidden))[:, -1, :]


def _normed(attention: Any, name: str, x: Any) -> Any:
    """Qwen3's per-head RMS norm of q or k (before rope), where the layer has one; Qwen2.5's has none."""
    norm = getattr(attention, name, None)
    return x if norm is None else norm(x)


def _rotate(x: Any, cos: Any, sin: Any) -> Any:
    import torch

    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def _layer_kv(cache: Any, index: int) -> tuple[Any, Any]:
    """(keys, values) [1, kv_heads, tokens, head_dim] of one layer of a transformers DynamicCache."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return layers[index].keys, layers[index].values
    return cache.key_cache[index], cache.value_cache[index]  # before the per-layer cache objects

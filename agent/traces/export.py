"""`deskpilot export TRACE... --format qwen-sft --out data.jsonl`: traces as Qwen2.5-VL fine-tuning data.

One JSON line per exported step, in the `messages` + `images` layout that both LLaMA-Factory
(`formatting: sharegpt` with role/content tags; a matching `dataset_info.json` is written next to
the data) and ms-swift read:

    {"messages": [{"role": "system", "content": "You are a helpful assistant.\\n\\n# Tools ..."},
                  {"role": "user", "content": "<image>The user query: ...\\nTask progress ..."},
                  {"role": "assistant", "content": "<tool_call>\\n{\\"name\\": \\"computer_use\\", ...}..."}],
     "images": ["images/<trace>-step-0003.png"]}

The messages are built by the model policy's own `policies.qwen.prompt.build_messages` with the
model settings of the config (the same system prompt, history text and image budget as at run
time). Each image is the step's screenshot resized to W′×H′ (`resize_for_model`) and saved under
`images/` next to the output, referenced by a path relative to the output's directory; the answer's
coordinates are mapped into that W′×H′ space (`coords.to_model`). By default only steps of runs
that ended in success, and of those only executed steps and the final one; `--all`: every step
with an action. Traces without a task text are skipped (a model cannot learn what was asked), and
so are steps whose screenshot is missing or unreadable (a crash can cut the last ones short), each
with a line in `skipped`. Every trace is read and checked before anything is written, and the JSONL
file is written atomically (`agent.cli.output`), so a failed export leaves no partial data.
Training must resize images with the same budget, or the coordinates no longer match the pixels:
`training_note` says how (LLaMA-Factory's default `image_max_pixels` is 768*768, smaller than ours).
Not for: training, or checking that a trace is worth learning from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actions.files import MiB, read_input
from actions.schema import ActionError, action_to_json, parse_action, with_points
from agent.cli.output import OutputError, check_file, make_dir, write_atomically, writing
from agent.config import Settings
from agent.traces.lines import StepLine
from agent.traces.store import Trace, UnreadableScreenshot, load_screenshot, read_trace
from policies.base import StepRecord
from policies.qwen.coords import to_model
from policies.qwen.messages import ImagePart, Message
from policies.qwen.prompt import build_messages, tool_call_text
from policies.qwen.resize import ModelFrame, resize_for_model

IMAGE_TOKEN = "<image>"
EXPORTED = ("executed", "final")
MAX_DATASET_INFO_BYTES = 16 * MiB  # LLaMA-Factory's dataset list: a few hundred bytes a dataset


@dataclass
class ExportResult:
    out: Path
    records: int = 0
    images: int = 0
    skipped: list[str] = field(default_factory=list)
    min_pixels: int = 0  # the image budget the images were resized with (model.min_pixels/max_pixels)
    max_pixels: int = 0


def export_qwen_sft(paths: Sequence[str | Path], out: str | Path, settings: Settings,
                    include_all: bool = False) -> ExportResult:
    """Write the JSONL file `out` (and its images) from the traces at `paths`.

    Every trace is read and checked before anything is written; the JSONL file appears whole or
    not at all (a failure leaves no partial file, and an older `out` untouched).
    """
    from agent.run.policy_factory import qwen_options

    out, options = Path(out), qwen_options(settings)
    traces = [read_trace(path) for path in paths]  # a bad trace: TraceError before any output
    check_file(out)
    info_path = out.parent / "dataset_info.json"
    info = _dataset_info(info_path)  # one that is not ours to extend: refused before anything is written
    result = ExportResult(out, min_pixels=options.min_pixels, max_pixels=options.max_pixels)
    make_dir(out.parent / "images")
    write_atomically(out, _lines(traces, out.parent, options, include_all, result))
    info[out.stem] = {
        "file_name": out.name, "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"},
    }
    write_atomically(info_path, [json.dumps(info, indent=2) + "\n"])
    return result


def training_note(result: ExportResult) -> str:
    """One line: the image budget training must use, and where relative image paths resolve from."""
    n, m, where = result.max_pixels, result.min_pixels, result.out.parent
    return (f"note: images were resized with max_pixels={n} (min_pixels={m}) and the answers' coordinates are in "
            f"that space: train with the same budget (LLaMA-Factory: image_max_pixels: {n}, image_min_pixels: {m}, "
            f"dataset_dir: {where}; ms-swift: MAX_PIXELS={n} MIN_PIXELS={m}, run from {where}: image paths are "
            "relative to it)")


def _lines(traces: Sequence[Trace], base: Path, options: Any, include_all: bool,
           result: ExportResult) -> Iterator[str]:
    for trace in traces:
        why = _skip_reason(trace, include_all)
        if why:
            result.skipped.append(f"{trace.dir}: {why}")
            continue
        for record in _Exporter(trace, base, options, include_all, result).records():
            yield json.dumps(record, ensure_ascii=False) + "\n"
            result.records += 1


def _skip_reason(trace: Trace, include_all: bool) -> str:
    if not trace.header.task.strip():
        return "no task text (record with --task)"
    status = trace.end.status if trace.end is not None else None
    if not include_all and status != "success":
        return f"the run ended with status {status or 'unfinished'} (--all to include it)"
    return ""


class _Exporter:
    """The records of one trace; images are resized and saved once each."""

    def __init__(self, trace: Trace, base: Path, options: Any, include_all: bool, result: ExportResult) -> None:
        self.trace, self.base, self.options, self.all, self.result = trace, base, options, include_all, result
        self.history: list[StepRecord] = []
        self._resized: dict[int, Any] = {}
        self._unusable: set[int] = set()  # steps whose screenshot is missing or unreadable (said once)
        self._paths: dict[int, str] = {}  # id(resized image) → relative path
        digest = hashlib.sha1(str(trace.dir.resolve()).encode()).hexdigest()[:6]
        self.prefix = f"{trace.dir.name}-{digest}"

    def records(self) -> Any:
        task = self.trace.header.task
        for step in self.trace.steps:
            action = _action(step)
            chosen = action is not None and (self.all or step.outcome.status in EXPORTED)
            if chosen and (image := self._image(step)) is not None:
                frame: ModelFrame = image[1]
                history_images = self._history_images()
                messages = build_messages(task, image[0], frame, tuple(self.history), self.options.history_images,
                                          history_images, self.options.extended_actions)
                answer = tool_call_text(action_to_json(with_points(action, lambda p, f=frame: to_model(p, f))))
                yield self._record(messages, answer)
            self.history.append(step.history_record(action))

    def _image(self, step: StepLine) -> tuple[Any, ModelFrame] | None:
        """The step's screenshot resized to W′×H′; None (and a line in `skipped`) when it is missing or
        unreadable — a crash can leave the last screenshots missing or cut short."""
        index = step.index
        path = self.trace.dir / step.screenshot if step.screenshot else None
        if index in self._unusable:
            return None
        if path is None or not path.is_file():
            return self._unusable_image(index, "no screenshot")
        try:
            image, frame = resize_for_model(load_screenshot(path), self.options.min_pixels, self.options.max_pixels)
        except UnreadableScreenshot as exc:
            return self._unusable_image(index, str(exc))
        except ValueError as exc:  # a size the model cannot take (an aspect ratio over 200)
            return self._unusable_image(index, str(UnreadableScreenshot.of(path, exc)))
        self._resized[index] = image
        return image, frame

    def _unusable_image(self, index: int, why: str) -> None:
        self._unusable.add(index)
        self.result.skipped.append(f"{self.trace.dir}: step {index}: {why}")

    def _history_images(self) -> dict[int, Any]:
        """The resized screenshots of the earlier steps the prompt may show (history_images - 1 of them)."""
        keep = max(self.options.history_images, 1) - 1
        wanted = [s.index for s in self.history[len(self.history) - keep:]] if keep else []
        for index in wanted:
            if index not in self._resized:
                step = next((s for s in self.trace.steps if s.index == index), None)
                if step is not None:
                    self._image(step)
        return {i: self._resized[i] for i in wanted if i in self._resized}

    def _record(self, messages: Sequence[Message], answer: str) -> dict[str, Any]:
        rows, images = [], []
        for message in messages:
            parts = []
            for part in message.parts:
                if isinstance(part, ImagePart):
                    images.append(self._save(part.image))
                    parts.append(IMAGE_TOKEN)
                else:
                    parts.append(part.text)
            rows.append({"role": message.role, "content": "".join(parts)})
        rows.append({"role": "assistant", "content": answer})
        return {"messages": rows, "images": images}

    def _save(self, image: Any) -> str:
        key = id(image)
        if key not in self._paths:
            index = next(i for i, im in self._resized.items() if im is image)
            relative = f"images/{self.prefix}-step-{index:04d}.png"
            check_file(self.base / relative)  # a FIFO there would block the save for ever
            writing(self.base / relative, image.save, self.base / relative, "PNG")
            self._paths[key] = relative
            self.result.images += 1
        return self._paths[key]


def _action(step: StepLine) -> Any:
    try:
        return parse_action(step.action) if step.action else None
    except ActionError:
        return None


def _dataset_info(path: Path) -> dict[str, Any]:
    """The LLaMA-Factory dataset list (dataset_info.json) beside the data, to which the export adds its
    entry: {} when there is none. One that cannot be read, or is not a JSON object, is someone's file
    that is not ours to replace: an OutputError, before the export writes anything."""
    check_file(path)
    if not path.is_file():
        return {}
    try:
        info = json.loads(read_input(path, MAX_DATASET_INFO_BYTES))
    except OSError as exc:
        raise OutputError(f"cannot update {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError):
        info = None
    if not isinstance(info, dict):
        raise OutputError(f"cannot update {path}: it is not a JSON object (LLaMA-Factory's dataset list); "
                          "move it away or export to another folder")
    return info

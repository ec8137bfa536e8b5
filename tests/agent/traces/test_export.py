"""`deskpilot export --format qwen-sft`: traces → Qwen2.5-VL chat records (messages + images)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from trace_helpers import ui_image, write_trace

from agent.cli.main import main
from agent.config import load_settings
from agent.traces.export import export_qwen_sft
from policies.qwen.coords import to_screen
from policies.qwen.parse import parse_reply
from policies.qwen.prompt import system_prompt
from policies.qwen.resize import model_frame

SIZE = (1280, 800)
FRAME = model_frame(*SIZE, 3136, 1280 * 28 * 28)  # the config's defaults: 1260×784
ACTIONS = [
    {"action": "left_click", "coordinate": [1279, 799]},
    {"action": "type", "text": "Grüße, world"},
    {"action": "left_click_drag", "start_coordinate": [3, 5], "coordinate": [640, 401]},
    {"action": "scroll", "pixels": -5, "coordinate": [333, 777]},
    {"action": "double_click", "coordinate": [101, 99]},
    {"action": "key", "keys": ["ctrl", "s"]},
    {"action": "terminate", "status": "success"},
]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    screen = ui_image(SIZE, {"Save": (200, 120)})
    return write_trace(tmp_path / "good", "save the draft", [(a, screen, {}) for a in ACTIONS])


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tool_call(content: str) -> dict:
    assert content.startswith("<tool_call>\n") and content.endswith("\n</tool_call>")
    return json.loads(content.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))


def test_every_step_becomes_a_record_with_coordinates_in_the_resized_image(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft" / "data.jsonl"
    result = export_qwen_sft([good], out, load_settings(None))
    rows = records(out)
    assert result.records == len(rows) == len(ACTIONS) and result.images == len(ACTIONS) and not result.skipped
    assert FRAME.model == (1260, 784)
    for number, (row, original) in enumerate(zip(rows, ACTIONS, strict=True), start=1):
        system, user, assistant = row["messages"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert system["content"] == system_prompt(*FRAME.model)
        assert user["content"].startswith("<image>The user query: save the draft")
        assert user["content"].count("<image>") == len(row["images"]) == 1
        assert ("Step 1: " in user["content"]) == (number > 1)
        image = out.parent / row["images"][0]
        assert not Path(row["images"][0]).is_absolute() and Image.open(image).size == FRAME.model
        call = tool_call(assistant["content"])
        assert call["name"] == "computer_use"
        arguments = call["arguments"]
        assert {k: v for k, v in arguments.items() if "coordinate" not in k} == \
            {k: v for k, v in original.items() if "coordinate" not in k}
        for key in ("coordinate", "start_coordinate"):
            if key in original:
                x, y = arguments[key]
                assert 0 <= x < FRAME.model_width and 0 <= y < FRAME.model_height
                back = to_screen((x, y), FRAME)
                assert max(abs(back[0] - original[key][0]), abs(back[1] - original[key][1])) <= 1, (key, original)
        parsed = parse_reply(assistant["content"], FRAME).action  # the model policy reads it back the same way
        assert parsed.action == original["action"]
    assert json.loads((out.parent / "dataset_info.json").read_text())["data"]["columns"] == \
        {"messages": "messages", "images": "images"}


def test_history_lists_the_earlier_steps_in_model_coordinates(good: Path, tmp_path: Path) -> None:
    export_qwen_sft([good], tmp_path / "d.jsonl", load_settings(None))
    third = records(tmp_path / "d.jsonl")[2]["messages"][1]["content"]
    first_click = tool_call(records(tmp_path / "d.jsonl")[0]["messages"][2]["content"])["arguments"]
    assert f"Step 1: {json.dumps(first_click, ensure_ascii=False)};" in third
    assert 'Step 2: {"action": "type", "text": "Grüße, world"};' in third


def test_more_history_images_add_earlier_turns(good: Path, tmp_path: Path) -> None:
    export_qwen_sft([good], tmp_path / "d.jsonl", load_settings(None, {"model.history_images": 2}))
    row = records(tmp_path / "d.jsonl")[1]
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert len(row["images"]) == 2 and row["images"][0].endswith("step-0001.png")
    assert sum(m["content"].count("<image>") for m in row["messages"]) == 2


def test_only_successful_runs_and_carried_out_steps_by_default(tmp_path: Path) -> None:
    screen = ui_image(SIZE)
    failed = write_trace(tmp_path / "failed", "do it", [(ACTIONS[0], screen, {})], status="failure")
    mixed = write_trace(tmp_path / "mixed", "do it", [
        (ACTIONS[0], screen, {"outcome": {"status": "denied", "detail": "rule"}}),
        (ACTIONS[1], screen, {}),
        ({"action": "terminate", "status": "success"}, screen, {}),
    ])
    untitled = write_trace(tmp_path / "untitled", "", [(ACTIONS[0], screen, {})])
    result = export_qwen_sft([failed, mixed, untitled], tmp_path / "a.jsonl", load_settings(None))
    assert result.records == 2 and len(result.skipped) == 2
    assert any("status failure" in s for s in result.skipped) and any("no task" in s for s in result.skipped)
    everything = export_qwen_sft([failed, mixed], tmp_path / "b.jsonl", load_settings(None), include_all=True)
    assert everything.records == 4


def test_the_cli_exports_and_fails_when_nothing_was_exported(good: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(good), "--format", "qwen-sft", "--out", str(tmp_path / "x" / "data.jsonl")]) == 0
    assert "exported 7 record(s)" in capsys.readouterr().out
    empty = write_trace(tmp_path / "empty", "", [(ACTIONS[0], ui_image(SIZE), {})])
    assert main(["export", str(empty), "--out", str(tmp_path / "y.jsonl")]) == 1
    with pytest.raises(SystemExit) as bad:
        main(["export", str(good), "--format", "other", "--out", str(tmp_path / "z.jsonl")])
    assert bad.value.code == 2


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_screenshot_cut_short_by_a_crash_skips_that_step_with_a_line(good: Path, tmp_path: Path,
                                                                      damage: str) -> None:
    png = good / "step-0003.png"
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2] if damage == "truncated" else b"not a png")
    result = export_qwen_sft([good], tmp_path / "d.jsonl", load_settings(None, {"model.history_images": 2}))
    assert result.records == len(ACTIONS) - 1 == len(records(tmp_path / "d.jsonl"))
    (line,) = result.skipped  # one line for the step, said once (it is also the next record's history image)
    assert line.startswith(f"{good}: step 3: unreadable screenshot step-0003.png (")
    assert ("image file is truncated" if damage == "truncated" else "cannot identify image file") in line


def test_a_bad_trace_is_refused_before_anything_is_written(good: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sft" / "f.jsonl"
    assert main(["export", str(good), str(tmp_path / "nonexistent"), "--out", str(out)]) == 2
    assert "not a readable trace" in capsys.readouterr().err
    assert not (tmp_path / "sft").exists()  # not even the images directory
    bad = write_trace(tmp_path / "bad", "x", [(ACTIONS[0], ui_image(SIZE), {})])
    lines = (bad / "trace.jsonl").read_text().splitlines()
    (bad / "trace.jsonl").write_text("\n".join([lines[0], lines[1].replace('"index":1', '"index":"1"'), *lines[2:]]))
    assert main(["export", str(good), str(bad), "--out", str(out)]) == 2
    assert "line 2: `index` must be an integer, not a string" in capsys.readouterr().err
    assert not (tmp_path / "sft").exists()


def test_a_failure_midway_leaves_no_partial_file_and_keeps_the_old_one(good: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.traces import export

    out = tmp_path / "f.jsonl"
    out.write_text("the previous export\n")
    original = export._Exporter.records

    def broken(self):  # type: ignore[no-untyped-def]
        for n, record in enumerate(original(self)):
            if n == 2:
                raise RuntimeError("disk on fire")
            yield record

    monkeypatch.setattr(export._Exporter, "records", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):  # not an OutputError: a bug stays a bug
        export_qwen_sft([good], out, load_settings(None))
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["f.jsonl"]  # no temporary file left


@pytest.mark.parametrize("where", [".", "/proc/x/y.jsonl"])
def test_an_unwritable_out_is_one_line_exit_2(good: Path, tmp_path: Path, where: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / where if where == "." else Path(where)
    assert main(["export", str(good), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deskpilot: cannot write ") and err.count("\n") == 1, err


def test_the_cli_says_which_image_budget_training_must_use(good: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(good), "--out", str(tmp_path / "d.jsonl")]) == 0
    note = [line for line in capsys.readouterr().err.splitlines() if "max_pixels" in line]
    assert len(note) == 1 and "max_pixels=1003520" in note[0]
    assert "image_max_pixels: 1003520" in note[0] and "MAX_PIXELS=1003520" in note[0]
    assert f"run from {tmp_path}" in note[0]

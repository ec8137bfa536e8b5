"""A person's bad input file or argument: one `deskpilot: ...` line on stderr and a non-zero exit, never
a traceback, a hang or unbounded memory.

Inputs that could hang (a FIFO) or eat memory (/dev/zero, aliases that multiply) are run in a child
process with a timeout and an address-space limit, so a regression fails the test instead of the suite.
No display is used: DISPLAY and WAYLAND_DISPLAY are removed, and --no-daemon is passed where it exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from trace_helpers import ui_image, write_trace

from agent.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
LAUGHS = "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + LAUGHS  # 10**9 strings once expanded


def _trace(directory: Path) -> Path:
    image = ui_image((160, 100), {"OK": (60, 50)})
    return write_trace(directory, "click ok", [({"action": "left_click", "coordinate": [60, 50]}, image, {}),
                                              ({"action": "terminate", "status": "success"}, image, {})])


def _lines(trace: Path) -> list[dict]:
    return [json.loads(line) for line in (trace / "trace.jsonl").read_text(encoding="utf-8").splitlines()]


def _rewrite(trace: Path, lines: list[dict]) -> None:
    (trace / "trace.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("deskpilot:"), err
    return lines[0]


def _in_process(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                tmp_path: Path) -> str:
    monkeypatch.chdir(tmp_path)  # no ./config.yaml of the checkout
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    return _one_line(err)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # /dev/zero read whole: MemoryError, not a swap storm


def _child(argv: list[str], cwd: Path, timeout: float = 15) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(ROOT)
    try:
        done = subprocess.run([sys.executable, "-m", "agent.cli.main", *argv], cwd=cwd, env=env, capture_output=True,
                              text=True, errors="replace", timeout=timeout, preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        pytest.fail(f"deskpilot {' '.join(argv)} still running after {timeout} s")
    assert done.returncode != 0, done.stderr
    return _one_line(done.stderr)


# --- files that never end: a FIFO blocks its reader, /dev/zero fills memory -------------------------

def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["trace", "script", "config"])
def test_a_fifo_as_input_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    if kind == "trace":
        (tmp_path / "t").mkdir()
        argv = ["report", str(_fifo(tmp_path / "t" / "trace.jsonl"))]
    elif kind == "script":
        argv = ["replay", str(_fifo(tmp_path / "task.yaml")), "--no-daemon"]
    else:
        argv = ["export", str(_trace(tmp_path / "t")), "--out", str(tmp_path / "o.jsonl"),
                "--config", str(_fifo(tmp_path / "c.yaml"))]
    assert "not a regular file" in _child(argv, tmp_path)


@pytest.mark.parametrize("kind", ["trace", "script", "config"])
def test_dev_zero_as_input_is_refused_not_read(tmp_path: Path, kind: str) -> None:
    if kind == "trace":
        (tmp_path / "t").mkdir()
        (tmp_path / "t" / "trace.jsonl").symlink_to("/dev/zero")
        argv = ["script-from", str(tmp_path / "t")]
    elif kind == "script":
        (tmp_path / "task.yaml").symlink_to("/dev/zero")
        argv = ["replay", str(tmp_path / "task.yaml"), "--no-daemon"]
    else:
        argv = ["export", str(_trace(tmp_path / "t")), "--out", str(tmp_path / "o.jsonl"), "--config", "/dev/zero"]
    assert "not a regular file" in _child(argv, tmp_path)


def test_yaml_aliases_that_multiply_are_refused(tmp_path: Path) -> None:
    script = tmp_path / "task.yaml"
    script.write_text("vars:\n" + "".join(f"  {line}\n" for line in LAUGHS.splitlines())
                      + "steps: [{action: wait, time: 0}]\n", encoding="utf-8")
    assert "aliases" in _child(["replay", str(script), "--no-daemon"], tmp_path)


def test_a_config_integer_of_thousands_of_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"loop: {{max_steps: {'9' * 5000}}}\n", encoding="utf-8")
    line = _in_process(["export", str(_trace(tmp_path / "t")), "--out", str(tmp_path / "o.jsonl"),
                        "--config", str(config)], capsys, monkeypatch, tmp_path)
    assert str(config) in line


# --- trace lines of the wrong shape -------------------------------------------------------------------

@pytest.mark.parametrize("value", ["Infinity", "NaN", "1e400"])
def test_a_trace_number_that_is_not_finite(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    trace = _trace(tmp_path / "t")
    text = (trace / "trace.jsonl").read_text(encoding="utf-8").replace('"scale":1.0,"width":160',
                                                                   f'"scale":1.0,"width":{value}', 1)
    (trace / "trace.jsonl").write_text(text, encoding="utf-8")
    assert "finite" in _in_process(["script-from", str(trace)], capsys, monkeypatch, tmp_path)


@pytest.mark.parametrize("name", ["../other/step-0001.png", "/etc/passwd", "."])
def test_a_screenshot_named_outside_the_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _trace(tmp_path / "other")
    trace = _trace(tmp_path / "t")
    lines = _lines(trace)
    lines[1]["screenshot"] = name
    _rewrite(trace, lines)
    line = _in_process(["export", str(trace), "--out", str(tmp_path / "o.jsonl")], capsys, monkeypatch, tmp_path)
    assert "file name in the trace directory" in line


# --- screenshots: bombs and giants --------------------------------------------------------------------

def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of `width`x`height` black pixels: a small file, a big image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(bytes(height * (1 + (width + 7) // 8)), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_a_screenshot_over_the_pixel_limit_is_not_decoded(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _trace(tmp_path / "t")  # 100 Mpx: over PIL's limit, under twice it, where PIL only warns
    (trace / "step-0001.png").write_bytes(_png_claiming(10_000, 10_000))
    (trace / "step-0002.png").write_bytes(_png_claiming(10_000, 10_000))
    monkeypatch.chdir(tmp_path)
    code = main(["export", str(trace), "--out", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert code == 1 and "unreadable screenshot step-0001.png" in err and "Traceback" not in err, err


def test_a_report_inlines_no_screenshot_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from agent.traces import report_images

    trace = _trace(tmp_path / "t")
    monkeypatch.setattr(report_images, "MAX_SCREENSHOT_BYTES", 64)  # every screenshot of the trace is larger
    assert main(["report", str(trace), "--out", str(tmp_path / "r.html")]) == 0
    assert "data:image/png" not in (tmp_path / "r.html").read_text(encoding="utf-8")


# --- outputs ------------------------------------------------------------------------------------------

def test_an_output_that_is_a_fifo_is_refused_not_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = _fifo(tmp_path / "r.html")  # like /dev/null: as root the report would have replaced the device
    line = _in_process(["report", str(_trace(tmp_path / "t")), "--out", str(out)], capsys, monkeypatch, tmp_path)
    assert "not a regular file" in line and stat.S_ISFIFO(out.stat().st_mode)


def test_an_export_image_path_that_is_a_fifo(tmp_path: Path) -> None:
    trace = _trace(tmp_path / "t")
    prefix = f"t-{hashlib.sha1(str(trace.resolve()).encode()).hexdigest()[:6]}"
    (tmp_path / "images").mkdir()
    _fifo(tmp_path / "images" / f"{prefix}-step-0001.png")
    assert "not a regular file" in _child(["export", str(trace), "--out", str(tmp_path / "o.jsonl")], tmp_path)


@pytest.mark.parametrize("content", ["[1, 2]\n", "not json {\n"])
def test_a_dataset_info_that_is_not_a_dataset_list_is_kept_and_nothing_written(
        tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dataset_info.json").write_text(content, encoding="utf-8")
    assert main(["export", str(_trace(tmp_path / "t")), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("deskpilot: cannot update ") and "not a JSON object" in err and "\n" not in err
    assert (tmp_path / "dataset_info.json").read_text(encoding="utf-8") == content  # the user's file, untouched
    assert not (tmp_path / "o.jsonl").exists()


def test_a_trace_directory_that_cannot_be_made(tmp_path: Path) -> None:
    from actions.errors import DeskpilotError
    from agent.traces.store import TraceWriter, new_trace_dir

    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(DeskpilotError, match=r"cannot write .*file"):
        new_trace_dir(tmp_path / "file" / "traces")
    with pytest.raises(DeskpilotError, match=r"cannot write .*file"):
        TraceWriter(tmp_path / "file" / "t")


def test_sandbox_state_path_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert "directory" in _in_process(["sandbox", "--xvfb", "--state", str(tmp_path)], capsys, monkeypatch, tmp_path)


def test_sandbox_app_with_a_state_path_it_cannot_use(tmp_path: Path) -> None:
    from agent.sandbox.launch import Sandbox, SandboxError

    with pytest.raises(SandboxError, match="cannot use"):
        Sandbox({}, tmp_path)


# --- arguments ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", ["-1", "65536"])
def test_console_port_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    assert "--port" in _in_process(["console", "--trace-dir", str(tmp_path), "--port", port], capsys, monkeypatch,
                                   tmp_path)


def test_bench_model_threads_below_one(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    line = _in_process(["bench", "model", "--random-weights", "--size", "tiny", "--threads", "-1"], capsys,
                       monkeypatch, tmp_path)
    assert "--threads" in line


def test_bench_model_screen_too_big_to_allocate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "model", "--random-weights", "--size", "tiny", "--screen", "100000x100000"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_bench_json_under_a_file_is_refused_before_the_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    line = _in_process(["bench", "model", "--random-weights", "--size", "tiny", "--repeats", "1", "--new-tokens", "1",
                        "--json", str(tmp_path / "file" / "out.json")], capsys, monkeypatch, tmp_path)
    assert "cannot write" in line

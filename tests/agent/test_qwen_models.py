"""The model factory and `deskpilot run` wiring: config fields, CLI overrides, one-line failures."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from agent.cli import main as cli
from agent.config import ConfigError, load_settings
from agent.errors import EnvironmentProblem
from agent.run.policy_factory import build_backend, build_policy, describe, qwen_options
from policies.qwen.backends.openai_backend import OpenAIBackend
from policies.qwen.errors import BackendError

ROOT = Path(__file__).resolve().parents[2]


def test_model_defaults_match_the_issue_and_config_yaml() -> None:
    m = load_settings(None).model
    assert (m.backend, m.name, m.base_url, m.api_key_env) == (
        "transformers", "Qwen/Qwen2.5-VL-7B-Instruct", "http://127.0.0.1:8000/v1", "OPENAI_API_KEY")
    assert (m.min_pixels, m.max_pixels, m.history_images) == (None, None, 1)  # None: the dialect's budget
    assert (m.dialect, m.extended_actions, m.grounder.name) == ("auto", False, "")
    o = qwen_options(load_settings(None))  # Qwen2.5-VL-7B-Instruct: the processor's class default budget
    assert (o.min_pixels, o.max_pixels, o.extended_actions) == (3136, 1280 * 28 * 28, False)
    assert (m.temperature, m.top_p, m.top_k, m.repetition_penalty) == (0.1, 0.001, 1, 1.05)
    assert (m.device_map, m.dtype, m.attn_implementation, m.decoding) == ("auto", "bfloat16", "auto", "free")
    assert load_settings(ROOT / "config.yaml").model == m


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"model.backend": "vllm"}, "model.backend"),
    ({"model.min_pixels": 2_000_000, "model.max_pixels": 1_000_000}, "must not exceed max_pixels"),
    ({"model.dialect": "qwen4-vl"}, "model.dialect"),
    ({"model.max_pixels": 100}, "model.max_pixels"),
    ({"model.base_url": "127.0.0.1:8000"}, "model.base_url"),
    ({"model.api_key_env": "sk-123"}, "model.api_key_env"),
    ({"model.decoding": "json"}, "model.decoding"),
    ({"model.api_key": "sk-123"}, "model.api_key"),  # keys never go in the config
])
def test_bad_model_settings_are_one_line_errors(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        load_settings(None, overrides)
    assert "\n" not in str(info.value)


def test_policy_options_follow_the_config() -> None:
    settings = load_settings(None, {"model.max_pixels": 401_408, "model.history_images": 3,
                                    "model.max_new_tokens": 64, "model.decoding": "constrained"})
    o = qwen_options(settings)
    assert (o.max_pixels, o.history_images, o.max_new_tokens, o.constrained) == (401_408, 3, 64, True)
    assert describe(settings)["decoding"] == "constrained"


def test_openai_backend_from_config() -> None:
    settings = load_settings(None, {"model.backend": "openai", "model.name": "served", "model.retries": 1,
                                    "model.request_timeout_s": 5, "model.temperature": 0.0})
    backend = build_backend(settings, env={"OPENAI_API_KEY": "k"}, check=False)
    assert isinstance(backend, OpenAIBackend)
    o = backend.options
    assert (o.model, o.api_key, o.retries, o.timeout_s, o.temperature) == ("served", "k", 1, 5.0, 0.0)
    assert backend.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert build_policy(settings, backend).backend is backend


def _fake_transformers_module(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    class TransformersBackend:
        def __init__(self, settings: object) -> None:
            raise error

    class TransformersOptions:
        @staticmethod
        def of(settings: object, **changes: object) -> object:
            return settings

    module = types.ModuleType("policies.qwen.backends.transformers_backend")
    module.TransformersBackend = TransformersBackend  # type: ignore[attr-defined]
    module.TransformersOptions = TransformersOptions  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "policies.qwen.backends.transformers_backend", module)


@pytest.mark.parametrize(("error", "fragment"), [
    (ModuleNotFoundError("No module named 'torch'", name="torch"), r"torch.*pip install 'deskpilot\[model\]'"),
    (BackendError("cannot load model 'nope': tried ./nope, then the Hugging Face hub: 404"), "tried ./nope"),
    (OSError("nope is not a local folder and is not a valid model identifier\nmore"), "cannot load model"),
])
def test_transformers_failures_become_environment_problems(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, fragment: str
) -> None:
    _fake_transformers_module(monkeypatch, error)
    with pytest.raises(EnvironmentProblem, match=fragment) as info:
        build_backend(load_settings(None, {"model.name": "./nope"}))
    assert "\n" not in str(info.value)


def test_no_transformers_backend_module_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "policies.qwen.backends.transformers_backend", None)
    with pytest.raises(EnvironmentProblem, match="--backend openai"):
        build_backend(load_settings(None))


def test_run_overrides_the_model_settings_and_keeps_backend_for_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_execute(task, policy, settings, header=None, computer=None, **more):  # type: ignore[no-untyped-def]
        seen.update(task=task, settings=settings, header=header, policy=policy)
        raise SystemExit(0)

    monkeypatch.setattr("agent.run.runner.execute", fake_execute)
    monkeypatch.setattr("agent.run.policy_factory.reachable", lambda url: None)  # no server at h:1 in tests
    monkeypatch.setattr("agent.run.runner.build_computer", lambda settings: types.SimpleNamespace(close=lambda: None))
    with pytest.raises(SystemExit):
        cli.main(["run", "open the menu", "--backend", "openai", "--model", "m", "--base-url", "http://h:1/v1",
                  "--max-steps", "7", "--dry-run", "--executor", "pynput", "--config", str(ROOT / "config.yaml")])
    s = seen["settings"]
    assert (s.model.backend, s.model.name, s.model.base_url) == ("openai", "m", "http://h:1/v1")
    assert s.executor.backend == "pynput" and s.loop.max_steps == 7 and s.safety.dry_run is True
    assert seen["task"] == "open the menu" and seen["header"].model["name"] == "m"
    assert seen["header"].model["dialect"] == "qwen2.5-vl"  # the trace header records the dialect
    assert isinstance(seen["policy"].backend, OpenAIBackend)


def test_run_rejects_an_executor_name_as_model_backend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "x", "--backend", "pynput"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_run_with_an_empty_task_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "  ", "--backend", "openai"]) == 2
    assert "task must not be empty" in capsys.readouterr().err


def test_a_named_grounder_makes_a_planner_grounder_pair_with_its_own_dialect() -> None:
    from openai_server import FakeOpenAIServer

    from agent.run.policy_factory import build_grounder
    from policies.qwen.planned import PlannedPolicy

    with FakeOpenAIServer(lambda request: "(1,2)") as server:
        settings = load_settings(None, {
            "model.backend": "openai", "model.name": "Qwen/Qwen3-VL-32B-Instruct", "model.base_url": server.base_url,
            "model.grounder.backend": "openai", "model.grounder.name": "Salesforce/GTA1-7B-2507",
            "model.grounder.base_url": server.base_url, "model.zoom": True, "model.zoom_crop": 0.25})
        policy = build_policy(settings)
        assert isinstance(policy, PlannedPolicy)
        assert (policy.planner.dialect.name, policy.grounder.dialect.name) == ("qwen3-vl", "gta1")
        assert policy.grounder.options.max_pixels == 4096 * 2160 and policy.zoom.crop == 0.25
        assert describe(settings)["grounder"] == {"backend": "openai", "name": "Salesforce/GTA1-7B-2507",
                                                  "dialect": "gta1"}
        grounder = build_grounder(settings)
        assert isinstance(grounder, PlannedPolicy) and grounder.grounder.dialect.name == "gta1"
    alone = load_settings(None, {"model.backend": "openai", "model.name": "Hcompany/Holo1.5-7B"})
    with pytest.raises(EnvironmentProblem, match="grounding model"):
        build_policy(alone, backend=OpenAIBackend.__new__(OpenAIBackend))


def test_a_named_planner_section_is_the_agent_model_and_the_model_flags_set_it(tmp_path: Path) -> None:
    from openai_server import FakeOpenAIServer

    from policies.qwen.planned import PlannedPolicy

    with FakeOpenAIServer(lambda request: "(1,2)") as server:
        path = tmp_path / "c.yaml"
        path.write_text(f"""model:
  name: Qwen/Qwen2.5-VL-7B-Instruct
  base_url: {server.base_url}
  planner: {{backend: openai, name: Qwen/Qwen3-VL-32B-Instruct, max_pixels: 1000000}}
  grounder: {{backend: openai, name: Salesforce/GTA1-7B-2507, base_url: "{server.base_url}"}}
""")
        settings = load_settings(path)
        m = settings.model
        assert (m.backend, m.name, m.base_url, m.max_pixels) == ("openai", "Qwen/Qwen3-VL-32B-Instruct",
                                                                server.base_url, 1000000)
        policy = build_policy(settings)
        assert isinstance(policy, PlannedPolicy)
        assert (policy.planner.dialect.name, policy.grounder.dialect.name) == ("qwen3-vl", "gta1")
        assert describe(settings)["name"] == "Qwen/Qwen3-VL-32B-Instruct"
        flagged = load_settings(path, {"model.name": "Qwen/Qwen3-VL-8B-Instruct"}, {"model.name": "--model"})
        assert (flagged.model.name, flagged.model.planner.name) == ("Qwen/Qwen3-VL-8B-Instruct",) * 2
        with pytest.raises(ConfigError, match=r"^--base-url: model\.base_url"):
            load_settings(path, {"model.base_url": "ftp://x"}, {"model.base_url": "--base-url"})


def test_a_grounding_specialist_alone_still_grounds_script_targets() -> None:
    from agent.run.policy_factory import build_grounder
    from policies.qwen.planned import PlannedPolicy

    settings = load_settings(None, {"model.backend": "openai", "model.name": "Salesforce/GTA1-7B-2507"})
    backend = OpenAIBackend.__new__(OpenAIBackend)
    grounder = build_grounder(settings, backend)
    assert grounder.dialect.name == "gta1" and grounder.options.max_pixels == 4096 * 2160
    zoomed = build_grounder(load_settings(None, {"model.backend": "openai", "model.zoom": True}), backend)
    assert isinstance(zoomed, PlannedPolicy) and zoomed.zoom is not None

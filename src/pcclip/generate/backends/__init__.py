"""The back ends, keyed by name. Each is a settings class (discriminated by its `backend` field) and a
`Backend` subclass; `create_backend` builds one from its settings.

| name | what writes the sentence |
|---|---|
| oracle | the world's ground truth (an upper bound) |
| rule | the words one caption has and the other lacks, no language model (a lower bound) |
| hf | a local causal LM through transformers (GGUF file or model directory) |
| openai | any OpenAI-compatible HTTP server (OpenAI, vLLM or llama.cpp servers, Google's endpoint) |
| vllm | vLLM's offline engine, if installed |
| degraded-oracle | the oracle for a share of the pairs, an LLM-like error for the rest (a quality dial) |
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Backend, BackendConfig, DecodingSettings, Outcome, Request
from .degraded import DegradedOracleBackend, DegradedOracleSettings
from .hf import HFBackend, HFSettings
from .openai import OpenAIBackend, OpenAISettings
from .oracle import OracleBackend, OracleSettings
from .rule import RuleBackend, RuleSettings
from .vllm import VLLMBackend, VLLMSettings

BACKENDS: dict[str, tuple[type[BackendConfig], type[Backend]]] = {
    "oracle": (OracleSettings, OracleBackend),
    "rule": (RuleSettings, RuleBackend),
    "hf": (HFSettings, HFBackend),
    "openai": (OpenAISettings, OpenAIBackend),
    "vllm": (VLLMSettings, VLLMBackend),
    "degraded-oracle": (DegradedOracleSettings, DegradedOracleBackend),
}

# A typo in `backend` fails naming the allowed values: pydantic lists the union's tags.
BackendSettings = Annotated[
    OracleSettings | RuleSettings | HFSettings | OpenAISettings | VLLMSettings | DegradedOracleSettings,
    Field(discriminator="backend"),
]


def create_backend(settings: BackendSettings, decoding: DecodingSettings) -> Backend:
    """The back end that `settings` describe (cheap: models load on first use)."""
    _, backend_class = BACKENDS[settings.backend]
    return backend_class(settings, decoding)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendConfig",
    "BackendSettings",
    "DecodingSettings",
    "Outcome",
    "Request",
    "create_backend",
]

"""vLLM's offline engine, when vLLM is installed (it is optional: a Linux machine with a GPU).

Prompts go to the engine in chunks, so that outputs reach the store as each chunk finishes
rather than all at the end.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import Field

from ...errors import PcclipError
from .availability import missing_weights
from .base import Backend, BackendConfig, Outcome, Request

NOT_INSTALLED = (
    "the vllm back end needs vLLM, which is not installed: pip install vllm (Linux, CUDA GPU); "
    "or use backend = 'hf' (transformers) or 'openai' (a vLLM server)"
)


class VLLMSettings(BackendConfig):
    backend: Literal["vllm"] = "vllm"
    model: str = Field(..., description="a model directory or hub id")
    dtype: str = Field("auto", description="vLLM's dtype argument")
    chunk_size: int = Field(1024, ge=1, description="prompts per engine call (each chunk is stored when done)")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = Field(None, ge=1)

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("vllm") is None:
            return NOT_INSTALLED
        return missing_weights(self.model)


class VLLMBackend(Backend):
    name = "vllm"
    settings: VLLMSettings

    def __init__(self, settings, decoding):
        super().__init__(settings, decoding)
        try:
            self._vllm = importlib.import_module("vllm")
        except ImportError:
            raise PcclipError(NOT_INSTALLED) from None
        self._engine = None

    @property
    def model(self) -> str:
        return self.settings.model

    def fingerprint(self) -> dict[str, Any]:
        return {"decoding": self.decoding.model_dump(mode="json"), "dtype": self.settings.dtype}

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        if not requests:
            return
        s, d = self.settings, self.decoding
        if self._engine is None:
            self._engine = self._vllm.LLM(
                model=s.model,
                dtype=s.dtype,
                seed=d.seed,
                gpu_memory_utilization=s.gpu_memory_utilization,
                max_model_len=s.max_model_len,
            )
        params = self._vllm.SamplingParams(
            temperature=d.temperature, top_p=d.top_p, max_tokens=d.max_new_tokens, seed=d.seed, stop=list(d.stop) or None
        )
        chat = not isinstance(requests[0].prompt, str)
        for start in range(0, len(requests), s.chunk_size):
            chunk = requests[start : start + s.chunk_size]
            if chat:
                results = self._engine.chat([list(r.prompt) for r in chunk], params, use_tqdm=False)
            else:
                results = self._engine.generate([r.prompt for r in chunk], params, use_tqdm=False)
            for offset, result in enumerate(results):
                yield start + offset, Outcome(text=result.outputs[0].text)

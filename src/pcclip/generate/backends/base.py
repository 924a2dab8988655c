"""What every back end is: its settings base class, the request it answers and the outcome it returns.

A back end turns prompts into raw text. It never touches the store, the filter or the cache key
beyond declaring what changes its outputs (`fingerprint`) and what it reads from a request
(`key_inputs`); `pcclip.generate.core` does the rest, identically for every back end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..pairs import PairRecord
from ..prompts import Prompt, prompt_text


class DecodingSettings(BaseModel):
    """How language-model back ends decode (oracle and rule ignore it). temperature 0 is greedy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(60, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0: greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = Field(0, description="sampling seed (local back ends seed once per run; servers per request)")
    stop: tuple[str, ...] = Field((), description="the output is cut before the first of these strings")


class BackendConfig(BaseModel):
    """Base of each back end's settings: immutable; an unknown key fails naming the keys allowed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # pydantic's own extra-key error sits under the union tag, where the settings loader cannot
        # list the allowed keys; this message names them.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                name = cls.model_fields["backend"].default
                raise ValueError(
                    f"unknown key {', '.join(map(repr, unknown))} for the {name} back end; allowed: {', '.join(cls.model_fields)}"
                )
        return data

    def unavailable_reason(self) -> str | None:
        """Why this back end cannot run here (credentials, weights or a package missing, a server not
        answering), found without loading a model or sending a request; None when it looks ready.
        Back ends that need nothing outside pcclip (oracle, rule) keep this default."""
        return None


@dataclass(frozen=True)
class Request:
    """One prompt to answer, with the pair it was rendered from."""

    pair: PairRecord
    prompt: Prompt


@dataclass(frozen=True)
class Outcome:
    """A back end's answer to one request: the raw text, or why there is none."""

    text: str | None = None
    error: str | None = None


class Backend(ABC):
    """Turns requests into outcomes. Subclasses set `name` and take (settings, decoding); anything
    expensive (loading a model) waits for the first `generate` call, so a fully cached rerun is free."""

    name: ClassVar[str]

    def __init__(self, settings: BackendConfig, decoding: DecodingSettings):
        self.settings = settings
        self.decoding = decoding

    @property
    @abstractmethod
    def model(self) -> str:
        """The model's name as recorded and hashed: stable across machines, never a secret."""

    def fingerprint(self) -> dict[str, Any]:
        """Every setting that changes the outputs (hashed into the cache key). Default: decoding."""
        return {"decoding": self.decoding.model_dump(mode="json")}

    def provenance(self) -> dict[str, Any]:
        """The settings recorded with each output: the back end's settings and decoding (no secrets)."""
        return {"backend": self.settings.model_dump(mode="json"), "decoding": self.decoding.model_dump(mode="json")}

    def key_inputs(self, request: Request) -> dict[str, Any]:
        """What the output depends on besides the fingerprint. Default: the rendered prompt."""
        return {"prompt": prompt_text(request.prompt)}

    def check(self, pairs: Sequence[PairRecord]) -> None:
        """Raise PcclipError before any work if these pairs cannot be answered at all."""

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        """Yield (index into requests, outcome) for every request, in any order, as each finishes."""

    def close(self) -> None:
        """Release what the back end holds (threads, models)."""


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string (servers do this themselves; local back ends do it here)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]

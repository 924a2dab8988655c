"""The oracle: ground-truth difference sentences from the world's exact attributes (an upper bound).

It reads the pair's attributes, not the prompt, and writes what `pcclip.world.phrasing` writes for
training: the "train" phrasing pool unless told otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ...errors import PcclipError
from ...world.phrasing import difference_sentence
from ..pairs import PairRecord
from .base import Backend, BackendConfig, Outcome, Request


class OracleSettings(BackendConfig):
    backend: Literal["oracle"] = "oracle"
    split: Literal["train", "eval"] = Field("train", description="the world's phrasing pool")
    attributes_per_sentence: int = Field(1, ge=1, le=5, description="differences named per sentence (at most)")
    seed: int = Field(0, description="with the pair id, picks the phrasing")


class OracleBackend(Backend):
    name = "oracle"
    settings: OracleSettings

    @property
    def model(self) -> str:
        return f"world-oracle-{self.settings.split}"

    def fingerprint(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def key_inputs(self, request: Request) -> dict[str, Any]:
        pair = request.pair
        return {"pair_id": pair.pair_id, "attributes_a": pair.attributes_a, "attributes_b": pair.attributes_b}

    def check(self, pairs: Sequence[PairRecord]) -> None:
        missing = next((p for p in pairs if p.attributes_a is None or p.attributes_b is None), None)
        if missing is not None:
            raise PcclipError(
                f"the oracle back end needs world attributes, and pair {missing.pair_id!r} has none; "
                "build pairs with `pcclip pairs --world N` or choose another back end"
            )

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        for index, request in enumerate(requests):
            a, b = request.pair.scenes()
            # One generator per pair, seeded by its id: the sentence does not depend on what else runs.
            digest = int.from_bytes(hashlib.sha256(request.pair.pair_id.encode()).digest()[:8], "big")
            rng = np.random.default_rng([self.settings.seed, digest])
            difference = difference_sentence(a, b, rng, self.settings.split, self.settings.attributes_per_sentence)
            if difference is None:
                yield index, Outcome(error="the two scenes do not differ visibly")
            else:
                yield index, Outcome(text=difference.text)

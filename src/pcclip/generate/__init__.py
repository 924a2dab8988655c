"""The comparison-generation stage: for ordered image pairs, a sentence saying how the first image
differs from the second, written from the two captions by a language model (or the world's oracle,
or a word-difference rule), cached and resumable, then filtered the paper's way.

    pairs = world_minimal_pairs(200, seed=0)                  # or build_pairs(items, n_pairs, seed)
    settings = GenerationSettings.model_validate({"backend": {"backend": "hf", "model": "smollm2-135m"},
                                                  "prompt": {"style": "chat"}})
    records = generate(pairs, settings, "runs/gen.sqlite")    # one GenerationRecord per pair
    kept, report = apply_filter(records)                     # the paper's filter; report.removed per rule
    print(agreement(records, pairs).lines())                 # world pairs: agreement with the ground truth
"""

from ..lazy import lazy_exports

# Exported names and their modules, imported on first use: `pcclip --help` must not pay for torch.
_EXPORTS = {
    "BACKENDS": "backends",
    "DecodingSettings": "backends",
    "GenerationResult": "core",
    "generate": "core",
    "run_generation": "core",
    "FilterReport": "filters",
    "FilterSettings": "filters",
    "apply_filter": "filters",
    "PairRecord": "pairs",
    "build_pairs": "pairs",
    "load_pairs": "pairs",
    "save_pairs": "pairs",
    "world_items": "pairs",
    "world_minimal_pairs": "pairs",
    "PromptSettings": "prompts",
    "render_prompt": "prompts",
    "AgreementReport": "scoring",
    "agreement": "scoring",
    "judge_sentence": "scoring",
    "GenerationSettings": "settings",
    "load_generation_settings": "settings",
    "GenerationRecord": "store",
    "Store": "store",
    "export_jsonl": "store",
    "load_records": "store",
    "merge_stores": "store",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

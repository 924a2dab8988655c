"""Real training sources: COCO captions, CUB + Reed et al.'s descriptions, and (image, caption) tables,
each from a tiny fixture in its standard layout; unreadable images; and a pipeline run on them."""

import json

import numpy as np
import pytest
import torch

from pcclip.checkpoint import save_checkpoint
from pcclip.config import DataSettings, EvalSettings, FinetuneSettings, ModelSettings, PairSettings, RunSettings
from pcclip.datasets.captions import load_caption_table
from pcclip.datasets.cub import load_cub_descriptions
from pcclip.errors import PcclipError
from pcclip.generate import GenerationSettings
from pcclip.models import create_model
from pcclip.pipeline import run
from pcclip.real_pairs import real_pair_pool
from pcclip.world.scene import WorldConfig
from test_datasets import make_cub, write_image


def write_table(folder, n_images=6, suffix=".csv", bad=()):
    """n_images images (image i filled with colour (30 i, 0, 0)), two captions each, in a table;
    the image numbers in `bad` are written as garbage bytes instead."""
    for i in range(n_images):
        if i in bad:
            (folder / "img").mkdir(parents=True, exist_ok=True)
            (folder / "img" / f"{i}.jpg").write_bytes(b"not a jpeg")
        else:
            write_image(folder / "img" / f"{i}.jpg", colour=(30 * i, 0, 0))
    rows = [(f"img/{i}.jpg", f"photo {i} variant {v}") for v in (0, 1) for i in range(n_images)]
    path = folder / f"captions{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps({"filepath": p, "title": t}) + "\n" for p, t in rows))
    else:
        sep = "," if suffix == ".csv" else "\t"
        path.write_text(f"filepath{sep}title\n" + "".join(f"{p}{sep}{t}\n" for p, t in rows))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_caption_tables_group_captions_by_image(tmp_path, suffix):
    table = load_caption_table(write_table(tmp_path, 3, suffix))
    assert [p.relative_to(tmp_path).as_posix() for p in table.images.paths] == ["img/0.jpg", "img/1.jpg", "img/2.jpg"]
    assert table.caption_owner.tolist() == [0, 1, 2, 0, 1, 2]
    assert table.captions[3] == "photo 0 variant 1"
    assert np.abs(table.images.load([2], 8)[0, 0, 0].astype(int) - (60, 0, 0)).max() <= 2


def test_caption_table_errors_name_the_file_line_and_columns(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("image,text\na.jpg,a cat\n")
    with pytest.raises(PcclipError, match=r"pairs.csv: no column 'filepath', 'title'; its header has \['image', 'text'\]"):
        load_caption_table(path)
    assert load_caption_table(path, "image", "text").captions == ["a cat"]
    path.write_text("filepath,title\na.jpg,a cat\nb.jpg,\n")
    with pytest.raises(PcclipError, match="pairs.csv: line 3: needs a non-empty 'filepath'"):
        load_caption_table(path)
    with pytest.raises(PcclipError, match="unknown table format"):
        load_caption_table(path.rename(tmp_path / "pairs.txt"))


def test_cub_with_reed_descriptions(tmp_path):
    root = make_cub(tmp_path)
    text = tmp_path / "cvpr2016_cub" / "text_c10"
    for image in sorted((root / "images").rglob("*.jpg")):
        target = text / image.relative_to(root / "images").with_suffix(".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"this bird {image.stem} has a curved bill.\n\nit is black.\n")
    train = load_cub_descriptions(root, text, "train")  # images 2, 4, 6
    assert [p.name for p in train.images.paths] == [
        "Black_footed_Albatross_0002.jpg",
        "Laysan_Albatross_0004.jpg",
        "Sooty_Albatross_0006.jpg",
    ]
    assert train.captions[:2] == ["this bird Black_footed_Albatross_0002 has a curved bill.", "it is black."]
    assert train.caption_owner.tolist() == [0, 0, 1, 1, 2, 2]
    (text / "002.Laysan_Albatross" / "Laysan_Albatross_0004.txt").unlink()
    with pytest.raises(PcclipError, match="Laysan_Albatross_0004.txt: file not found; expected Reed et al.'s text_c10 folder"):
        load_cub_descriptions(root, text, "train")


def test_coco_training_pool_is_seeded_and_uses_each_images_captions(tmp_path):
    root = tmp_path / "coco"
    content = {"images": [], "annotations": []}
    for image_id in range(1, 7):
        write_image(root / "train2017" / f"{image_id:012d}.jpg", colour=(0, 40 * image_id, 0))
        content["images"].append({"id": image_id, "file_name": f"{image_id:012d}.jpg"})
        content["annotations"] += [
            {"image_id": image_id, "id": 10 * image_id + k, "caption": f"scene {image_id} take {k}"} for k in (0, 1)
        ]
    (root / "annotations").mkdir()
    (root / "annotations" / "captions_train2017.json").write_text(json.dumps(content))
    data = DataSettings(source="coco", root=root)
    settings = PairSettings(pairing="pool", images=4, pairs=10, seed=3)
    pool = real_pair_pool(data, settings)
    assert pool == real_pair_pool(data, settings)  # same seed, same pool
    assert len(pool.pairs) == 10 and len({p.pair_id for p in pool.pairs}) == 10
    assert len(pool.paths) == 4 and all(i.startswith("train2017/") for i in pool.paths)
    for p in pool.pairs:
        assert p.id_a != p.id_b and p.attributes_a is None
        assert p.caption_a.startswith(f"scene {int(p.id_a[-16:-4])} take")
    assert pool != real_pair_pool(data, settings.model_copy(update={"seed": 4}))
    first = next(iter(pool.paths))
    assert pool.load([first], 16).shape == (1, 16, 16, 3)


def test_unreadable_images_stop_with_their_name_or_are_skipped_and_counted(tmp_path):
    table = write_table(tmp_path, 6, bad=(1, 4))
    (tmp_path / "img" / "2.jpg").unlink()
    settings = PairSettings(pairing="pool", images=3, pairs=6)
    with pytest.raises(PcclipError, match=r"img/\d.jpg: .*set data.bad_images='skip'"):
        real_pair_pool(DataSettings(source="captions", root=table), settings)
    pool = real_pair_pool(DataSettings(source="captions", root=table, bad_images="skip"), settings)
    assert sorted(pool.paths) == ["img/0.jpg", "img/3.jpg", "img/5.jpg"]
    assert len(pool.skipped) == 3 and any("2.jpg: image file not found" in s for s in pool.skipped)
    with pytest.raises(PcclipError, match=r"3 readable captioned images \(3 skipped\), fewer than pairs.images=4"):
        real_pair_pool(DataSettings(source="captions", root=table, bad_images="skip"), settings.model_copy(update={"images": 4}))


def test_real_sources_need_a_pretrained_model_and_pool_pairing():
    with pytest.raises(ValueError, match="needs data.root"):
        DataSettings(source="coco")
    with pytest.raises(ValueError, match="needs data.descriptions"):
        DataSettings(source="cub", root="CUB_200_2011")
    with pytest.raises(ValueError, match="needs model.pretrained"):
        RunSettings(data=DataSettings(source="coco", root="coco"), pairs=PairSettings(pairing="pool"))
    with pytest.raises(ValueError, match="needs pairs.pairing='pool'"):
        RunSettings(data=DataSettings(source="coco", root="coco"), model=ModelSettings(pretrained="x.safetensors"))


def test_a_run_trains_on_a_caption_table_and_reports_skipped_images(tmp_path):
    torch.manual_seed(0)
    model, _ = create_model("pcclip-vit-nano")
    checkpoint = save_checkpoint(model, tmp_path / "base.safetensors", "pcclip-vit-nano")
    table = write_table(tmp_path, 8, bad=(5,))
    settings = RunSettings(
        world=WorldConfig(image_size=32),
        data=DataSettings(source="captions", root=table, bad_images="skip"),
        model=ModelSettings(name="pcclip-vit-nano", pretrained=str(checkpoint)),
        pairs=PairSettings(pairing="pool", images=6, pairs=20),
        generator=GenerationSettings.model_validate({"backend": {"backend": "rule"}, "filter": {"enabled": False}}),
        finetune=FinetuneSettings(trainable="text", epochs=1, batch_size=4, warmup_steps=0),
        eval=EvalSettings(pairs_per_attribute=2, zero_shot_per_class=1, caption_scenes=8),
        seeds=(0,),
        threads=1,
        cache_dir=tmp_path / "cache",
    )
    summary = run(settings, tmp_path / "out", log=lambda _: None)
    assert summary["training_data"]["source"] == "captions"
    assert summary["training_data"]["images"] == 6 and summary["training_data"]["skipped_images"] == 1
    finetuned = next((tmp_path / "cache" / "finetune").glob("*/pcclip-*.safetensors"))
    tuned, _ = create_model("pcclip-vit-nano", str(finetuned))
    moved = [n for n, p in tuned.state_dict().items() if not torch.equal(p, model.state_dict()[n])]
    assert moved and all(not n.startswith("visual.") for n in moved)  # text tower trained on the table's pairs
    warm = run(settings, tmp_path / "out2", log=lambda _: None)
    assert warm["results"] == summary["results"] and warm["training_data"] == summary["training_data"]

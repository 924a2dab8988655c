"""pcclip.load and the compare / rank / search commands: exact scores on a tiny model, a crafted
model whose answers are known, and one clear line for each user mistake."""

import json
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

import pcclip
from pcclip.checkpoint import save_checkpoint
from pcclip.cli import main
from pcclip.errors import PcclipError
from pcclip.inference import DifferenceModel, search_scores
from pcclip.losses import difference_directions
from pcclip.models import create_model

SENTENCES = ["the shapes are larger", "there are more shapes", "the shapes are red"]


@pytest.fixture
def nano():
    torch.manual_seed(0)
    return pcclip.load("pcclip-vit-nano", device="cpu")


@pytest.fixture
def images():
    """Five random RGB images of another size than the model's (32 px), so the transform resizes."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(5)]


@pytest.fixture
def folder(tmp_path, images):
    root = tmp_path / "images"
    root.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / f"img{i}.png")
    (root / "notes.txt").write_text("not an image")  # skipped: not an image extension
    return root


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model, _ = create_model("pcclip-vit-nano")
    return save_checkpoint(model, tmp_path / "nano.safetensors", "pcclip-vit-nano", {"seed": 0})


def test_importing_pcclip_imports_no_torch():
    # pcclip.load itself resolves in every other test here
    subprocess.run([sys.executable, "-c", "import sys, pcclip; assert 'torch' not in sys.modules"], check=True, timeout=120)


def test_compare_is_the_papers_score_and_antisymmetric(nano, images):
    a, b = images[0], images[1]
    embedded = nano.embed_images([a, b])
    text = nano.embed_texts([SENTENCES[0]])[0]
    expected = float(text @ difference_directions(embedded[0], embedded[1]))
    assert nano.compare(a, b, SENTENCES[0]) == pytest.approx(expected, abs=1e-6)
    assert nano.compare(a, b, SENTENCES[0]) == -nano.compare(b, a, SENTENCES[0])


def test_which_orders_sentences_by_their_compare_score(nano, images):
    scored = nano.which(images[0], images[1], SENTENCES)
    assert sorted(s.item for s in scored) == sorted(SENTENCES)
    assert [s.score for s in scored] == sorted((s.score for s in scored), reverse=True)
    for s in scored:
        assert s.item == SENTENCES[s.index]
        assert s.score == pytest.approx(nano.compare(images[0], images[1], s.item), abs=1e-6)


def test_paths_pil_images_and_arrays_embed_alike(nano, images, folder):
    path = folder / "img0.png"
    embedded = nano.embed_images([path, str(path), Image.open(path), images[0]])
    assert torch.allclose(embedded, embedded[0].expand_as(embedded), atol=1e-6)


def test_images_go_through_the_models_own_open_clip_transform(nano, images):
    preprocess = image_transform_v2(PreprocessCfg(**open_clip.get_model_preprocess_cfg(nano.model)), is_train=False)
    pil = Image.fromarray(np.repeat(images[0], 2, axis=1))  # 48 x 80: resized, then centre-cropped
    with torch.no_grad():
        expected = F.normalize(nano.model.encode_image(preprocess(pil).unsqueeze(0)), dim=-1)
    assert torch.allclose(nano.embed_images([pil]), expected, atol=1e-6)


def test_rank_orders_by_the_projection_on_more_minus_less(nano, images):
    ranked = nano.rank(images, more=["the shapes are larger", "bigger shapes"], less="the shapes are smaller")
    texts = nano.embed_texts(["the shapes are larger", "bigger shapes", "the shapes are smaller"])
    direction = F.normalize(F.normalize(texts[:2].mean(0), dim=-1) - texts[2], dim=-1)
    projection = nano.embed_images(images) @ direction
    assert [r.index for r in ranked] == torch.argsort(projection, descending=True).tolist()
    assert [r.score for r in ranked] == pytest.approx(sorted(projection.tolist(), reverse=True), abs=1e-6)
    assert all(r.item is images[r.index] for r in ranked)


def test_rank_takes_a_folder_or_a_batch(nano, images, folder):
    by_folder = nano.rank(folder, more="larger")
    assert [r.item for r in by_folder] == [folder / f"img{r.index}.png" for r in by_folder]
    by_batch = nano.rank(np.stack(images), more="larger")
    assert [r.index for r in by_batch] == [r.index for r in by_folder]


def test_search_excludes_the_query_and_follows_query_plus_direction(nano, images, folder):
    query = folder / "img2.png"
    results = nano.search(query, SENTENCES[1], folder, k=3)
    assert len(results) == 3 and query not in [r.item for r in results]
    others = [p for p in sorted(folder.glob("*.png")) if p != query]
    expected = search_scores(nano.embed_images([query])[0], nano.embed_texts([SENTENCES[1]])[0], nano.embed_images(others))
    assert [r.item for r in results] == [others[i] for i in torch.argsort(expected, descending=True)[:3]]
    assert [r.score for r in results] == pytest.approx(sorted(expected.tolist(), reverse=True)[:3], abs=1e-6)
    # an array query is recognised in a list gallery by its pixels, and index is the gallery position
    in_list = nano.search(images[2], SENTENCES[1], images, k=10)
    assert len(in_list) == 4 and 2 not in [r.index for r in in_list]


def test_load_reads_the_architecture_from_a_pcclip_checkpoint(checkpoint, images):
    loaded = pcclip.load(pretrained=checkpoint, device="cpu")
    torch.manual_seed(0)
    same = pcclip.load("pcclip-vit-nano", device="cpu")
    assert torch.allclose(loaded.embed_images(images), same.embed_images(images), atol=1e-6)


def test_load_takes_open_clips_own_checkpoint_files(tmp_path, images):
    torch.manual_seed(0)
    model, _ = create_model("pcclip-vit-nano")
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    loaded = pcclip.load("pcclip-vit-nano", tmp_path / "weights.pt", device="cpu")
    assert torch.allclose(loaded.embed_images(images), DifferenceModel(model, None).embed_images(images), atol=1e-6)


# --- a crafted model whose answers are known ------------------------------------------------------


class Brightness(torch.nn.Module):
    """A stand-in CLIP with a known geometry: an image embeds as (brightness, 1), its mean normalised
    pixel in [-1, 1]; 'brighter' embeds as (1, 0) and 'darker' as (-1, 0). So the direction from a
    darker to a brighter image points along 'brighter'."""

    TEXTS: ClassVar[dict[str, tuple[float, float]]] = {"brighter": (1.0, 0.0), "darker": (-1.0, 0.0)}

    def __init__(self):
        super().__init__()
        self.visual = torch.nn.Module()
        self.visual.image_size = 8
        self.visual.preprocess_cfg = {"size": 8, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

    def encode_image(self, x):
        return torch.stack([x.mean(dim=(1, 2, 3)), torch.ones(len(x))], dim=1)

    def encode_text(self, ids):
        return torch.tensor(list(self.TEXTS.values()))[ids[:, 0]]

    def tokenize(self, texts):
        return torch.tensor([[list(self.TEXTS).index(t)] for t in texts])


def grey(level: int) -> np.ndarray:
    return np.full((16, 16, 3), level, dtype=np.uint8)


@pytest.fixture
def brightness():
    model = Brightness()
    return DifferenceModel(model, model.tokenize)


def test_crafted_model_gives_the_known_answers(brightness):
    bright, dark = grey(200), grey(50)
    assert brightness.compare(bright, dark, "brighter") > 0 > brightness.compare(dark, bright, "brighter")
    assert [s.item for s in brightness.which(bright, dark, ["darker", "brighter"])] == ["brighter", "darker"]

    levels = [100, 220, 30, 160]
    ranked = brightness.rank([grey(v) for v in levels], more="brighter", less="darker")
    assert [levels[r.index] for r in ranked] == [220, 160, 100, 30]

    query = grey(128)
    gallery_levels = [30, 140, query, 200, 250, 60]
    gallery = [g if isinstance(g, np.ndarray) else grey(g) for g in gallery_levels]
    found = brightness.search(query, "brighter", gallery, k=3)
    assert [gallery_levels[r.index] for r in found] == [250, 200, 140]  # exactly the brighter ones
    found = brightness.search(query, "darker", gallery, k=2)
    assert [gallery_levels[r.index] for r in found] == [30, 60]


# --- the commands ---------------------------------------------------------------------------------


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_command_lists_sentences_best_first(capsys, folder, checkpoint):
    a, b = folder / "img0.png", folder / "img1.png"
    code, out, _ = run_cli(capsys, "compare", a, b, *SENTENCES, "--pretrained", checkpoint, "--device", "cpu")
    assert code == 0
    scored = pcclip.load(pretrained=checkpoint, device="cpu").which(a, b, SENTENCES)
    lines = out.splitlines()[1:]
    assert [line.split("  ", 1)[1] for line in lines] == [s.item for s in scored]
    assert [float(line.split()[0]) for line in lines] == pytest.approx([s.score for s in scored], abs=1e-4)


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_rank_command_prints_and_writes_the_ranking(capsys, folder, checkpoint, tmp_path, suffix):
    output = tmp_path / f"ranking{suffix}"
    code, out, _ = run_cli(
        capsys, "rank", folder, "--by", "larger", "--less", "smaller", "-o", output, "--pretrained", checkpoint, "--device", "cpu"
    )
    assert code == 0
    ranked = pcclip.load(pretrained=checkpoint, device="cpu").rank(folder, more="larger", less="smaller")
    table = out.splitlines()[1 : 1 + len(ranked)]
    assert [line.split()[2] for line in table] == [str(r.item) for r in ranked]
    if suffix == ".json":
        rows = json.loads(output.read_text())
    else:
        header, *lines = output.read_text().splitlines()
        assert header == "rank,score,image"
        rows = [dict(zip(("rank", "score", "image"), line.split(","))) for line in lines]
    assert [row["image"] for row in rows] == [str(r.item) for r in ranked]
    assert [float(row["score"]) for row in rows] == pytest.approx([r.score for r in ranked], abs=1e-6)


def test_search_command_returns_k_results_without_the_query(capsys, folder, checkpoint):
    query = folder / "img3.png"
    code, out, _ = run_cli(
        capsys, "search", query, "there are more shapes", folder, "-k", "2", "--pretrained", checkpoint, "--device", "cpu"
    )
    assert code == 0
    rows = out.splitlines()[1:]
    assert len(rows) == 2 and str(query) not in out


# --- user mistakes: one line each, no traceback ---------------------------------------------------


def test_an_unreadable_image_is_one_line(capsys, folder, checkpoint):
    broken = folder / "broken.png"
    broken.write_bytes(b"not a png")
    code, _, err = run_cli(capsys, "compare", broken, folder / "img0.png", "larger", "--pretrained", checkpoint)
    assert code == 2 and err.count("\n") == 1
    assert f"{broken}: not a readable image" in err
    code, _, err = run_cli(capsys, "compare", folder / "nowhere.png", folder / "img0.png", "larger", "--pretrained", checkpoint)
    assert code == 2 and err == f"pcclip: error: {folder / 'nowhere.png'}: no such image file\n"


def test_an_empty_folder_is_one_line(capsys, tmp_path, checkpoint):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "rank", empty, "--by", "larger", "--pretrained", checkpoint)
    assert code == 2 and err == f"pcclip: error: {empty}: holds no image files; give a folder with .png or .jpg images\n"


def test_an_empty_sentence_is_one_line(capsys, folder, checkpoint):
    code, _, err = run_cli(capsys, "compare", folder / "img0.png", folder / "img1.png", "  ", "--pretrained", checkpoint)
    assert code == 2 and err.count("\n") == 1 and "an empty sentence" in err
    with pytest.raises(PcclipError, match="an empty sentence"):
        pcclip.load(pretrained=checkpoint).search(folder / "img0.png", "", folder)


def test_a_checkpoint_of_another_architecture_is_one_line(capsys, folder, checkpoint, tmp_path):
    args = ("rank", folder, "--by", "larger", "--model", "pcclip-vit-t8-minilm", "--pretrained")
    code, _, err = run_cli(capsys, *args, checkpoint)
    assert code == 2 and err == (
        f"pcclip: error: {checkpoint}: a checkpoint of pcclip-vit-nano, not pcclip-vit-t8-minilm; "
        "pass --model pcclip-vit-nano (or leave it out)\n"
    )
    # without pcclip's metadata, the weights themselves do not fit
    from safetensors.torch import load_file, save_file

    bare = tmp_path / "bare.safetensors"
    save_file(load_file(checkpoint), bare)
    code, _, err = run_cli(capsys, *args, bare)
    assert code == 2 and err.count("\n") == 1
    assert f"could not build pcclip-vit-t8-minilm from {bare}" in err


def test_a_checkpoint_without_architecture_needs_model(capsys, folder, tmp_path):
    from safetensors.torch import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(1)}, bare)
    code, _, err = run_cli(capsys, "rank", folder, "--by", "larger", "--pretrained", bare)
    assert code == 2 and f"{bare} names no architecture: give the model name (--model" in err


def test_use_cases_script_runs_on_tiny_checkpoints(checkpoint, tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
    try:
        import use_cases
    finally:
        sys.path.pop(0)
    torch.manual_seed(1)
    other = save_checkpoint(create_model("pcclip-vit-nano")[0], tmp_path / "other.safetensors", "pcclip-vit-nano", {"seed": 1})
    results = use_cases.main(
        [
            str(checkpoint),
            str(other),
            str(checkpoint),
            "--scenes",
            "40",
            "--pairs-per-attribute",
            "1",
            "--device",
            "cpu",
            "--json",
            str(tmp_path / "uses.json"),
        ]
    )
    rows = {line[:13].strip(): [float(v) for v in line[13:].split()] for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"base", "PC-CLIP 0", "PC-CLIP 1", "PC-CLIP mean", "chance"}
    assert results["PC-CLIP 1"] == results["base"]  # the same checkpoint measures the same
    assert rows["PC-CLIP mean"] == pytest.approx([(x + y) / 2 for x, y in zip(rows["PC-CLIP 0"], rows["PC-CLIP 1"])], abs=1e-3)
    assert json.loads((tmp_path / "uses.json").read_text()) == results
    for model in results.values():
        for attribute in ("size", "count"):
            assert -1 <= model[attribute]["spearman"] <= 1
            for search in model[attribute]["search"].values():
                assert search["queries"] > 0 and 0 <= search["precision"] <= 1

"""The paper's difference-based classification tasks on real data (AwA2 predicates, CIFAR-100 size,
Flowers-102 colour, CUB attributes): loaders and fixtures in the official layouts (1-based ids and
labels as the real files have them), exact sign-test and K-way choice values on crafted embeddings
where the answer is known, the shipped tables, and the paper-scale config."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F

import pcclip.real_eval as real_eval
from pcclip.cache import settings_hash
from pcclip.config import BenchmarkSettings
from pcclip.datasets import load_awa2, load_cub_attribute_labels, load_flowers102
from pcclip.datasets.differences import cub_attributes
from pcclip.datasets.tables import awa2_comparatives, cifar100_sizes, flowers102_classes
from pcclip.errors import PcclipError
from pcclip.models import create_model
from pcclip.real_eval import evaluate_benchmark, evaluate_differences, load_benchmark, sample_difference_items
from pcclip.settings_io import load_settings
from pcclip.study import StudySettings
from test_datasets import make_awa2, write_image, write_lines, write_pickle

CONFIGS = Path(__file__).parents[1] / "configs"

AWA2_PREDICATES = """black white blue brown gray orange red yellow patches spots stripes furry hairless toughskin big
small bulbous lean flippers hands hooves pads paws longleg longneck tail chewteeth meatteeth buckteeth strainteeth
horns claws tusks smelly flys hops swims tunnels walks fast slow strong weak muscle bipedal quadrapedal active inactive
nocturnal hibernate agility fish meat plankton vegetation insects forager grazer hunter scavenger skimmer stalker
newworld oldworld arctic coastal desert bush plains forest fields jungle mountains ocean ground water tree cave fierce
timid smart group solitary nestspot domestic""".split()

CIFAR100 = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel
can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant
flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree
motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy
porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel
streetcar sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale
willow_tree wolf woman worm""".split()

# CLIP's Flowers-102 class names (openai/CLIP), list position k = imagelabels.mat label k + 1
FLOWERS102 = [
    *("pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold", "tiger lily"),
    *("moon orchid", "bird of paradise", "monkshood", "globe thistle", "snapdragon", "colt's foot", "king protea"),
    *("spear thistle", "yellow iris", "globe flower", "purple coneflower", "peruvian lily", "balloon flower"),
    *("giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger", "grape hyacinth"),
    *("corn poppy", "prince of wales feathers", "stemless gentian", "artichoke", "sweet william", "carnation"),
    *("garden phlox", "love in the mist", "mexican aster", "alpine sea holly", "ruby-lipped cattleya", "cape flower"),
    *("great masterwort", "siam tulip", "lenten rose", "barbeton daisy", "daffodil", "sword lily", "poinsettia"),
    *("bolero deep blue", "wallflower", "marigold", "buttercup", "oxeye daisy", "common dandelion", "petunia"),
    *("wild pansy", "primula", "sunflower", "pelargonium", "bishop of llandaff", "gaura", "geranium", "orange dahlia"),
    *("pink and yellow dahlia", "cautleya spicata", "japanese anemone", "black-eyed susan", "silverbush"),
    *("californian poppy", "osteospermum", "spring crocus", "bearded iris", "windflower", "tree poppy", "gazania"),
    *("azalea", "water lily", "rose", "thorn apple", "morning glory", "passion flower", "lotus", "toad lily"),
    *("anthurium", "frangipani", "clematis", "hibiscus", "columbine", "desert-rose", "tree mallow", "magnolia"),
    *("cyclamen", "watercress", "canna lily", "hippeastrum", "bee balm", "air plant", "foxglove", "bougainvillea"),
    *("camellia", "mallow", "mexican petunia", "bromelia", "blanket flower", "trumpet creeper", "blackberry lily"),
]


def fake_texts(monkeypatch, vectors: dict[str, torch.Tensor]):
    """real_eval's text encoder replaced by a table: each sentence gets a chosen (normalised) vector."""

    def encode(model, tokenizer, sentences):
        return F.normalize(torch.stack([vectors[s] for s in sentences]).float(), dim=-1)

    monkeypatch.setattr(real_eval, "encode_texts", encode)


def unit(dim: int, d: int = 8) -> torch.Tensor:
    return torch.eye(d)[dim]


def crafted_images(features: np.ndarray, d: int = 8) -> torch.Tensor:
    """Normalised embeddings: a large common component (last dimension) plus each image's features in
    the first dimensions, so that v(x1) - v(x2) points along the features' difference."""
    emb = torch.zeros(len(features), d)
    emb[:, -1] = 10.0
    emb[:, : features.shape[1]] = torch.as_tensor(features, dtype=torch.float32)
    return F.normalize(emb, dim=-1)


# --- shipped tables ---------------------------------------------------------------------------------------


def test_the_shipped_tables_cover_every_class_and_name_real_predicates():
    assert list(cifar100_sizes()) == CIFAR100  # all 100, in the dataset's class order
    assert {c for c, s in cifar100_sizes().items() if s.scene} == {"cloud", "forest", "mountain", "plain", "road", "sea"}
    assert cifar100_sizes()["elephant"].metres > 2 * cifar100_sizes()["mouse"].metres
    flowers = flowers102_classes()
    assert [c.name for c in flowers] == FLOWERS102  # all 102, label order
    assert {c.colour for c in flowers} == {"white", "yellow", "orange", "red", "pink", "purple", "blue"}
    assert (flowers[0].name, flowers[0].colour, flowers[14].colour) == ("pink primrose", "pink", "yellow")  # yellow iris
    assert set(awa2_comparatives()) <= set(AWA2_PREDICATES) and len(AWA2_PREDICATES) == 85
    assert awa2_comparatives()["big"] == ("bigger", "smaller") and awa2_comparatives()["fast"] == ("faster", "slower")


# --- settings ----------------------------------------------------------------------------------------------


def test_benchmark_settings_check_the_difference_tasks_in_one_line():
    def error(**kw) -> str:
        with pytest.raises(ValueError) as info:
            BenchmarkSettings(name="x", root="r", **kw)
        return str(info.value)

    assert "task 'size-differences' needs dataset 'cifar100'" in error(dataset="cifar10", task="size-differences")
    assert "task 'colour-differences' needs dataset 'flowers102'" in error(dataset="cub", task="colour-differences")
    assert "task 'attribute-differences' needs dataset 'cub'" in error(dataset="awa2", task="attribute-differences")
    assert "predicates without comparative words: flippers" in error(dataset="awa2", task="differences", predicates=["flippers"])
    assert "attributes must be CUB groups" in error(dataset="cub", task="attribute-differences", attributes=["tail"])
    assert "must contain {colour}" in error(dataset="flowers102", task="colour-differences", template="The first is {more}.")
    assert "choices <= 3" in error(dataset="awa2", task="differences", predicates=["big", "fast"], choices=4)
    for message in (
        error(dataset="cifar10", task="size-differences"),
        error(dataset="cub", task="attribute-differences", attributes=["x"]),
    ):
        assert message.splitlines()[1].strip().startswith("Value error, benchmark 'x'")  # one line: the message itself
    b = BenchmarkSettings(name="x", root="r", dataset="awa2", task="differences", predicates=["big", "fast"])
    assert b.choice_k == 3 and b.difference_template == "The first animal is {more} than the second."


def test_benchmarks_defined_before_the_new_options_keep_their_cache_keys():
    """The settings' dump (and so every cache key hashed from it) leaves the later options out at
    their defaults: these hashes are the ones the code before them gave."""
    awa2 = BenchmarkSettings(name="awa2-size", dataset="awa2", root="data/Animals_with_Attributes2", task="differences")
    assert settings_hash(awa2) == "2346a1794b334bc6"
    assert (
        settings_hash(BenchmarkSettings(name="cub", dataset="cub", root="data/CUB_200_2011", split="all")) == "bae587df98274692"
    )
    several = awa2.model_copy(update={"predicates": ("big", "fast")})
    assert several.model_dump()["predicates"] == ("big", "fast") and "margin" not in several.model_dump()
    assert BenchmarkSettings.model_validate(several.model_dump(mode="json")) == several


def test_the_paper_scale_config_has_the_four_difference_tasks_and_sugarcrepe():
    run = load_settings(StudySettings, CONFIGS / "paper-scale.toml").run
    tasks = {b.name: (b.dataset, b.task, str(b.root)) for b in run.benchmarks}
    assert tasks["awa2-predicates"] == ("awa2", "differences", "data/Animals_with_Attributes2")
    assert tasks["cifar100-size"] == ("cifar100", "size-differences", "data/cifar")
    assert tasks["flowers102-colour"] == ("flowers102", "colour-differences", "data/flowers-102")
    assert tasks["cub-attributes"] == ("cub", "attribute-differences", "data/CUB_200_2011")
    assert tasks["awa2-size"] == ("awa2", "differences", "data/Animals_with_Attributes2")  # kept as it was
    predicates = next(b for b in run.benchmarks if b.name == "awa2-predicates").predicates
    assert len(predicates) >= 10 and "big" in predicates and all(b.pairs == 5000 for b in run.benchmarks)
    sugarcrepe = next(b for b in run.benchmarks if b.name == "sugarcrepe")
    assert (sugarcrepe.dataset, sugarcrepe.task, str(sugarcrepe.root), str(sugarcrepe.images)) == (
        "sugarcrepe",
        "compositional",
        "data/sugar-crepe",
        "data/coco/val2017",
    )


# --- AwA2: the existing single-predicate task is unchanged ----------------------------------------------


def test_awa2_size_benchmark_gives_the_number_it_gave_before(tmp_path):
    """The numbers test_real_eval's AwA2 size benchmark gave with the code before the difference
    tasks (pinned from that code): the single-predicate path is untouched."""
    root = make_awa2(tmp_path)
    for k, image in enumerate(sorted((root / "JPEGImages").rglob("*.jpg"))):
        write_image(image, colour=(60 * k, 255 - 60 * k, 30 * k))
    b = BenchmarkSettings(name="awa2-size", dataset="awa2", root=str(root), task="differences", pairs=20)
    torch.manual_seed(0)
    model, tokenizer = create_model("pcclip-vit-nano")
    metrics = evaluate_benchmark(model, tokenizer, load_benchmark(b))
    assert metrics["difference_accuracy"] == 0.5 and metrics["difference_accuracy_ci"] == [0.5, 0.5]
    assert metrics["ranking"]["comparative"] == pytest.approx(
        {"spearman": 0.8944271909999159, "kendall": 0.8164965809277261}, abs=1e-6
    )
    assert set(metrics) == {"difference_accuracy", "difference_accuracy_ci", "ranking"}


# --- AwA2: several predicates ----------------------------------------------------------------------------

# strengths 0..100 per class id (1-based, the matrix's row order); antelope's black is -1 (not rated),
# as in the official continuous matrix
AWA2_CLASSES = ["mouse", "elephant", "cheetah", "antelope"]
AWA2_STRENGTHS = {  # black, big, fast, strong
    "mouse": (10, 5, 30, 5),
    "elephant": (0, 95, 20, 95),
    "cheetah": (20, 40, 99, 50),
    "antelope": (-1, 50, 70, 40),
}


def make_awa2_predicates(tmp_path):
    root = tmp_path / "Animals_with_Attributes2"
    write_lines(root / "classes.txt", [f"\t{i}\t{name}" for i, name in enumerate(AWA2_CLASSES, start=1)])
    write_lines(root / "predicates.txt", ["\t1\tblack", "\t2\tbig", "\t3\tfast", "\t4\tstrong"])
    rows = [AWA2_STRENGTHS[c] for c in AWA2_CLASSES]
    write_lines(root / "predicate-matrix-continuous.txt", [" ".join(f"{v:6.2f}" for v in row) for row in rows])
    write_lines(root / "predicate-matrix-binary.txt", [" ".join(str(int(v > 45)) for v in row) for row in rows])
    for name in AWA2_CLASSES:
        for i in range(2):
            write_image(root / "JPEGImages" / name / f"{name}_{10001 + i}.jpg", colour=(20 * i, 90, 200))
    return root


def awa2_embeddings(awa) -> torch.Tensor:
    strengths = np.array([AWA2_STRENGTHS[AWA2_CLASSES[label]] for label in awa.data.labels], dtype=float) / 100
    return crafted_images(strengths[:, 1:4])  # dims 0, 1, 2: big, fast, strong


def awa2_sentences(predicate: str) -> tuple[str, str]:
    more, less = awa2_comparatives()[predicate]
    return f"The first animal is {more} than the second.", f"The first animal is {less} than the second."


def test_awa2_predicates_sign_test_exact_on_crafted_embeddings(tmp_path, monkeypatch):
    """big's sentences point along the images' big dimension (always right: 1), fast's are orthogonal
    to every difference (cosine 0, a tie: 1/2), strong's point against it (always wrong: 0)."""
    root = make_awa2_predicates(tmp_path)
    b = BenchmarkSettings(
        name="awa2", dataset="awa2", root=str(root), task="differences", predicates=["big", "fast", "strong"], pairs=200
    )
    benchmark = load_benchmark(b)
    (bigger, smaller), (faster, slower), (stronger, weaker) = map(awa2_sentences, ("big", "fast", "strong"))
    fake_texts(
        monkeypatch, {bigger: unit(0), smaller: -unit(0), faster: unit(5), slower: unit(5), stronger: -unit(2), weaker: unit(2)}
    )
    metrics = evaluate_benchmark(None, None, benchmark, awa2_embeddings(load_awa2(root)))
    assert metrics["difference_accuracy_by_attribute"] == {"big": 1.0, "fast": 0.5, "strong": 0.0}
    assert metrics["difference_accuracy"] == 0.5  # the mean over predicates (each has as many pairs)
    assert metrics["difference_pairs_per_attribute"] == 200 and metrics["difference_choice_candidates"] == 4


def test_awa2_predicates_k_way_choice_is_right_for_a_model_that_reads_every_predicate(tmp_path, monkeypatch):
    root = make_awa2_predicates(tmp_path)
    b = BenchmarkSettings(
        name="awa2", dataset="awa2", root=str(root), task="differences", predicates=["big", "fast", "strong"], pairs=100
    )
    vectors = {}
    for dim, predicate in enumerate(("big", "fast", "strong")):
        more, less = awa2_sentences(predicate)
        vectors |= {more: unit(dim), less: -unit(dim)}
    fake_texts(monkeypatch, vectors)
    metrics = evaluate_benchmark(None, None, load_benchmark(b), awa2_embeddings(load_awa2(root)))
    assert metrics["difference_accuracy"] == 1.0
    assert metrics["difference_choice_accuracy"] == 1.0 and metrics["difference_choice_picks_reversed"] == 0.0
    assert metrics["difference_choice_left_out"] == 0 and set(metrics["difference_choice_accuracy_by_attribute"]) == {
        "big",
        "fast",
        "strong",
    }


def test_awa2_pairs_differ_by_the_margin_and_skip_missing_strengths(tmp_path):
    root = make_awa2_predicates(tmp_path)
    b = BenchmarkSettings(name="awa2", dataset="awa2", root=str(root), task="differences", predicates=["big", "black"], pairs=300)
    benchmark = load_benchmark(b)
    labels = benchmark.data.labels
    big, black = benchmark.attributes
    items = sample_difference_items(big, 300, 0)
    classes = {frozenset((AWA2_CLASSES[labels[i]], AWA2_CLASSES[labels[j]])) for i, j in zip(items.first, items.second)}
    assert frozenset(("cheetah", "antelope")) not in classes  # big 40 vs 50: closer than the margin (20)
    assert frozenset(("mouse", "elephant")) in classes
    first_big = np.array([AWA2_STRENGTHS[AWA2_CLASSES[labels[i]]][1] for i in items.first])
    second_big = np.array([AWA2_STRENGTHS[AWA2_CLASSES[labels[j]]][1] for j in items.second])
    assert np.array_equal(items.sentence == 0, first_big > second_big)  # 'bigger' exactly when the first is
    assert big.sentences == awa2_sentences("big")
    black_items = sample_difference_items(black, 300, 0)  # antelope's black is -1: never in a pair
    assert "antelope" not in {AWA2_CLASSES[labels[i]] for i in black_items.first}
    assert np.array_equal(
        items.first,
        sample_difference_items(load_benchmark(b.model_copy(update={"predicates": ("big",)})).attributes[0], 300, 0).first,
    )
    # without the continuous matrix, the binary one: any two classes with different bits
    (root / "predicate-matrix-continuous.txt").unlink()
    big_binary = load_benchmark(b).attributes[0]
    assert big_binary.margin == 1.0 and set(np.unique(big_binary.scores[:, 0])) == {0.0, 1.0}


# --- CIFAR-100 by size -------------------------------------------------------------------------------------


def make_cifar100(root, fine_labels):
    base = root / "cifar-100-python"
    write_pickle(base / "meta", {"fine_label_names": CIFAR100, "coarse_label_names": [f"c{i}" for i in range(20)]})
    for split in ("train", "test"):
        data = np.zeros((len(fine_labels), 3072), dtype=np.uint8)
        data[:, 0] = np.arange(len(fine_labels)) * 20
        write_pickle(
            base / split,
            {
                "filenames": [f"{i}.png" for i in range(len(fine_labels))],
                "batch_label": split,
                "data": data,
                "fine_labels": list(fine_labels),
                "coarse_labels": [0] * len(fine_labels),
            },
            numpy1_names=True,
        )
    return root


def test_cifar100_size_pairs_are_two_times_apart_and_the_sign_test_reads_size(tmp_path, monkeypatch):
    names = ["elephant", "mouse", "whale", "man", "woman", "sea", "bee", "bus"]
    root = make_cifar100(tmp_path, [CIFAR100.index(n) for n in names])
    b = BenchmarkSettings(name="c", dataset="cifar100", root=str(root), task="size-differences", pairs=300)
    benchmark = load_benchmark(b)
    assert [benchmark.data.class_names[label] for label in benchmark.data.labels] == names
    (size,) = benchmark.attributes
    assert size.sentences == ("The first object is bigger than the second.", "The first object is smaller than the second.")
    assert np.isnan(size.scores[names.index("sea")]).all()  # a scene: left out
    items = sample_difference_items(size, 300, 0)
    metres = np.array([cifar100_sizes()[n].metres for n in names])
    ratio = metres[items.first] / metres[items.second]
    assert ((ratio >= 2) | (ratio <= 0.5)).all() and np.array_equal(items.sentence == 0, ratio > 1)
    pairs = {frozenset((names[i], names[j])) for i, j in zip(items.first, items.second)}
    assert frozenset(("man", "woman")) not in pairs and frozenset(("elephant", "mouse")) in pairs
    assert not any("sea" in p for p in pairs)
    fake_texts(monkeypatch, {size.sentences[0]: unit(0), size.sentences[1]: -unit(0)})
    emb = crafted_images(np.log(metres)[:, None] / 20)
    metrics = evaluate_benchmark(None, None, benchmark, emb)
    assert metrics["difference_accuracy"] == 1.0 and "difference_choice_accuracy" not in metrics  # one attribute
    fake_texts(monkeypatch, {size.sentences[0]: -unit(0), size.sentences[1]: unit(0)})
    assert evaluate_benchmark(None, None, benchmark, emb)["difference_accuracy"] == 0.0


def test_cifar_classes_missing_from_the_size_table_are_named(tmp_path):
    base = tmp_path / "cifar-100-python"
    write_pickle(base / "meta", {"fine_label_names": [f"thing{i}" for i in range(100)], "coarse_label_names": ["c"] * 20})
    write_pickle(base / "test", {"data": np.zeros((1, 3072), dtype=np.uint8), "fine_labels": [0], "coarse_labels": [0]})
    b = BenchmarkSettings(name="c", dataset="cifar100", root=str(tmp_path), task="size-differences")
    with pytest.raises(PcclipError, match="classes not in data/cifar100_sizes.csv: thing0, thing1"):
        load_benchmark(b)


# --- Flowers-102 -----------------------------------------------------------------------------------------------

# image id k (1-based) -> label (1-based): 1 pink primrose, 102 blackberry lily, 10 globe thistle, 15 yellow
# iris, 74 rose (grown in many colours), 1 pink primrose
FLOWER_LABELS = [1, 102, 10, 15, 74, 1]


def make_flowers(tmp_path, labels=FLOWER_LABELS):
    root = tmp_path / "flowers-102"
    for k in range(1, len(labels) + 1):
        write_image(root / "jpg" / f"image_{k:05d}.jpg", colour=(40 * k, 0, 0))
    scipy.io.savemat(root / "imagelabels.mat", {"labels": np.array([labels], dtype=np.float64)})  # (1, N) doubles
    ids = {"trnid": [2, 4], "valid": [6], "tstid": [1, 3, 5]}  # 1-based image ids
    scipy.io.savemat(root / "setid.mat", {k: np.array([v], dtype=np.uint16) for k, v in ids.items()})
    return root


def test_flowers102_official_layout_counts_ids_and_labels_from_one(tmp_path):
    root = make_flowers(tmp_path)
    test = load_flowers102(root)  # tstid: images 1, 3, 5
    assert [p.name for p in test.images.paths] == ["image_00001.jpg", "image_00003.jpg", "image_00005.jpg"]
    # label 1 is class 0: image 1 is a pink primrose (not the 'hard-leaved pocket orchid' of label 2),
    # and image 3's label is imagelabels.mat's third entry (10), not the fourth
    assert [test.class_names[label] for label in test.labels] == ["pink primrose", "globe thistle", "rose"]
    assert test.labels.tolist() == [0, 9, 73] and len(test.class_names) == 102
    assert np.abs(test.images.load([1], 8)[0, 0, 0].astype(int) - (120, 0, 0)).max() <= 2  # image 3's own pixels
    assert load_flowers102(root, "train").labels.tolist() == [101, 14]  # blackberry lily (label 102), yellow iris
    assert load_flowers102(root, "val").labels.tolist() == [0]
    assert load_flowers102(tmp_path, "all").labels.tolist() == [0, 101, 9, 14, 73, 0]  # torchvision's root works too


def test_flowers102_errors_name_the_file_and_the_layout(tmp_path):
    root = make_flowers(tmp_path)
    with pytest.raises(PcclipError, match="split must be train, val, test or all"):
        load_flowers102(root, "validation")
    scipy.io.savemat(root / "imagelabels.mat", {"labels": np.array([[0, 101, 9, 14, 73, 0]], dtype=np.float64)})
    with pytest.raises(PcclipError, match=r"imagelabels.mat: labels must lie in 1..102 \(1-based\); found 0..101"):
        load_flowers102(root)
    (root / "setid.mat").unlink()
    make_flowers(tmp_path)
    scipy.io.savemat(root / "setid.mat", {"trnid": np.array([[0, 1]])})
    with pytest.raises(PcclipError, match="setid.mat: no 'tstid' variable .*Flowers-102 folder"):
        load_flowers102(root)
    with pytest.raises(PcclipError, match=r"'trnid' ids must lie in 1..6 \(1-based"):
        load_flowers102(root, "train")
    (root / "setid.mat").unlink()
    with pytest.raises(PcclipError, match="setid.mat: file not found; expected the Oxford Flowers-102 folder"):
        load_flowers102(root)


def test_flowers102_colour_sign_test_on_crafted_embeddings(tmp_path, monkeypatch):
    root = make_flowers(tmp_path)
    b = BenchmarkSettings(name="f", dataset="flowers102", root=str(root), split="all", task="colour-differences", pairs=200)
    benchmark = load_benchmark(b)
    (colour,) = benchmark.attributes
    colours = [s.removeprefix("The first flower is more ").removesuffix(" than the second.") for s in colour.sentences]
    assert colours[:3] == ["pink", "purple", "orange"]  # the table's first-seen order
    assert np.isnan(colour.scores[4]).all()  # the rose: grown in many colours, left out by default
    items = sample_difference_items(colour, 200, 0)
    image_colour = ["pink", "orange", "blue", "yellow", None, "pink"]
    assert all(image_colour[i] is not None and image_colour[i] != image_colour[j] for i, j in zip(items.first, items.second))
    assert all(colours[s] == image_colour[i] for s, i in zip(items.sentence, items.first))  # "more <first's colour>"
    assert all(colours[s] == image_colour[j] for s, j in zip(items.reversed, items.second))
    fake_texts(monkeypatch, {s: unit(k) for k, s in enumerate(colour.sentences)})
    features = np.array([[float(c == name) for name in colours] for c in image_colour])
    assert evaluate_benchmark(None, None, benchmark, crafted_images(features))["difference_accuracy"] == 1.0
    rose = load_benchmark(b.model_copy(update={"include_varied": True})).attributes[0].scores[4]
    assert rose.tolist() == [float(c == "pink") for c in colours]


# --- CUB-200-2011 attributes -------------------------------------------------------------------------------

CUB_ATTRIBUTES = [  # ids 1.. in the official order within each group (bill length 149-151, size 219-223)
    "has_bill_length::about_the_same_as_head",
    "has_bill_length::longer_than_head",
    "has_bill_length::shorter_than_head",
    "has_wing_color::blue",
    "has_wing_color::yellow",
    "has_wing_color::black",
    "has_size::large_(16_-_32_in)",
    "has_size::small_(5_-_9_in)",
    "has_size::very_large_(32_-_72_in)",
    "has_size::medium_(9_-_16_in)",
    "has_size::very_small_(3_-_5_in)",
]
# image id -> {attribute id: (is_present, certainty_id)}; absent entries: (0, that group's certainty)
CUB_ANNOTATIONS = {
    1: ({4: 1, 11: 1, 3: 1}, {"bill": 4, "wing": 3, "size": 4}),  # blue wings, very small, bill shorter than head
    2: ({5: 1, 9: 1, 2: 1}, {"bill": 3, "wing": 4, "size": 3}),  # yellow wings, very large, bill longer
    3: ({4: 1, 10: 1, 1: 1}, {"bill": 2, "wing": 2, "size": 1}),  # guessed / not visible: all unknown
    4: ({4: 1, 5: 1, 2: 1, 3: 1}, {"bill": 3, "wing": 3, "size": 3}),  # blue and yellow; no size; two bill lengths
    5: ({6: 1, 8: 1, 1: 1}, {"bill": 3, "wing": 4, "size": 3}),  # black wings, small, bill about the head's length
}


def make_cub_attributes(tmp_path):
    root = tmp_path / "CUB_200_2011"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    paths = {i: f"{classes[i % 2]}/{classes[i % 2][4:]}_{i:04d}_{700 + i}.jpg" for i in CUB_ANNOTATIONS}
    for i, path in paths.items():
        write_image(root / "images" / path, colour=(40 * i, 40, 0))
    write_lines(root / "images.txt", [f"{i} {paths[i]}" for i in (3, 1, 5, 2, 4)])
    write_lines(root / "classes.txt", [f"{k + 1} {name}" for k, name in enumerate(classes)])
    write_lines(root / "image_class_labels.txt", [f"{i} {i % 2 + 1}" for i in CUB_ANNOTATIONS])
    write_lines(root / "train_test_split.txt", [f"{i} {int(i == 2)}" for i in CUB_ANNOTATIONS])  # image 2 trains
    write_lines(tmp_path / "attributes.txt", [f"{k} {name}" for k, name in enumerate(CUB_ATTRIBUTES, start=1)])
    group = {"bill": range(1, 4), "wing": range(4, 7), "size": range(7, 12)}
    lines = []
    for image, (present, certainty) in reversed(CUB_ANNOTATIONS.items()):  # out of id order
        for part, ids in group.items():
            lines += [f"{image} {k} {present.get(k, 0)} {certainty[part]} 2.5" for k in ids]
    lines[3] += " 0"  # the extra field a few official lines carry
    write_lines(root / "attributes" / "image_attribute_labels.txt", lines)
    write_lines(root / "attributes" / "certainties.txt", ["1 not visible", "2 guessing", "3 probably", "4 definitely"])
    return root


def test_cub_attribute_labels_read_one_based_ids_with_certainty(tmp_path):
    labels = load_cub_attribute_labels(make_cub_attributes(tmp_path), "all")
    assert labels.attribute_names == tuple(CUB_ATTRIBUTES) and labels.image_ids.tolist() == [1, 2, 3, 4, 5]
    assert labels.present[0].tolist() == [k in (3, 4, 11) for k in range(1, 12)]  # attribute id k in column k - 1
    assert labels.certainty[2].tolist() == [2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1]
    wing, size, bill = cub_attributes(labels, ("wing_color", "size", "bill_length"))
    assert wing.sentences == tuple(f"The first bird's wings are more {c} than the second's." for c in ("blue", "yellow", "black"))
    nan = np.nan
    assert np.array_equal(wing.scores, [[1, 0, 0], [0, 1, 0], [nan, nan, nan], [1, 1, 0], [0, 0, 1]], equal_nan=True)
    assert np.array_equal(size.scores[:, 0], [0, 4, nan, nan, 1], equal_nan=True)  # very small .. very large
    assert np.array_equal(bill.scores[:, 0], [0, 2, nan, nan, 1], equal_nan=True)  # shorter, about the same, longer
    assert bill.sentences == (
        "The first bird's bill is longer than the second's.",
        "The first bird's bill is shorter than the second's.",
    )
    test = load_cub_attribute_labels(tmp_path / "CUB_200_2011", "test")  # image 2 is a training image
    assert test.image_ids.tolist() == [1, 3, 4, 5] and test.present[1].tolist() == labels.present[2].tolist()


def test_cub_pairs_differ_with_confidence(tmp_path):
    labels = load_cub_attribute_labels(make_cub_attributes(tmp_path), "all")
    wing, size, _ = cub_attributes(labels, ("wing_color", "size", "bill_length"))
    items = sample_difference_items(wing, 400, 0)
    pairs = {frozenset((int(i) + 1, int(j) + 1)) for i, j in zip(items.first, items.second)}
    # 3's colours are guessed; 4 (blue and yellow) differs from 1 (blue) or 2 (yellow) in no colour one has alone
    assert pairs == {frozenset(p) for p in ((1, 2), (1, 5), (2, 5), (4, 5))}
    blue_yellow = (items.first == 0) & (items.second == 1)
    assert set(items.sentence[blue_yellow]) == {0} and set(items.reversed[blue_yellow]) == {1}  # "more blue" / "more yellow"
    size_items = sample_difference_items(size, 400, 0)
    assert {frozenset((int(i) + 1, int(j) + 1)) for i, j in zip(size_items.first, size_items.second)} == {
        frozenset(p) for p in ((1, 2), (1, 5), (2, 5))
    }


def test_cub_attribute_task_sign_test_and_choice_on_crafted_embeddings(tmp_path, monkeypatch):
    b = BenchmarkSettings(
        name="cub", dataset="cub", root=str(make_cub_attributes(tmp_path)), split="all", task="attribute-differences", pairs=100
    )
    benchmark = load_benchmark(b)
    wing, size, bill = benchmark.attributes
    vectors = {s: unit(k) for k, s in enumerate(wing.sentences)}  # dims 0-2: blue, yellow, black
    vectors |= {size.sentences[0]: unit(3), size.sentences[1]: -unit(3), bill.sentences[0]: unit(4), bill.sentences[1]: -unit(4)}
    fake_texts(monkeypatch, vectors)
    features = np.nan_to_num(np.concatenate([wing.scores, size.scores[:, :1] / 10, bill.scores[:, :1] / 10], axis=1))
    metrics = evaluate_benchmark(None, None, benchmark, crafted_images(features))
    assert metrics["difference_accuracy_by_attribute"] == {"wing_color": 1.0, "size": 1.0, "bill_length": 1.0}
    assert metrics["difference_choice_accuracy"] == 1.0 and metrics["difference_choice_candidates"] == 4
    assert metrics["difference_choice_picks_reversed"] == 0.0


@pytest.mark.filterwarnings("ignore:zero-shot. class .* has no images")  # the Flowers fixture has 5 of 102 classes
def test_the_difference_benchmarks_run_on_a_real_model(tmp_path):
    """Every new benchmark through load_benchmark and evaluate_benchmark with the nano model: numbers in
    range, the same twice (seeded)."""
    torch.manual_seed(0)
    model, tokenizer = create_model("pcclip-vit-nano")
    specs = [
        dict(dataset="awa2", root=make_awa2_predicates(tmp_path / "a"), task="differences", predicates=["big", "fast", "strong"]),
        dict(dataset="cifar100", root=make_cifar100(tmp_path / "c", [31, 50, 95, 6]), task="size-differences"),
        dict(dataset="flowers102", root=make_flowers(tmp_path / "f"), split="all", task="colour-differences"),
        dict(dataset="cub", root=make_cub_attributes(tmp_path / "b"), split="all", task="attribute-differences"),
        dict(dataset="flowers102", root=make_flowers(tmp_path / "z"), split="all"),  # zero-shot on Flowers-102 too
    ]
    for spec in specs:
        b = BenchmarkSettings(name="x", pairs=30, **spec)
        benchmark = load_benchmark(b)
        metrics = evaluate_benchmark(model, tokenizer, benchmark)
        headline = real_eval.headline(b, metrics)
        assert 0 <= headline <= 1 and metrics == evaluate_benchmark(model, tokenizer, benchmark)
        if len(benchmark.attributes) > 1:
            assert 0 <= metrics["difference_choice_accuracy"] <= 1


def test_a_task_without_differing_pairs_says_so(tmp_path):
    root = make_flowers(tmp_path, labels=[1, 1, 1, 1, 1, 1])
    b = BenchmarkSettings(name="f", dataset="flowers102", root=str(root), split="all", task="colour-differences")
    with pytest.raises(PcclipError, match="difference task 'colour': found 0 of 5000 image pairs that differ"):
        evaluate_differences(
            None, None, load_benchmark(b).data.images, load_benchmark(b).attributes, image_embeddings=torch.zeros(6, 8)
        )

"""Real-data loaders on tiny fixtures written in exactly the official layouts: labels, class names and
attributes come out right, and a missing file is named in the error."""

import json
import pickle

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pcclip.datasets import (
    ImageArray,
    ImageFiles,
    encode_image_source,
    gather_comparatives,
    load_awa2,
    load_cifar,
    load_coco_captions,
    load_cub,
    load_cub_attribute_labels,
    load_image_folder,
    read_comparatives,
)
from pcclip.datasets.cifar import read_batch
from pcclip.datasets.images import model_preprocess
from pcclip.encode import encode_images, images_to_tensor
from pcclip.errors import PcclipError
from pcclip.models import create_model, register_model_configs


def write_image(path, colour=(255, 0, 0), size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


# --- images ------------------------------------------------------------------------------------------


def test_images_are_resized_on_the_shorter_side_and_centre_cropped(tmp_path):
    image = np.zeros((20, 40, 3), dtype=np.uint8)  # wide: red left quarter, green middle half, blue right quarter
    image[:, :10] = (255, 0, 0)
    image[:, 10:30] = (0, 255, 0)
    image[:, 30:] = (0, 0, 255)
    Image.fromarray(image).save(tmp_path / "wide.png")
    loaded = ImageFiles([tmp_path / "wide.png"]).load([0], 10)
    assert loaded.shape == (1, 10, 10, 3) and loaded.dtype == np.uint8
    assert (loaded[0, :, 2:8] == (0, 255, 0)).all()  # the crop keeps the middle
    array = ImageArray(np.stack([image[:, :20], image[:, 20:]]))
    assert array.load([1], 10).shape == (1, 10, 10, 3)
    assert np.array_equal(ImageArray(image[None, :, :20]).load([0], 20)[0], image[:, :20])  # right size: as is


@pytest.mark.parametrize("resize", [{}, {"image_resize_mode": "squash", "image_interpolation": "bilinear"}])  # CLIP's, SigLIP's
@pytest.mark.parametrize("mode, shape", [("RGB", (30, 70, 3)), ("L", (70, 30))])
def test_real_images_are_preprocessed_exactly_as_open_clips_own_val_transform(tmp_path, resize, mode, shape):
    register_model_configs()
    model, _, val = open_clip.create_model_and_transforms("pcclip-vit-nano", **resize)
    path = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    with Image.open(path) as image:
        expected = val(image)
    preprocess = model_preprocess(model)
    assert preprocess.resize_mode == resize.get("image_resize_mode", "shortest")
    assert torch.equal(images_to_tensor(ImageFiles([path]).load([0], preprocess), model)[0], expected)
    with torch.no_grad():
        embedded = model.encode_image(expected[None])
    assert torch.allclose(encode_image_source(model, ImageFiles([path])), F.normalize(embedded, dim=-1), atol=1e-6)


def test_a_missing_image_file_is_named(tmp_path):
    with pytest.raises(PcclipError, match="gone.jpg: image file not found"):
        ImageFiles([tmp_path / "gone.jpg"]).load([0], 8)


def test_encode_image_source_matches_encoding_the_arrays():
    torch.manual_seed(0)
    model, _ = create_model("pcclip-vit-nano")
    rng = np.random.default_rng(0)
    source = ImageArray(rng.integers(0, 256, size=(5, 16, 16, 3), dtype=np.uint8))
    embedded = encode_image_source(model, source, batch_size=2)
    assert torch.allclose(embedded, encode_images(model, source.load(range(5), 32)), atol=1e-6)


# --- ImageFolder ---------------------------------------------------------------------------------------


def test_image_folder(tmp_path):
    root = tmp_path / "folder"
    write_image(root / "dog" / "b.png")
    write_image(root / "dog" / "nested" / "c.JPG")
    write_image(root / "cat" / "a.png")
    write_lines(root / "cat" / "notes.txt", ["not an image"])
    write_image(root / "cat" / ".hidden.png")
    (root / "emu").mkdir()
    data = load_image_folder(root)
    assert data.class_names == ("cat", "dog", "emu")  # sorted, the empty class kept
    assert [p.name for p in data.images.paths] == ["a.png", "b.png", "c.JPG"]
    assert data.labels.tolist() == [0, 1, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(PcclipError, match="missing: directory not found"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "a.png")
    with pytest.raises(PcclipError, match="no class folders"):
        load_image_folder(tmp_path / "flat")


# --- CIFAR ---------------------------------------------------------------------------------------------


def write_pickle(path, obj, numpy1_names=False):
    """A protocol-2 pickle as the official files are; numpy1_names rewrites numpy 2's module name to
    numpy 1's 'numpy.core.multiarray', which is what the files published in 2009 reference."""
    blob = pickle.dumps(obj, protocol=2)
    if numpy1_names:
        blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)


def cifar_rows(n, label_offset):
    """n images whose pixel (row 0, column 1) has red = 10 * label, and nothing else set."""
    data = np.zeros((n, 3072), dtype=np.uint8)
    labels = [(label_offset + i) % 10 for i in range(n)]
    data[:, 1] = [10 * label for label in labels]  # red plane comes first, row-major
    data[:, 1024 + 32] = 7  # green plane, pixel (row 1, column 0)
    return data, labels


def make_cifar10(root, numpy1_names=True):
    base = root / "cifar-10-batches-py"
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_pickle(base / "batches.meta", {"label_names": names, "num_cases_per_batch": 3, "num_vis": 3072})
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data, labels = cifar_rows(3, i)
        batch = {"batch_label": f"batch {i}", "labels": labels, "data": data, "filenames": [f"f{j}.png" for j in range(3)]}
        write_pickle(base / name, batch, numpy1_names)
    return names


def test_cifar10_pickle_layout(tmp_path):
    names = make_cifar10(tmp_path)
    test = load_cifar(tmp_path, "cifar10", "test")
    assert test.class_names == tuple(names)
    assert test.labels.tolist() == [5, 6, 7]
    images = test.images.load(range(3), 32)
    assert images[:, 0, 1, 0].tolist() == [50, 60, 70]  # red of pixel (0, 1) = 10 * label
    assert images[:, 1, 0, 1].tolist() == [7, 7, 7] and images[:, 0, 1, 1].tolist() == [0, 0, 0]
    train = load_cifar(tmp_path / "cifar-10-batches-py", "cifar10", "train")  # the folder itself works too
    assert len(train.labels) == 15 and train.labels[:3].tolist() == [0, 1, 2]


def test_cifar100_fine_and_coarse_labels(tmp_path):
    base = tmp_path / "cifar-100-python"
    fine = [f"fine{i}" for i in range(100)]
    coarse = [f"coarse{i}" for i in range(20)]
    write_pickle(base / "meta", {"fine_label_names": fine, "coarse_label_names": coarse})
    for split, labels in (("train", [3, 99]), ("test", [42, 7])):
        data = np.zeros((2, 3072), dtype=np.uint8)
        write_pickle(
            base / split,
            {
                "filenames": ["a", "b"],
                "batch_label": split,
                "fine_labels": labels,
                "coarse_labels": [label // 5 for label in labels],
                "data": data,
            },
        )
    test = load_cifar(tmp_path, "cifar100", "test")
    assert test.labels.tolist() == [42, 7] and test.class_names[42] == "fine42"
    coarse_test = load_cifar(tmp_path, "cifar100", "test", label_kind="coarse")
    assert coarse_test.labels.tolist() == [8, 1] and len(coarse_test.class_names) == 20


def test_cifar_batches_with_bytes_keys_load_too(tmp_path):
    data, labels = cifar_rows(2, 0)
    write_pickle(tmp_path / "batch", {b"data": data, b"labels": labels})
    assert set(read_batch(tmp_path / "batch")) == {"data", "labels"}


def test_cifar_missing_batch_is_named(tmp_path):
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(PcclipError, match="data_batch_3: file not found; expected .*python-pickle layout"):
        load_cifar(tmp_path, "cifar10", "train")
    with pytest.raises(PcclipError, match="cifar-100-python/meta: file not found"):
        load_cifar(tmp_path, "cifar100", "test")


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({"label_names": Exploit()}, protocol=2))
    with pytest.raises(PcclipError, match="system is not allowed in a CIFAR batch"):
        load_cifar(tmp_path, "cifar10", "test")


# --- CUB-200-2011 --------------------------------------------------------------------------------------


def make_cub(tmp_path):
    """3 classes, 6 images (ids 1-6; even ids are training images), 4 attributes; lines deliberately
    out of id order, and one attribute line with the extra field some official lines have."""
    root = tmp_path / "CUB_200_2011"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    image_class = {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3}
    paths = {i: f"{classes[c - 1]}/{classes[c - 1][4:]}_{i:04d}.jpg" for i, c in image_class.items()}
    for i, path in paths.items():
        write_image(root / "images" / path, colour=(40 * i, 0, 0))
    write_lines(root / "images.txt", [f"{i} {paths[i]}" for i in (3, 1, 2, 6, 5, 4)])
    write_lines(root / "classes.txt", [f"{i + 1} {name}" for i, name in enumerate(classes)])
    write_lines(root / "image_class_labels.txt", [f"{i} {image_class[i]}" for i in (6, 5, 4, 3, 2, 1)])
    write_lines(root / "train_test_split.txt", [f"{i} {int(i % 2 == 0)}" for i in range(1, 7)])
    write_lines(
        tmp_path / "attributes.txt",
        [
            "1 has_bill_shape::curved_(up_or_down)",
            "2 has_size::large_(16_-_32_in)",
            "3 has_size::small_(5_-_9_in)",
            "4 has_wing_color::black",
        ],
    )
    # image i has attribute ((i - 1) % 4) + 1 present, all others absent
    lines = [f"{i} {k} {int(k == (i - 1) % 4 + 1)} 3 1.0" for i in range(1, 7) for k in range(1, 5)]
    lines[5] = lines[5] + " 0"  # an extra sixth field, as on a few official lines
    write_lines(root / "attributes" / "image_attribute_labels.txt", lines)
    continuous = [[10.0, 90.0, 0.0, 5.5], [20.0, 80.0, 1.0, 0.0], [0.0, 0.0, 100.0, 50.0]]
    write_lines(root / "attributes" / "class_attribute_labels_continuous.txt", [" ".join(map(str, row)) for row in continuous])
    write_lines(root / "attributes" / "certainties.txt", ["1 not visible", "2 guessing", "3 probably", "4 definitely"])
    return root


def test_cub_official_layout(tmp_path):
    root = make_cub(tmp_path)
    cub = load_cub(root, "test")
    assert cub.image_ids.tolist() == [1, 3, 5]
    assert cub.data.labels.tolist() == [0, 1, 2]
    assert cub.data.class_names == ("Black footed Albatross", "Laysan Albatross", "Sooty Albatross")
    assert [p.name for p in cub.data.images.paths] == [
        "Black_footed_Albatross_0001.jpg",
        "Laysan_Albatross_0003.jpg",
        "Sooty_Albatross_0005.jpg",
    ]
    assert np.abs(cub.data.images.load([1], 8)[0, 0, 0].astype(int) - (120, 0, 0)).max() <= 2  # image 3's colour (JPEG)
    assert cub.attribute_names[1] == "has_size::large_(16_-_32_in)"
    # image 1 -> attribute 1, image 3 -> attribute 3, image 5 -> attribute 1
    assert cub.image_attributes.tolist() == [
        [True, False, False, False],
        [False, False, True, False],
        [True, False, False, False],
    ]
    assert cub.class_attributes[2, 2] == 100.0 and cub.class_attributes.shape == (3, 4)
    train = load_cub(root, "train")
    assert train.image_ids.tolist() == [2, 4, 6] and train.data.labels.tolist() == [0, 1, 2]
    assert train.image_attributes[1].tolist() == [False, False, False, True]  # image 4 -> attribute 4
    assert load_cub(root, "all", attributes=False).image_attributes.shape == (6, 0)


def test_cub_attribute_labels_have_one_reader(tmp_path):
    """load_cub's attributes and load_cub_attribute_labels read the same file the same way, and refuse
    the same line with the same message."""
    root = make_cub(tmp_path)
    labels = load_cub_attribute_labels(root, "all")
    assert load_cub(root, "all").image_attributes.tolist() == labels.present.tolist()
    assert labels.certainty.tolist() == [[3, 3, 3, 3]] * 6
    path = root / "attributes" / "image_attribute_labels.txt"
    lines = path.read_text().splitlines()
    lines[2] = "1 3 0 5 1.0"  # certainty_id 5: there are four
    path.write_text("\n".join(lines) + "\n")
    message = (
        f"{path}: line 3: image id 1 (1..6), attribute id 3 (1..4), is_present 0 (0/1) or certainty_id 5 (1..4) out of range"
    )
    for load in (load_cub, load_cub_attribute_labels):
        with pytest.raises(PcclipError) as error:
            load(root)
        assert str(error.value) == message


def test_cub_missing_files_are_named(tmp_path):
    root = make_cub(tmp_path)
    (tmp_path / "attributes.txt").unlink()
    with pytest.raises(PcclipError, match="attributes.txt not found; looked for"):
        load_cub(root)
    (root / "image_class_labels.txt").unlink()
    with pytest.raises(PcclipError, match="image_class_labels.txt: file not found; expected the CUB_200_2011 folder"):
        load_cub(root)


def test_cub_zero_based_ids_are_refused(tmp_path):
    root = make_cub(tmp_path)
    write_lines(root / "classes.txt", ["0 001.Black_footed_Albatross", "1 002.Laysan_Albatross", "2 003.Sooty_Albatross"])
    with pytest.raises(PcclipError, match=r"classes.txt: the 3 ids must run 1..3 \(1-based\), found 0..2"):
        load_cub(root)


# --- AwA2 ---------------------------------------------------------------------------------------------


def make_awa2(tmp_path):
    root = tmp_path / "Animals_with_Attributes2"
    write_lines(root / "classes.txt", ["\t1\tmouse", "\t2\telephant", "\t3\tgrizzly+bear"])
    write_lines(root / "predicates.txt", ["\t1\tblack", "\t2\tbig", "\t3\tsmall"])
    # rows: class ids 1, 2, 3; columns: predicate ids 1, 2, 3
    write_lines(root / "predicate-matrix-binary.txt", ["0 0 1", "0 1 0", "1 1 0"])
    write_lines(root / "predicate-matrix-continuous.txt", ["  1.25  0.00 87.50", "  0.00 95.00  0.00", " 80.00 70.00  2.50"])
    write_lines(root / "trainclasses.txt", ["mouse", "grizzly+bear"])
    write_lines(root / "testclasses.txt", ["elephant"])
    for name, n in (("mouse", 2), ("elephant", 1), ("grizzly+bear", 1)):
        for i in range(n):
            write_image(root / "JPEGImages" / name / f"{name}_{10001 + i}.jpg")
    return root


def test_awa2_reads_big_as_big(tmp_path):
    """The authors' code read 1-based predicate ids as 0-based, so "big" (id 2) came from column 2,
    "small": elephants were small. Here elephants are big, mice small, and grizzly bears black."""
    awa = load_awa2(make_awa2(tmp_path))
    assert awa.data.class_names == ("mouse", "elephant", "grizzly bear")
    assert awa.predicate("elephant", "big") == 1 and awa.predicate("elephant", "small") == 0
    assert awa.predicate("mouse", "big") == 0 and awa.predicate("mouse", "small") == 1
    assert awa.predicate("grizzly bear", "black") == 1 and awa.predicate("mouse", "black") == 0
    assert awa.predicate("elephant", "big", continuous=True) == 95.0
    assert awa.data.labels.tolist() == [0, 0, 1, 2]
    assert awa.image_values("big").tolist() == [0, 0, 1, 1]


def test_awa2_splits_keep_the_matrix_rows_of_their_classes(tmp_path):
    root = make_awa2(tmp_path)
    train = load_awa2(root, "train")
    assert train.data.class_names == ("mouse", "grizzly bear")
    assert train.predicate("grizzly bear", "black") == 1  # row 3, not row 2 (the split's second class)
    assert train.image_values("small").tolist() == [1, 1, 0]
    with pytest.raises(PcclipError, match="no class 'elephant' in this split"):
        train.predicate("elephant", "big")


def test_awa2_errors_name_the_file(tmp_path):
    root = make_awa2(tmp_path)
    write_lines(root / "predicate-matrix-binary.txt", ["0 0 1", "0 1 0"])
    with pytest.raises(PcclipError, match=r"predicate-matrix-binary.txt: expected 3 rows \(classes.txt\) x 3 columns"):
        load_awa2(root)
    (root / "predicate-matrix-binary.txt").unlink()
    with pytest.raises(
        PcclipError, match="predicate-matrix-binary.txt: file not found; expected the Animals_with_Attributes2 folder"
    ):
        load_awa2(root)


# --- COCO captions --------------------------------------------------------------------------------------


def make_coco(tmp_path):
    root = tmp_path / "coco"
    for image_id in (139, 285, 632):
        write_image(root / "val2017" / f"{image_id:012d}.jpg")
    content = {
        "info": {},
        "licenses": [],
        "images": [
            {"id": 632, "file_name": "000000000632.jpg", "height": 8, "width": 8},
            {"id": 139, "file_name": "000000000139.jpg", "height": 8, "width": 8},
            {"id": 285, "file_name": "000000000285.jpg", "height": 8, "width": 8},
        ],
        "annotations": [
            {"image_id": 285, "id": 9, "caption": "A big bear. "},
            {"image_id": 139, "id": 4, "caption": "A living room."},
            {"image_id": 139, "id": 2, "caption": "A room with a TV."},
            {"image_id": 632, "id": 7, "caption": "A bedroom."},
        ],
    }
    (root / "annotations").mkdir()
    (root / "annotations" / "captions_val2017.json").write_text(json.dumps(content))
    return root


def test_coco_captions(tmp_path):
    coco = load_coco_captions(make_coco(tmp_path))
    assert [p.name for p in coco.images.paths] == ["000000000139.jpg", "000000000285.jpg", "000000000632.jpg"]
    assert coco.captions == ["A room with a TV.", "A living room.", "A big bear.", "A bedroom."]
    assert coco.caption_owner.tolist() == [0, 0, 1, 2]
    first_two = load_coco_captions(tmp_path / "coco", max_images=2)
    assert len(first_two.images) == 2 and first_two.caption_owner.tolist() == [0, 0, 1]


def test_coco_errors(tmp_path):
    root = make_coco(tmp_path)
    with pytest.raises(PcclipError, match="captions_train2017.json: file not found"):
        load_coco_captions(root, split="train2017")
    content = json.loads((root / "annotations" / "captions_val2017.json").read_text())
    content["annotations"].append({"image_id": 1, "id": 99, "caption": "orphan"})
    (root / "annotations" / "captions_val2017.json").write_text(json.dumps(content))
    with pytest.raises(PcclipError, match=r"annotations\[4\] needs a string 'caption' and an 'image_id' listed"):
        load_coco_captions(root)


# --- comparatives ---------------------------------------------------------------------------------------


def test_comparatives_from_jsonl_and_csv(tmp_path):
    jsonl = write_lines(
        tmp_path / "c.jsonl",
        [
            json.dumps({"first": "crab", "second": "lobster", "text": "Crabs are round."}),
            "",
            json.dumps({"first": "lobster", "second": "crab", "text": "Lobsters are long."}),
        ],
    )
    csv_file = write_lines(tmp_path / "c.csv", ["first,second,text", 'crab,lobster,"Crabs are round, lobsters long."'])
    assert [c.first for c in read_comparatives(jsonl)] == ["crab", "lobster"]
    assert read_comparatives(csv_file)[0].text == "Crabs are round, lobsters long."
    records = read_comparatives(jsonl)
    assert gather_comparatives(["lobster", "crab"], [(1, 0)], records) == ([1], [0], ["Crabs are round."])
    written = gather_comparatives(["lobster", "crab"], [(0, 1)], lambda a, c: [f"{a} vs {c}", f"{a} not {c}"])
    assert written == ([0, 0], [1, 1], ["lobster vs crab", "lobster not crab"])


def test_comparative_file_errors(tmp_path):
    bad = write_lines(
        tmp_path / "bad.jsonl", [json.dumps({"first": "crab", "second": "lobster", "text": "x"}), json.dumps({"first": "crab"})]
    )
    with pytest.raises(PcclipError, match="bad.jsonl: line 2: needs non-empty strings"):
        read_comparatives(bad)
    header = write_lines(tmp_path / "h.csv", ["a,b,text", "crab,lobster,x"])
    with pytest.raises(PcclipError, match="h.csv: line 1: the header must name the columns first, second, text"):
        read_comparatives(header)
    unknown = write_lines(tmp_path / "u.jsonl", [json.dumps({"first": "crab", "second": "shrimp", "text": "x"})])
    with pytest.raises(PcclipError, match="names 'shrimp', not a class of this task"):
        gather_comparatives(["crab", "lobster"], [(0, 1)], read_comparatives(unknown))

"""Use what PC-CLIP learned: compare, rank and search images by how they differ.

    import pcclip
    model = pcclip.load("pcclip-vit-t8-minilm", "pcclip.safetensors")
    model.compare("a.png", "b.png", "the shapes in the first image are larger")   # > 0: says how a differs from b
    model.rank("photos/", more="the shapes are larger", less="the shapes are smaller")
    model.search("query.png", "there are more shapes", "photos/", k=5)

Every score is a cosine in the space PC-CLIP trains, where the direction from image b to image a,
normalize(normalize(a) - normalize(b)), points the way the embedding of a sentence saying how a
differs from b points. Images may be file paths, PIL images or uint8 arrays (H, W, 3); a set of
images may also be a folder or a uint8 batch (N, H, W, 3). Each image goes through the model's own
open_clip eval transform (resize, centre crop, RGB) and is embedded in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.transform import PreprocessCfg
from PIL import Image

from .checkpoint import checkpoint_metadata
from .datasets.images import ImageFiles, as_preprocess, empty_images, encode_image_source, resizer
from .encode import encode_texts
from .errors import PcclipError
from .evaluate import mean_direction
from .losses import difference_directions
from .models import create_model
from .optim import resolve_device

ImageLike = str | Path | Image.Image | np.ndarray
# A folder, a list of images, or a uint8 batch (N, H, W, 3)
Images = str | Path | Sequence[ImageLike] | np.ndarray
Sentences = str | Sequence[str]


@dataclass(frozen=True)
class Scored:
    """One answer: `item` (an image as given, a folder's file, or a sentence), its position `index`
    in the input, and its score."""

    index: int
    item: object
    score: float

    def __repr__(self) -> str:  # an image array is named by its shape, not printed
        item = f"<array {self.item.shape}>" if isinstance(self.item, np.ndarray) else repr(self.item)
        return f"Scored(index={self.index}, score={self.score:+.4f}, item={item})"


def resolve_model_name(model_name: str | None, pretrained: str | Path | None) -> str:
    """The architecture to build: `model_name`, or the one a pcclip checkpoint names. A checkpoint
    saved from another architecture is refused here, before open_clip fails on mismatched weights."""
    saved = None  # open_clip's .pt files name none
    if pretrained is not None and Path(pretrained).suffix == ".safetensors" and Path(pretrained).is_file():
        saved = checkpoint_metadata(pretrained).get("model_name")
    if model_name and saved and saved != model_name:
        raise PcclipError(f"{pretrained}: a checkpoint of {saved}, not {model_name}; pass --model {saved} (or leave it out)")
    name = model_name or saved
    if not name:
        source = f"{pretrained} names no architecture" if pretrained else "no model given"
        raise PcclipError(f"{source}: give the model name (--model, e.g. pcclip-vit-t8-minilm; `pcclip models` lists them)")
    return name


def load(
    model_name: str | None = None, pretrained: str | Path | None = None, device: str = "auto", batch_size: int = 64
) -> DifferenceModel:
    """A model for comparing, ranking and searching by difference: any open_clip architecture with
    weights from a pretrained tag or a checkpoint file (a pcclip checkpoint names its own
    architecture, so `model_name` may be left out). device: 'auto' (cuda when a GPU is visible),
    'cpu' or 'cuda'."""
    name = resolve_model_name(model_name, pretrained)
    model, tokenizer = create_model(name, None if pretrained is None else str(pretrained), resolve_device(device))
    return DifferenceModel(model.eval(), tokenizer, batch_size)


class _ImageInputs:
    """Images as a user gives them (paths, PIL images, uint8 arrays) as a pcclip ImageSource, so
    that they load one batch at a time through the model's transform."""

    def __init__(self, images: Sequence[ImageLike]):
        self.items = list(images)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, indices: Sequence[int], preprocess: PreprocessCfg | int) -> np.ndarray:
        preprocess = as_preprocess(preprocess)
        resize, out = resizer(preprocess), empty_images(len(indices), preprocess)
        for row, i in enumerate(indices):
            item = self.items[i]
            if isinstance(item, (str, Path)):
                if not Path(item).is_file():
                    raise PcclipError(f"{item}: no such image file")
                out[row] = ImageFiles([item]).load([0], preprocess)[0]
            else:
                out[row] = np.asarray(resize(_as_pil(item, i)))
        return out


def _as_pil(item: object, index: int) -> Image.Image:
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and (item.ndim == 2 or (item.ndim == 3 and item.shape[-1] == 3)):
        return Image.fromarray(item)
    kind = f"{item.dtype} array of shape {item.shape}" if isinstance(item, np.ndarray) else type(item).__name__
    raise PcclipError(f"image {index}: a {kind}; give a file path, a PIL image or a uint8 array (H, W, 3)")


def image_files(folder: Path) -> list[Path]:
    """The image files directly in `folder` (any extension PIL reads), sorted by name."""
    if not folder.is_dir():
        raise PcclipError(f"{folder}: not a folder of images")
    extensions = set(Image.registered_extensions())
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions)
    if not files:
        raise PcclipError(f"{folder}: holds no image files; give a folder with .png or .jpg images")
    return files


def as_image_list(images: Images) -> list[ImageLike]:
    """A folder's files, a batch's images or the list itself."""
    if isinstance(images, (str, Path)):
        return list(image_files(Path(images)))
    if isinstance(images, np.ndarray) and images.ndim != 4:
        raise PcclipError(f"an image batch must be uint8 (N, H, W, 3); got shape {images.shape}")
    return list(images)


def _sentences(sentences: Sentences) -> list[str]:
    texts = [sentences] if isinstance(sentences, str) else list(sentences)
    if not texts:
        raise PcclipError("no sentence given; say how the images differ, e.g. 'the shapes are larger'")
    if any(not t.strip() for t in texts):
        raise PcclipError("an empty sentence; say how the images differ, e.g. 'the shapes are larger'")
    return texts


def _same_image(a: ImageLike, b: ImageLike) -> bool:
    """Whether two inputs are one image: the same file, equal pixels or the same object."""
    if isinstance(a, (str, Path)) and isinstance(b, (str, Path)):
        return Path(a).resolve() == Path(b).resolve()
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and np.array_equal(a, b)
    return a is b


class DifferenceModel:
    """An open_clip model used through differences of its image embeddings (see the module's doc)."""

    def __init__(self, model, tokenizer, batch_size: int = 64):
        if batch_size < 1:
            raise PcclipError(f"batch size {batch_size}: embed at least 1 image at a time")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    def embed_images(self, images: Images) -> torch.Tensor:
        """Normalised embeddings (N, D), on the CPU, in input order."""
        images = as_image_list(images)
        if not images:
            raise PcclipError("no images given")
        return encode_image_source(self.model, _ImageInputs(images), self.batch_size)

    def embed_texts(self, texts: Sentences) -> torch.Tensor:
        """Normalised embeddings (N, D), on the CPU, in input order."""
        return encode_texts(self.model, self.tokenizer, _sentences(texts), self.batch_size)

    def direction(self, more: Sentences, less: Sentences | None = None) -> torch.Tensor:
        """The unit text direction (D,) that `rank` and `search` follow: the embedding of `more` (several
        sentences: their normalised mean, an ensemble of one meaning), minus that of `less` if given,
        which cancels what both sides share (e.g. 'the shapes are larger' vs '... smaller')."""
        direction = mean_direction(self.embed_texts(more))
        if less is None:
            return direction
        return F.normalize(direction - mean_direction(self.embed_texts(less)), dim=-1)

    def compare(self, image_a: ImageLike, image_b: ImageLike, sentence: str) -> float:
        """cos(t, normalize(a - b)): how well `sentence` says how image a differs from image b, in
        [-1, 1]; > 0 when it fits this order better than the reverse (compare(b, a) is its negative)."""
        return self.which(image_a, image_b, [sentence])[0].score

    def which(self, image_a: ImageLike, image_b: ImageLike, sentences: Sequence[str]) -> list[Scored]:
        """Each sentence scored as `compare` scores it, best first: which one says how a differs from b."""
        texts = _sentences(sentences)
        a, b = self.embed_images([image_a, image_b])
        scores = self.embed_texts(texts) @ difference_directions(a, b)
        return _best_first(texts, scores)

    def rank(self, images: Images, more: Sentences, less: Sentences | None = None) -> list[Scored]:
        """`images` ordered along an attribute, most first: by the projection of each image on the
        direction of `more` (a sentence saying one image has more of it: 'the shapes are larger'),
        minus that of `less` ('... smaller') if given, which cancels what both sentences share.
        Several sentences per side are averaged."""
        items = as_image_list(images)
        return _best_first(items, self.embed_images(items) @ self.direction(more, less))

    def search(
        self, query_image: ImageLike, difference: Sentences, gallery: Images, k: int = 5, step: float = 1.0
    ) -> list[Scored]:
        """The k gallery images that differ from the query as `difference` says (a sentence saying how
        a result differs from the query: 'there are more shapes'), best first: the gallery ranked by
        cosine with normalize(query + step * difference), the query embedding moved along the
        sentence's direction. The query itself, if in the gallery, is never an answer."""
        if k < 1:
            raise PcclipError(f"search: k is {k}; ask for at least 1 result")
        items = as_image_list(gallery)
        candidates = [i for i, item in enumerate(items) if not _same_image(query_image, item)]
        if not candidates:
            raise PcclipError("search: the gallery holds no image other than the query")
        query = self.embed_images([query_image])[0]
        others = [items[i] for i in candidates]
        scores = search_scores(query, self.direction(difference), self.embed_images(others), step)
        return [Scored(candidates[s.index], s.item, s.score) for s in _best_first(others, scores)[:k]]


def search_scores(query: torch.Tensor, direction: torch.Tensor, gallery: torch.Tensor, step: float = 1.0) -> torch.Tensor:
    """cos(g, normalize(q + step * direction)) for each gallery embedding g: (M,) for one query (D,),
    (Q, M) for queries (Q, D). All embeddings normalised."""
    return F.normalize(query + step * direction, dim=-1) @ gallery.T


def _best_first(items: Sequence[object], scores: torch.Tensor) -> list[Scored]:
    """Items with their scores, highest first; ties keep input order."""
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    return [Scored(i, items[i], float(scores[i])) for i in order]

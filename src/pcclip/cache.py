"""Content-addressed artifact store: each stage's output lives under a key hashed from its inputs.

Writes are atomic (temporary file + rename), so a killed run never leaves a half-written artifact
that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import PcclipError


def default_cache_root() -> Path:
    """`$PCCLIP_CACHE`, else `~/.cache/pcclip` (like Hugging Face's and open_clip's caches)."""
    return Path(os.environ.get("PCCLIP_CACHE", Path.home() / ".cache" / "pcclip"))


def settings_hash(*parts: Any, length: int = 16) -> str:
    """A stable hash of JSON-serialisable settings (pydantic models are dumped first)."""

    def plain(obj: Any) -> Any:
        return obj.model_dump(mode="json") if hasattr(obj, "model_dump") else obj

    blob = json.dumps([plain(p) for p in parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def atomic_write(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json(path: Path, obj: Any) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
            f.write("\n")

    return atomic_write(Path(path), write)


def write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    """One JSON object per line, written atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    return atomic_write(Path(path), write)


def read_json(path: Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise PcclipError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise PcclipError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Save tensors as safetensors (contiguous copies, so views and shared storage are fine)."""
    plain = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return atomic_write(Path(path), lambda tmp: save_file(plain, tmp, metadata=metadata))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise PcclipError(f"{path}: file not found")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises several types for a corrupt header
        raise PcclipError(f"{path}: not a readable safetensors file ({e}); delete it or point to another") from None


def read_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file; PcclipError naming the line if bad."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PcclipError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise PcclipError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise PcclipError(f"{path}: line {line_no}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise PcclipError(f"{path}: line {line_no}: expected a JSON object")
        yield line_no, obj


# --- what the cache holds, by stage --------------------------------------------------------------

# Folders of caches written before stages had versions: nothing reads them any more.
LEGACY_FOLDERS = ("checkpoints", "evaluations", "generations", "pools")


@dataclass(frozen=True)
class CacheEntry:
    """One folder of cached results: a stage's results made by one version of its code."""

    stage: str
    code: str  # the code tag, or "unversioned" for a legacy folder
    current: bool  # made by this code, so read by this code
    path: Path
    files: int
    bytes: int
    newest: float  # modification time of the newest file (seconds since the epoch)


def _folder_entry(stage: str, code: str, current: bool, path: Path) -> CacheEntry:
    files = [f for f in path.rglob("*") if f.is_file()]
    return CacheEntry(
        stage,
        code,
        current,
        path,
        len(files),
        sum(f.stat().st_size for f in files),
        max((f.stat().st_mtime for f in files), default=path.stat().st_mtime),
    )


def cache_entries(root: Path) -> list[CacheEntry]:
    """Every stage folder of the cache at `root`, current code first within each stage."""
    from .stages import STAGES, code_tag

    root = Path(root)
    entries = []
    for stage, spec in STAGES.items():
        if spec.cached and (root / stage).is_dir():
            current = code_tag(stage)
            for folder in sorted((root / stage).iterdir(), key=lambda f: f.name != current):
                if folder.is_dir():
                    entries.append(_folder_entry(stage, folder.name, folder.name == current, folder))
    for name in LEGACY_FOLDERS:
        if (root / name).is_dir():
            entries.append(_folder_entry(name, "unversioned", False, root / name))
    return entries


def prune(root: Path, entries: Iterable[CacheEntry]) -> int:
    """Delete the stale entries among `entries` (never one the current code reads); bytes freed."""
    freed = 0
    for entry in entries:
        if not entry.current:
            shutil.rmtree(entry.path)
            freed += entry.bytes
    return freed

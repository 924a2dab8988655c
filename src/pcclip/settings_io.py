"""Read run settings from TOML plus `key.path=value` overrides, with errors a user can act on."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .errors import PcclipError

SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


def load_settings(model: type[SettingsModel], path: Path | None = None, overrides: Sequence[str] = ()) -> SettingsModel:
    data: dict[str, Any] = {}
    source = "settings"
    if path is not None:
        source = str(path)
        data = _read_toml(Path(path))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise PcclipError(f"override {item!r}: expected KEY=VALUE, e.g. finetune.lr=1e-5")
        node = data
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise PcclipError(f"override {item!r}: {part!r} is not a section")
        node[leaf] = _parse_value(raw.strip())
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise PcclipError(format_validation_error(e, model, source)) from None


def _read_toml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A TOML settings file; one that says `extends = "other.toml"` (relative to itself) is that file's
    settings with its own over them, so a variant of a plan names only what it changes."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PcclipError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise PcclipError(f"{path}: is a directory; give the TOML settings file") from None
    except UnicodeDecodeError as e:
        raise PcclipError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise PcclipError(f"{path}: not valid TOML: {e}") from None
    if "extends" not in data:
        return data
    parent = data.pop("extends")
    if not isinstance(parent, str):
        raise PcclipError(f"{path}: extends must be a path (relative to this file) to the TOML settings it builds on")
    if path.resolve() in seen:
        raise PcclipError(f"{path}: extends loops: {' -> '.join(str(p) for p in (*seen, path.resolve()))}")
    return _merged(_read_toml(path.parent / parent, (*seen, path.resolve())), data)


def _merged(base: dict, changes: dict) -> dict:
    """`base` with `changes` over it; tables merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _parse_value(raw: str) -> Any:
    """A TOML value (1e-5, true, [0, 1], "text"); anything else is taken as a bare string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def format_validation_error(error: ValidationError, model: type[BaseModel], source: str) -> str:
    lines = [f"{source}: invalid settings"]
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err["loc"][:-1])
            lines.append(f"  {loc}: unknown key; allowed here: {', '.join(allowed)}")
        else:
            got = f" (got {err['input']!r})" if not isinstance(err.get("input"), dict) else ""
            lines.append(f"  {loc or '(top level)'}: {err['msg']}{got}")
    return "\n".join(lines)


def _allowed_keys(model: type[BaseModel], parents: tuple) -> list[str]:
    """The keys a settings section takes, found by walking `parents` through nested models, optional
    models and dicts of models (`generators.<name>`: the name is a dict key)."""
    annotation: Any = model
    for part in parents:
        annotation = _model_in(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return []
    annotation = _model_in(annotation)
    return list(annotation.model_fields) if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _model_in(annotation: Any) -> Any:
    """`X | None` -> X; anything else unchanged."""
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation

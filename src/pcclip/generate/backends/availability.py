"""Cheap checks of whether a back end can run here, made before any work (a study uses them to skip
a generator with the reason). They load no model and send no request: at most one TCP connection
is opened, with a short timeout, to see whether a server answers at all."""

from __future__ import annotations

import os
import socket
import urllib.parse
import urllib.request
from pathlib import Path

CONNECT_TIMEOUT_S = 3.0


def is_local(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1")


def public_url(url: str) -> str:
    """The URL without what may carry credentials (user:password@, ?key=...): scheme, host, port, path."""
    parsed = urllib.parse.urlparse(url)
    host = f"{parsed.hostname or ''}{f':{parsed.port}' if parsed.port else ''}"
    return urllib.parse.urlunparse((parsed.scheme, host, parsed.path, "", "", ""))


def unreachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why no TCP connection opens to the URL's server (or to the proxy the environment routes it
    through; loopback never goes through one); None when one does."""
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    if not host:
        return f"no host in the URL {public_url(url)}"
    proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy and not is_local(url) and not urllib.request.proxy_bypass(host):
        proxied = urllib.parse.urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxied.hostname, proxied.port or 80
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"cannot connect to {host}:{port} ({e.strerror or e or type(e).__name__})"
    return None


def missing_weights(model: str, filename: str | None = None) -> str | None:
    """Why `model`, a local path or a Hugging Face hub id, has no weights to load here; None when it
    has them, or when the hub can be reached to download them as the model loads (a gated model
    without a token then fails at loading, with the hub's reason)."""
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    path = Path(model).expanduser()
    if path.exists():
        if filename and not (path / filename).is_file():
            return f"{filename} not found in {path}"
        return None
    try:
        validate_repo_id(model)
    except HFValidationError:  # not a hub id ("/models/llama-7b", "./llama", "~/x"): a path that is not there
        return f"model path not found: {model}"
    if isinstance(try_to_load_from_cache(model, filename or "config.json"), str):
        return None
    if _flag("HF_HUB_OFFLINE") or _flag("TRANSFORMERS_OFFLINE"):
        hub = "HF_HUB_OFFLINE is set"
    else:
        problem = unreachable(constants.ENDPOINT)
        if problem is None:
            return None
        hub = f"the hub is not reachable: {problem}"
    return (
        f"weights not found locally: {model} is neither a local directory nor in the Hugging Face cache, and {hub}; "
        f"download it with `huggingface-cli download {model}` or set backend.model to a local path"
    )


def _flag(name: str) -> bool:
    # Read now, not at import: huggingface_hub reads its offline flag once, when first imported.
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}

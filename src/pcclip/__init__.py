"""pcclip: finetune CLIP to reason about pairwise differences (PC-CLIP), and study it."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `pcclip.load` imports torch and open_clip on first use only, so `import pcclip` stays cheap.
    if name == "load":
        from .inference import load

        return load
    raise AttributeError(f"module 'pcclip' has no attribute {name!r}")

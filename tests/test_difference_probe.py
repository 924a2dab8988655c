"""experiments/difference_probe.py: the labels a true sentence must carry, and a probe of a tiny
study's checkpoints."""

import sys
from dataclasses import replace
from pathlib import Path

from pcclip.study import run_study
from pcclip.world.scene import WorldConfig, sample_scenes
from test_study import tiny_study

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
try:
    import difference_probe as probe
finally:
    sys.path.pop(0)


def test_labels_say_the_first_images_side_and_flip_with_the_order():
    a = sample_scenes(1, 0, WorldConfig())[0]
    moved = replace(a, x=a.x + 0.3, y=a.y + 0.1)
    assert (probe.label("position", a, moved), probe.label("position", moved, a)) == ("left", "right")
    lower = replace(a, y=a.y + 0.3)
    assert (probe.label("position", a, lower), probe.label("position", lower, a)) == ("up", "down")  # y grows downward
    assert probe.label("size", replace(a, size=0.1), replace(a, size=0.06)) == "bigger"
    assert probe.label("count", replace(a, count=1), replace(a, count=2)) == "fewer"
    assert probe.label("colour", replace(a, colour="red"), replace(a, colour="blue")) == "red"


def test_it_probes_the_listed_checkpoints(tmp_path):
    settings = tiny_study(tmp_path)
    run_study(settings, tmp_path / "out", log=lambda _: None)
    arguments = ["--study", tmp_path / "out" / "study.json", "--cache-dir", settings.run.cache_dir, "--pairs", "40"]
    results = probe.main([str(a) for a in [*arguments, "--rows", "base,encoders/image/1", "--json", tmp_path / "p.json"]])
    assert set(results) == {"base", "encoders/image/1"}
    for accuracies in results.values():
        assert set(accuracies) == set(probe.PROBED) and all(0 <= v <= 1 for v in accuracies.values())

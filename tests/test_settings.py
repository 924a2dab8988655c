import pytest

from pcclip.config import RunSettings
from pcclip.errors import PcclipError
from pcclip.settings_io import load_settings


def test_defaults_validate():
    settings = load_settings(RunSettings)
    assert settings.finetune.temperature == 1.0 and settings.seeds == (0, 1, 2)


def test_toml_and_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('seeds = [4, 5]\n[finetune]\nlr = 1e-4\ntrainable = "text"\n')
    settings = load_settings(RunSettings, path, ["finetune.lr=3e-5", "pretrain.epochs=2"])
    assert settings.seeds == (4, 5)
    assert settings.finetune.lr == 3e-5 and settings.finetune.trainable == "text"
    assert settings.pretrain.epochs == 2


def test_unknown_key_names_the_key_and_the_allowed_ones():
    with pytest.raises(PcclipError) as err:
        load_settings(RunSettings, None, ["finetune.lrr=1"])
    assert "finetune.lrr: unknown key; allowed here: epochs, batch_size, accum_steps, optimizer, lr," in str(err.value)


def test_unknown_key_inside_a_named_generator_lists_the_generator_keys():
    from pcclip.study import StudySettings

    with pytest.raises(PcclipError) as err:
        load_settings(StudySettings, None, ["generators.oracle.bakend=1"])
    assert "generators.oracle.bakend: unknown key; allowed here: backend, prompt, decoding, filter," in str(err.value)


def test_wrong_type_and_bad_choice():
    with pytest.raises(PcclipError, match=r"pretrain.epochs: Input should be a valid integer.*'many'"):
        load_settings(RunSettings, None, ["pretrain.epochs=many"])
    with pytest.raises(PcclipError, match=r"finetune.trainable: Input should be 'text-blocks', 'text', 'image' or 'both'"):
        load_settings(RunSettings, None, ["finetune.trainable=images"])
    with pytest.raises(PcclipError, match=r"batch_size \(64\) must be a multiple of accum_steps \(3\)"):
        load_settings(RunSettings, None, ["finetune.accum_steps=3"])


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[finetune\nlr = 1\n")
    with pytest.raises(PcclipError, match="broken.toml: not valid TOML"):
        load_settings(RunSettings, path)
    with pytest.raises(PcclipError, match="missing.toml: file not found"):
        load_settings(RunSettings, tmp_path / "missing.toml")


def test_a_learned_temperature_needs_a_loss_with_one():
    with pytest.raises(
        PcclipError, match=r"learn_temperature: loss 'mse' has no temperature to learn \(losses with one: contrastive\)"
    ):
        load_settings(RunSettings, None, ["finetune.loss=mse", "finetune.learn_temperature=true"])


def test_a_settings_file_extends_another_and_names_only_what_it_changes(tmp_path):
    (tmp_path / "base.toml").write_text("seeds = [0, 1]\n[pairs]\npairs = 10\nimages = 20\n")
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n[pairs]\nimages = 30\n')
    settings = load_settings(RunSettings, tmp_path / "child.toml")
    assert (settings.seeds, settings.pairs.pairs, settings.pairs.images) == ((0, 1), 10, 30)
    (tmp_path / "base.toml").write_text('extends = "child.toml"\n')
    with pytest.raises(PcclipError, match=r"child.toml: extends loops: .*child.toml -> .*base.toml -> .*child.toml$"):
        load_settings(RunSettings, tmp_path / "child.toml")

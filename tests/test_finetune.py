import numpy as np
import pytest
import torch

from pcclip.config import FinetuneSettings
from pcclip.errors import PcclipError
from pcclip.finetune import PairData, finetune_pc, image_tower_trains, select_trainable, weight_average
from pcclip.models import create_model

TINY = "pcclip-vit-nano"
QUIET = dict(log=lambda _: None)


@pytest.fixture
def tiny_data() -> PairData:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    pairs = [(0, 1), (2, 3), (4, 5), (1, 0), (3, 2), (5, 4)]
    sentences = ["first larger", "first more", "first left", "second larger", "second more", "second left"]
    captions = ["a red star", "two circles", "a blue square", "a big heart", "three crosses", "a small hexagon"]
    return PairData(images, pairs, sentences, captions)


def fresh_model():
    torch.manual_seed(0)
    return create_model(TINY)


def changed(before: dict, model) -> set[str]:
    after = model.state_dict()
    return {k for k, v in before.items() if not torch.equal(v, after[k])}


def test_select_trainable_counts_and_names():
    model, _ = fresh_model()
    total = sum(p.numel() for p in model.parameters())
    trainable, frozen = select_trainable(model, "text-blocks")
    blocks = sum(p.numel() for n, p in model.named_parameters() if n.startswith("transformer.resblocks."))
    assert (trainable, frozen) == (blocks, total - blocks)
    select_trainable(model, "text")
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert model.token_embedding.weight.requires_grad and not model.logit_scale.requires_grad
    visual = sum(p.numel() for p in model.visual.parameters())
    assert select_trainable(model, "image") == (visual, total - visual)
    both, _ = select_trainable(model, "both")
    assert both > visual and not model.logit_scale.requires_grad
    # include adds, exclude wins
    trainable, _ = select_trainable(model, "image", include=[r"^ln_final\."], exclude=[r"^visual\.conv1\."])
    assert model.ln_final.weight.requires_grad and not model.visual.conv1.weight.requires_grad
    with pytest.raises(PcclipError, match="matches no parameter"):
        select_trainable(model, "text-blocks", exclude=[".*"])


@pytest.mark.parametrize(
    "choice, prefixes",
    [
        ("text-blocks", {"transformer.resblocks."}),
        ("image", {"visual."}),
        ("both", {"visual.", "transformer.", "token_embedding", "positional_embedding", "ln_final", "text_projection"}),
    ],
)
def test_each_choice_trains_only_its_parameters_and_lowers_the_loss(choice, prefixes, tiny_data):
    model, tokenizer = fresh_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = FinetuneSettings(trainable=choice, epochs=30, batch_size=6, lr=3e-3, warmup_steps=0)
    losses = finetune_pc(model, tokenizer, tiny_data, settings, seed=0, **QUIET)
    moved = changed(before, model)
    assert moved and all(any(k.startswith(p) for p in prefixes) for k in moved)
    assert np.mean(losses[-5:]) < losses[0] - 0.05
    assert image_tower_trains(model, settings) == ("visual." in prefixes)


def test_mse_variant_and_learned_temperature_train(tiny_data):
    model, tokenizer = fresh_model()
    mse = finetune_pc(
        model,
        tokenizer,
        tiny_data,
        FinetuneSettings(trainable="text", loss="mse", epochs=30, batch_size=6, lr=3e-3, warmup_steps=0),
        seed=0,
        **QUIET,
    )
    assert mse[-1] < mse[0]
    model, tokenizer = fresh_model()
    settings = FinetuneSettings(
        trainable="text", learn_temperature=True, temperature=0.5, epochs=5, batch_size=6, lr=1e-2, warmup_steps=0
    )
    seen, logged = [], []
    finetune_pc(model, tokenizer, tiny_data, settings, seed=0, after_step=seen.append, log=logged.append)
    assert seen == list(range(5))
    learned = float(logged[-1].removeprefix("learned temperature: "))
    assert learned != pytest.approx(0.5, abs=1e-3)


def test_caption_loss_needs_captions(tiny_data):
    model, tokenizer = fresh_model()
    no_captions = PairData(tiny_data.images, tiny_data.pairs, tiny_data.sentences)
    with pytest.raises(PcclipError, match="caption for every training image"):
        finetune_pc(model, tokenizer, no_captions, FinetuneSettings(caption_loss_weight=0.5), seed=0, **QUIET)
    plain = finetune_pc(*fresh_model(), tiny_data, FinetuneSettings(trainable="text", epochs=2, batch_size=6), seed=0, **QUIET)
    mixed = finetune_pc(
        *fresh_model(),
        tiny_data,
        FinetuneSettings(trainable="text", epochs=2, batch_size=6, caption_loss_weight=0.5),
        seed=0,
        **QUIET,
    )
    assert mixed[0] > plain[0]  # the caption term adds a positive loss on the same first batch


def test_killed_and_resumed_run_ends_with_the_same_weights(tiny_data, tmp_path):
    settings = FinetuneSettings(trainable="both", epochs=6, batch_size=2, lr=1e-3, warmup_steps=2, checkpoint_every=4)
    model, tokenizer = fresh_model()
    finetune_pc(model, tokenizer, tiny_data, settings, seed=3, **QUIET)
    uninterrupted = model.state_dict()

    class Killed(Exception):
        pass

    def kill_at_step_9(step: int) -> None:
        if step == 9:
            raise Killed

    state = tmp_path / "run.state.pt"
    model, tokenizer = fresh_model()
    with pytest.raises(Killed):
        finetune_pc(model, tokenizer, tiny_data, settings, seed=3, state_path=state, after_step=kill_at_step_9, **QUIET)
    assert state.is_file()  # saved at step 8; steps 9.. are redone
    model, tokenizer = fresh_model()  # a new process would start from the base weights
    finetune_pc(model, tokenizer, tiny_data, settings, seed=3, state_path=state, **QUIET)
    resumed = model.state_dict()
    assert not state.exists()
    assert max((uninterrupted[k] - resumed[k]).abs().max().item() for k in resumed) < 1e-6


def test_corrupt_training_state_is_a_clear_error(tiny_data, tmp_path):
    state = tmp_path / "bad.state.pt"
    state.write_bytes(b"not a state")
    with pytest.raises(PcclipError, match="bad.state.pt: cannot resume"):
        finetune_pc(*fresh_model(), tiny_data, FinetuneSettings(epochs=1, batch_size=6), seed=0, state_path=state, **QUIET)


def test_weight_average_is_exact():
    model, _ = fresh_model()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    weight_average(model, base, 0.25)
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, base[k] + 0.25, atol=1e-6)


def test_tensorboard_logs_loss_lr_and_throughput(tiny_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = FinetuneSettings(trainable="text", learn_temperature=True, epochs=3, batch_size=6, warmup_steps=0)
    losses = finetune_pc(*fresh_model(), tiny_data, settings, seed=0, log_dir=tmp_path / "tb", **QUIET)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"train/loss", "train/lr", "train/samples_per_s", "train/temperature"}
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(losses)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_state(tmp_path):
    from pcclip.config import OptimSettings
    from pcclip.optim import epoch_batches, load_train_state, make_optimizer, train_loop

    torch.manual_seed(0)
    module = torch.nn.Linear(3, 1)
    x = torch.randn(8, 3)
    snapshots = []

    def compute_loss(batch):
        loss = module(x[batch]).pow(2).mean()
        return loss * float("nan") if len(snapshots) == 3 else loss  # the 4th step (step 3) goes bad

    state = tmp_path / "run.state.pt"
    with pytest.raises(
        PcclipError, match=r"toy: the loss is nan .* at step 3; stopped before updating the weights\. .*kept in .*run\.state\.pt"
    ):
        train_loop(
            module,
            lambda start: epoch_batches(8, 2, 2, 0, start),
            compute_loss,
            OptimSettings(lr=0.1, batch_size=2, epochs=2),
            n_items=8,
            desc="toy",
            state_path=state,
            after_step=lambda step: snapshots.append(copy_state(module)),
        )
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert all(torch.equal(v, snapshots[-1][k]) for k, v in module.state_dict().items())  # the bad step changed nothing
    restored = torch.nn.Linear(3, 1)
    step, losses = load_train_state(state, restored, make_optimizer(list(restored.parameters()), OptimSettings()))
    assert step == 3 and len(losses) == 3
    assert all(torch.equal(v, snapshots[-1][k]) for k, v in restored.state_dict().items())


def copy_state(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("dropout", "expected"), [(None, 0.3), (0.0, 0.0), (0.2, 0.2)])
def test_dropout_setting_sets_every_dropout_layer(dropout, expected, tiny_data):
    model, tokenizer = fresh_model()
    model.text_dropout = torch.nn.Dropout(0.3)  # the nano model has none; MiniLM has 0.1 throughout
    settings = FinetuneSettings(trainable="text", epochs=1, batch_size=6, dropout=dropout)
    finetune_pc(model, tokenizer, tiny_data, settings, seed=0, **QUIET)
    assert model.text_dropout.p == expected


def test_dropout_setting_is_a_probability():
    with pytest.raises(ValueError, match="less than 1"):
        FinetuneSettings(dropout=1.0)


def test_length_buckets_keep_every_epoch_a_random_partition_of_similar_lengths():
    from pcclip.optim import epoch_batches

    lengths = torch.tensor(np.random.default_rng(0).integers(5, 60, size=203))
    plain = list(epoch_batches(203, 8, 2, seed=3))
    bucketed = list(epoch_batches(203, 8, 2, seed=3, lengths=lengths, window_batches=4))
    assert len(bucketed) == len(plain) == 2 * (203 // 8)
    for epoch in (bucketed[:25], bucketed[25:]):
        items = torch.cat(epoch)
        assert len(set(items.tolist())) == len(items) == 25 * 8  # each item at most once per epoch

    def padding(batches):  # padded minus real lengths, summed: what a text batch wastes
        return sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)

    assert padding(bucketed) < padding(plain) / 3
    assert [b.tolist() for b in bucketed] == [b.tolist() for b in epoch_batches(203, 8, 2, 3, lengths=lengths, window_batches=4)]
    resumed = list(epoch_batches(203, 8, 2, seed=3, start_step=30, lengths=lengths, window_batches=4))
    assert [b.tolist() for b in resumed] == [b.tolist() for b in bucketed[30:]]

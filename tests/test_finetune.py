"""Fine-tuning: warm-start report, --freeze, bitwise frozen embedding rows under Adam with weight decay,
and the issue-7 end-to-end run (English model fine-tuned on Korean with an extended vocabulary)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import soundfile as sf
import torch
from torch import nn

import inference
import run
from common.log_reader import metric_series, parameters, read_nvlog
from common.synthesis import Phrase, Synthesizer, load_tacotron2
from common.text import SymbolTable, text_to_sequence
from common.training.finetune import (
    CopyBlocks,
    CopyRows,
    FinetuneError,
    FineTuning,
    FrozenRows,
    extend_symbol_table,
    freeze_modules,
    matching_pattern,
    plan_flags,
    trainable_parameters,
    transfer_weights,
)
from tacotron2.finetune import DECODER_MEMORY_INPUTS, checkpoint_symbol_table, conditioning_merges
from tacotron2.loss_function import Tacotron2Loss
from tacotron2.model import Tacotron2

TINY = dict(symbols_embedding_dim=16, encoder_embedding_dim=16, encoder_n_convolutions=1,
            attention_rnn_dim=16, decoder_rnn_dim=16, prenet_dim=8, attention_dim=8,
            attention_location_n_filters=2, attention_location_kernel_size=3, postnet_embedding_dim=8,
            postnet_n_convolutions=2, n_mel_channels=10, n_frames_per_step=2)


def tiny_model(seed: int, **overrides) -> Tacotron2:
    torch.manual_seed(seed)
    return Tacotron2(**{**TINY, **overrides})


def batch(n_symbols: int = 148, seed: int = 0, n_mel: int = 10):
    """A random teacher-forcing batch (x, y) for Tacotron2.forward and its loss."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 5])
    text = torch.randint(1, n_symbols, (2, 7), generator=g)
    text[1, 5:] = 0
    mel = torch.randn(2, n_mel, 8, generator=g)
    out_lengths = torch.tensor([8, 6])
    gate = torch.zeros(2, 8)
    gate[0, 7:] = 1
    gate[1, 5:] = 1
    return (text, lengths, mel, 8, out_lengths), (mel, gate)


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, n_symbols: int = 148) -> None:
    loss_fn = Tacotron2Loss()
    model.train()
    for step in range(steps):
        x, y = batch(n_symbols, seed=step)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()


# ----------------------------------------------------------------------------------------------- warm start

def test_pattern_matching_is_fnmatch_or_module_prefix():
    assert matching_pattern("decoder.linear_projection.linear_layer.bias", ["decoder.linear_projection.*"])
    assert matching_pattern("decoder.prenet.layers.0.linear_layer.weight", ["decoder.prenet"])
    assert matching_pattern("embedding.weight", ["embedding.weight"]) == "embedding.weight"
    assert matching_pattern("decoder.prenet_x.weight", ["decoder.prenet"]) is None
    assert matching_pattern("encoder.lstm.weight_ih_l0", ["decoder.*", "embedding.weight"]) is None


def test_warm_start_report_loaded_reinitialised_ignored():
    source = tiny_model(1)
    # an NGC-style state_dict: `module.` prefixes, plus a tensor the new model does not have
    state = {"module." + k: v.clone() for k, v in source.state_dict().items()}
    state["module.speaker_embedding.weight"] = torch.zeros(3, 4)
    target = tiny_model(2, postnet_embedding_dim=12)  # postnet inner convolutions change shape
    fresh = {k: v.clone() for k, v in target.state_dict().items()}
    ignore = ["embedding.weight", "decoder.linear_projection.*"]

    report = transfer_weights(target, state, ignore, source="ngc.pt")

    src = source.state_dict()
    expected_ignored = {k for k in fresh
                        if k == "embedding.weight" or k.startswith("decoder.linear_projection.")}
    expected_shape = {k for k in fresh if k not in expected_ignored and src[k].shape != fresh[k].shape}
    assert expected_shape == {"postnet.convolutions.0.0.conv.weight", "postnet.convolutions.0.0.conv.bias",
                              "postnet.convolutions.0.1.weight", "postnet.convolutions.0.1.bias",
                              "postnet.convolutions.0.1.running_mean", "postnet.convolutions.0.1.running_var",
                              "postnet.convolutions.1.0.conv.weight"}
    assert set(report.reinitialised) == expected_ignored | expected_shape
    assert report.reinitialised["embedding.weight"] == "--ignore-layers embedding.weight"
    assert report.reinitialised["decoder.linear_projection.linear_layer.bias"] == \
        "--ignore-layers decoder.linear_projection.*"
    assert report.reinitialised["postnet.convolutions.1.0.conv.weight"] == \
        "shape: checkpoint (10, 8, 5) vs model (10, 12, 5)"
    assert set(report.loaded) == set(fresh) - expected_ignored - expected_shape
    assert report.ignored == ["speaker_embedding.weight"]
    after = target.state_dict()
    for k in report.loaded:
        assert torch.equal(after[k], src[k]), k
    for k in report.reinitialised:
        assert torch.equal(after[k], fresh[k]), k
    lines = "\n".join(report.lines())
    assert "warm start from ngc.pt: " in lines
    assert "re-initialised: embedding.weight (--ignore-layers" in lines
    assert "ignored (not in the model): speaker_embedding.weight" in lines


def test_warm_start_errors_are_clear():
    model = tiny_model(0)
    with pytest.raises(FinetuneError, match=r"--ignore-layers decoder\.nope\.\*: selects no parameter"):
        transfer_weights(model, tiny_model(1).state_dict(), ["decoder.nope.*"])
    with pytest.raises(FinetuneError, match="no tensor fits the model by name and shape"):
        transfer_weights(model, {"WN.0.start.weight": torch.zeros(2)}, source="wg.pt")


# --------------------------------------------------------------------------------------------------- freeze

def test_freeze_keeps_modules_bitwise_and_out_of_the_optimizer():
    model = tiny_model(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = freeze_modules(model, ["encoder", "postnet"])
    assert frozen == [n for n, _ in model.named_parameters() if n.startswith(("encoder.", "postnet."))]
    trainable = trainable_parameters(model)
    assert len(trainable) == sum(1 for n, _ in model.named_parameters()) - len(frozen)
    optimizer = torch.optim.Adam(trainable, lr=1e-2, weight_decay=0.1)
    train_steps(model, optimizer, 3)
    after = model.state_dict()
    for k in before:  # parameters and BatchNorm statistics of frozen modules stay bitwise
        if k.startswith(("encoder.", "postnet.")):
            assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["decoder.gate_layer.linear_layer.weight"],
                           after["decoder.gate_layer.linear_layer.weight"])
    assert not torch.equal(before["embedding.weight"], after["embedding.weight"])


def test_freeze_unknown_module_lists_valid_names():
    with pytest.raises(FinetuneError) as err:
        freeze_modules(tiny_model(0), ["encoderr"])
    message = str(err.value)
    assert "--freeze encoderr: no such module" in message
    for name in ("embedding", "encoder", "encoder.lstm", "decoder.prenet", "postnet.convolutions"):
        assert name in message


# ---------------------------------------------------------------------------------------------- frozen rows

def _adam_embedding_run(freeze_rows: bool, zero_grad_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    emb = nn.Embedding(6, 3)
    original = emb.weight.detach().clone()
    optimizer = torch.optim.Adam(emb.parameters(), lr=0.1, weight_decay=0.5)
    if freeze_rows:
        FrozenRows(emb.weight, 4, "embedding.weight").attach(optimizer)
    if zero_grad_only:
        emb.weight.register_hook(lambda g: torch.cat([torch.zeros_like(g[:4]), g[4:]]))
    for step in range(5):
        optimizer.zero_grad()
        ids = torch.tensor([0, 1, 2, 3, 4, 5, step % 6])
        (emb(ids) ** 2).sum().backward()
        optimizer.step()
    return original, emb.weight.detach()


def test_frozen_rows_survive_adam_weight_decay_bitwise():
    original, after = _adam_embedding_run(freeze_rows=True)
    assert torch.equal(after[:4], original[:4])
    assert (after[4:] - original[4:]).abs().min() > 1e-3  # the new rows trained
    # the design matters: zeroing the gradient alone lets weight decay move the rows
    original, drifted = _adam_embedding_run(freeze_rows=False, zero_grad_only=True)
    assert not torch.equal(drifted[:4], original[:4])


def test_frozen_rows_have_no_gradient_for_clipping():
    emb = nn.Embedding(5, 2)
    optimizer = torch.optim.SGD(emb.parameters(), lr=0.1)
    FrozenRows(emb.weight, [0, 2]).attach(optimizer)
    emb(torch.tensor([0, 1, 2, 3])).sum().backward()
    assert emb.weight.grad[[0, 2]].abs().sum() == 0
    assert torch.equal(emb.weight.grad[[1, 3]], torch.ones(2, 2))


# ----------------------------------------------------------------------------------------------- vocabulary

def test_symbol_table_of_checkpoint_and_its_extension(tmp_path):
    model = tiny_model(0)
    plain = {"state_dict": model.state_dict(), "config": {}}
    assert checkpoint_symbol_table(plain) == SymbolTable.default()
    with pytest.raises(FinetuneError, match="has 150 symbols"):
        checkpoint_symbol_table({"state_dict": model.state_dict(),
                                 "config": {"symbols": SymbolTable.default().symbols + ["x1", "x2"]}})
    extended = extend_symbol_table(SymbolTable.default(), ["ko"])
    assert extended.symbols[:148] == SymbolTable.default().symbols
    assert "\u1100" in extended.symbols[148:] and "\u1161" in extended.symbols[148:]  # jamo g, a
    filelist = tmp_path / "list.txt"
    filelist.write_text("a.wav|caf\u00e9 \u00fcber\n")
    from_data = extend_symbol_table(SymbolTable.default(), filelist=filelist, cleaners=["basic_cleaners"])
    assert from_data.symbols[148:] == ["\u00e9", "\u00fc"]


def test_copy_blocks_zero_fills_new_inputs_and_copies_named_blocks():
    old = torch.arange(12.0).reshape(2, 6)  # columns: rest 3 | speaker 2 | language 1
    target = torch.full((2, 8), 7.0)  # rest 3 | speaker 2 | language 3
    merge = CopyBlocks(1, (("rest", 0), ("speaker", 2), ("language", 3)),
                       (("rest", 0), ("speaker", 2), ("language", 1)))
    merged, what = merge(target, old)
    expected = torch.tensor([[0.0, 1, 2, 3, 4, 0, 0, 0], [6, 7, 8, 9, 10, 0, 0, 0]])
    assert torch.equal(merged, expected)
    assert what == "dim 1: copied rest 3, speaker 2; zero language 3"
    assert merge(torch.zeros(3, 8), old) is None  # another dimension differs: no merge
    rows, what = CopyRows(((0, 1), (2, 0)), "speakers")(torch.zeros(3, 2), torch.tensor([[1.0, 2], [3, 4]]))
    assert torch.equal(rows, torch.tensor([[3.0, 4], [0, 0], [1, 2]]))
    assert what == "2 of 3 speakers from the checkpoint's 2 (matched by name); the rest initialised"


def test_single_to_multi_speaker_conversion_keeps_the_function_and_speaker_rows():
    from tacotron2.multilingual import MultilingualTacotron2

    plain = tiny_model(4).eval()
    multi = MultilingualTacotron2(speakers=["a", "b"], languages=["en"], speaker_embedding_dim=4,
                                  language_embedding_dim=3, **TINY).eval()
    merges, aliases = conditioning_merges(multi, {})
    report = transfer_weights(multi, plain.state_dict(), merges=merges, aliases=aliases)
    assert set(report.partial) == {*DECODER_MEMORY_INPUTS, "encoder.convolutions.0.0.conv.weight"}
    assert {k for k, why in report.reinitialised.items() if why == "not in the checkpoint"} == \
        {"speaker_embedding.weight", "language_embedding.weight", "encoder.language_embedding.weight"}
    assert len(report.loaded) == len(plain.state_dict()) - len(report.partial)
    # the speaker/language inputs start at zero weight: every speaker sounds like the checkpoint
    x, _ = batch()
    torch.manual_seed(9)  # the prenet dropout stays on at inference
    expected = plain(x)
    for speaker in (0, 1):
        torch.manual_seed(9)
        got = multi(x, speaker_ids=torch.tensor([speaker, speaker]), language_ids=torch.tensor([0, 0]))
        for a, b in zip(expected, got, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)

    # adding speakers: rows matched by name, whatever the order
    bigger = MultilingualTacotron2(speakers=["c", "b", "a"], languages=["en"], speaker_embedding_dim=4,
                                   language_embedding_dim=3, **TINY)
    fresh_c = bigger.speaker_embedding.weight.detach()[0].clone()
    merges, aliases = conditioning_merges(bigger, {"speakers": ["a", "b"], "languages": ["en"],
                                                   "speaker_embedding_dim": 4, "language_embedding_dim": 3})
    report = transfer_weights(bigger, multi.state_dict(), merges=merges, aliases=aliases)
    old, new = multi.speaker_embedding.weight.detach(), bigger.speaker_embedding.weight.detach()
    assert torch.equal(new[2], old[0]) and torch.equal(new[1], old[1]) and torch.equal(new[0], fresh_c)
    assert list(report.partial) == ["speaker_embedding.weight"]


# ------------------------------------------------------------------------------- end to end through run.py

RUN_TINY = [
    "--symbols-embedding-dim", "32", "--encoder-embedding-dim", "32", "--encoder-n-convolutions", "1",
    "--attention-rnn-dim", "64", "--decoder-rnn-dim", "64", "--prenet-dim", "32", "--attention-dim", "16",
    "--attention-location-n-filters", "4", "--attention-location-kernel-size", "5",
    "--postnet-embedding-dim", "32", "--postnet-n-convolutions", "2", "--n-frames-per-step", "3",
]


def run_args(corpus: Path, out: Path, language: str, epochs: int, *extra: str,
             speakers: bool = False) -> list[str]:
    suffix = "_spk" if speakers else ""
    return ["-m", "Tacotron2", "-o", str(out), "-d", str(corpus),
            "--training-files", str(corpus / f"{language}_train{suffix}.txt"),
            "--validation-files", str(corpus / f"{language}_val{suffix}.txt"), "--epochs", str(epochs),
            "-bs", "3", "-lr", "5e-3", "--cpu", "--seed", "5", "--num-workers", "0", *RUN_TINY, *extra]


def last(out: Path) -> dict:
    return torch.load(out / "checkpoint_Tacotron2_last.pt", weights_only=True)


@pytest.fixture(scope="module")
def english_checkpoint(en_ko_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny single-speaker English Tacotron 2 (3 epochs on the offline corpus)."""
    out = tmp_path_factory.mktemp("english")
    assert run.main(run_args(en_ko_corpus, out, "en", 3)) == 0
    return out / "checkpoint_Tacotron2_last.pt"


def test_warm_start_flag_errors_are_one_line(en_ko_corpus, english_checkpoint, tmp_path, capsys):
    bad = run_args(en_ko_corpus, tmp_path / "a", "en", 1, "--warm-start", str(tmp_path / "nope.pt"))
    assert run.main(bad) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    unknown = run_args(en_ko_corpus, tmp_path / "b", "en", 1, "--warm-start", str(english_checkpoint),
                       "--freeze", "encoder", "postnett")
    assert run.main(unknown) == 1
    err = capsys.readouterr().err
    assert "--freeze postnett: no such module; choose from embedding, encoder, encoder.convolutions" in err
    assert "Traceback" not in err
    assert run.main(run_args(en_ko_corpus, tmp_path / "c", "en", 1, "--extend-vocabulary", "ko")) == 1
    assert "--extend-vocabulary need(s) --warm-start" in capsys.readouterr().err


def test_english_model_fine_tuned_on_korean(en_ko_corpus, english_checkpoint, tmp_path):
    """Issue 7, done when: loss on the new language falls, the original rows stay bitwise, inference
    runs in both languages."""
    def korean(out: Path, epochs: int, *extra: str) -> list[str]:
        return run_args(en_ko_corpus, out, "ko", epochs, "--warm-start", str(english_checkpoint),
                        "--extend-vocabulary", "ko", "--text-cleaners", "korean_cleaners",
                        "--weight-decay", "1e-3", *extra)

    out = tmp_path / "ko"
    assert run.main(korean(out, 4)) == 0
    records = read_nvlog(out / "nvlog.json")
    params = parameters(records)
    assert params["vocabulary_n_symbols"] == 215 and len(params["vocabulary_added"]) == 67
    assert params["warm_start_reinitialised"] == {} and params["warm_start_ignored"] == []
    assert list(params["warm_start_partial"]) == ["embedding.weight"]
    assert params["frozen_rows"] == {"embedding.weight": "0-147"}
    first = metric_series(records, "train_loss", "iteration")[0][1]
    train = metric_series(records, "train_loss", "epoch")
    val = metric_series(records, "val_loss", "epoch")
    assert train[-1][1] < 0.6 * first and val[-1][1] < val[0][1], (first, train, val)

    english, final, epoch0 = torch.load(english_checkpoint, weights_only=True), last(out), \
        torch.load(out / "checkpoint_Tacotron2_0.pt", weights_only=True)
    assert final["epoch"] == 3 and final["iteration"] == 8  # epochs and steps counted afresh
    assert all(int(s["step"]) == 8 for s in final["optimizer"]["state"].values())
    table = SymbolTable(final["config"]["symbols"])
    assert table.symbols[:148] == SymbolTable.default().symbols and len(table) == 215
    old_rows, rows = english["state_dict"]["embedding.weight"], final["state_dict"]["embedding.weight"]
    assert rows.shape == (215, 32) and torch.equal(rows[:148], old_rows)  # bitwise, after 8 Adam steps
    used = sorted({i for line in (en_ko_corpus / "ko_train.txt").read_text().splitlines()
                   for i in text_to_sequence(line.split("|")[1], ["korean_cleaners"], table) if i >= 148})
    assert len(used) > 10
    assert not torch.equal(rows[used], epoch0["state_dict"]["embedding.weight"][used])  # new rows train

    # an interrupted fine-tuning run resumes bitwise (the frozen rows are re-established on resume)
    split = tmp_path / "split"
    assert run.main(korean(split, 2)) == 0
    assert run.main(korean(split, 4, "--resume-from-last")) == 0
    resumed = last(split)
    assert resumed["epoch"] == 3
    for name, value in final["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name]), name

    ckpt = out / "checkpoint_Tacotron2_last.pt"
    phrases = {"ko": ("오늘은 날씨가 좋습니다.", ["korean_cleaners"]),
               "en": ("What a gentle day!", ["english_cleaners"])}
    model = load_tacotron2(ckpt)
    for language, (text, cleaners) in phrases.items():
        ids = Synthesizer(model, text_cleaners=cleaners).encode_conditioned(text, Phrase(text, 1))[0]
        assert ids == text_to_sequence(text, cleaners, table)
        assert (max(ids) >= 148) == (language == "ko")
        (tmp_path / f"{language}.txt").write_text(text + "\n", encoding="utf-8")
        status = inference.main(["-i", str(tmp_path / f"{language}.txt"), "-o", str(tmp_path / language),
                                 "--tacotron2", str(ckpt), "--cpu", "--text-cleaners", *cleaners,
                                 "--max-decoder-steps", "20", "--griffin-lim-iters", "2"])
        assert status == 0
        audio, rate = sf.read(tmp_path / language / "audio_0.wav")
        assert rate == 22050 and audio.size > 0 and abs(audio).max() > 0


def test_single_speaker_checkpoint_to_multi_speaker_and_a_new_speaker(en_ko_corpus, english_checkpoint,
                                                                       tmp_path):
    # 1. single -> multi-speaker; -lr 0 keeps the weights as the warm start left them
    conv = tmp_path / "conv"
    assert run.main(run_args(en_ko_corpus, conv, "en", 1, "--warm-start", str(english_checkpoint),
                             "--speaker-embedding-dim", "4", "--max-steps-per-epoch", "1", "-lr", "0",
                             speakers=True)) == 0
    params = parameters(read_nvlog(conv / "nvlog.json"))
    assert set(params["warm_start_partial"]) == set(DECODER_MEMORY_INPUTS)
    assert params["warm_start_reinitialised"] == {"speaker_embedding.weight": "not in the checkpoint"}
    assert params["speakers_added"] == ["spk00"]
    english, converted = torch.load(english_checkpoint, weights_only=True)["state_dict"], last(conv)
    assert converted["config"]["speakers"] == ["spk00"]
    for name, value in converted["state_dict"].items():
        if name in DECODER_MEMORY_INPUTS:  # the checkpoint's columns, then 4 zero speaker columns
            assert torch.equal(value[:, :-4], english[name]) and not value[:, -4:].any(), name
        elif name in english and "running" not in name and "num_batches" not in name:
            assert torch.equal(value, english[name]), name

    # 2. a new speaker (spk01, Korean): spk00's row is kept bitwise through training, spk01's is new
    more = tmp_path / "more"
    assert run.main(run_args(en_ko_corpus, more, "ko", 1, "--warm-start",
                             str(conv / "checkpoint_Tacotron2_last.pt"), "--speaker-embedding-dim", "4",
                             "--extend-vocabulary", "ko", "--weight-decay", "1e-3", speakers=True)) == 0
    params = parameters(read_nvlog(more / "nvlog.json"))
    assert params["speakers_added"] == ["spk01"] and params["languages_added"] == ["ko"]
    assert params["frozen_rows"] == {"embedding.weight": "0-147", "speaker_embedding.weight": "0"}
    after = last(more)
    assert after["config"]["speakers"] == ["spk00", "spk01"] and after["iteration"] == 2
    old_rows = converted["state_dict"]["speaker_embedding.weight"]
    new_rows = after["state_dict"]["speaker_embedding.weight"]
    assert new_rows.shape == (2, 4) and torch.equal(new_rows[0], old_rows[0])
    assert torch.equal(after["state_dict"]["embedding.weight"][:148], english["embedding.weight"])


# ------------------------------------------------------------------------- resuming a fine-tuning run

def korean_args(corpus: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return run_args(corpus, out, "ko", epochs, "--text-cleaners", "korean_cleaners", "--weight-decay", "1e-3",
                    *extra)


def run_errors(capsys: pytest.CaptureFixture) -> list[str]:
    """The one-line errors run.main printed; fails on a traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("run.py: error")]


def test_plan_flags_and_malformed_records():
    plan = {"warm_start": "my runs/en.pt", "ignore_layers": ["decoder.linear_projection.*"], "freeze": [],
            "extend_vocabulary": ["ko", "fr"], "symbols_from_data": True}
    assert plan_flags(plan) == ("--warm-start 'my runs/en.pt' --extend-vocabulary ko fr --symbols-from-data "
                                "--ignore-layers 'decoder.linear_projection.*'")
    assert plan_flags(plan, ["freeze", "symbols_from_data"]) == "--symbols-from-data"
    assert plan_flags({"freeze": []}) == ""
    args = argparse.Namespace(warm_start=None, ignore_layers=[], freeze=[], extend_vocabulary=[],
                              symbols_from_data=False)
    for record, what in (({"frozen_rows": {"embedding.weight": "0-147"}}, "frozen_rows is not a dict"),
                         ({"freeze": "encoder"}, "freeze is not a list of strings"),
                         (["encoder"], "a list, not a dict")):
        with pytest.raises(FinetuneError, match=rf"^x\.pt: malformed fine-tuning record \('finetune'\): "
                                                rf"{what}"):
            FineTuning.from_args(args, "Tacotron2", {}, {"state_dict": {}, "finetune": record}, "x.pt")


def test_resume_without_finetuning_flags_restores_the_plan_bitwise(en_ko_corpus, english_checkpoint, tmp_path,
                                                                    capsys):
    """--resume-from-last alone: the checkpoint's recorded plan (warm start, new symbols with frozen rows,
    frozen postnet) is restored, and the result is bitwise that of the uninterrupted run."""
    plan = ["--warm-start", str(english_checkpoint), "--extend-vocabulary", "ko", "--freeze", "postnet"]
    full, split = tmp_path / "full", tmp_path / "split"
    assert run.main(korean_args(en_ko_corpus, full, 2, *plan)) == 0
    assert run.main(korean_args(en_ko_corpus, split, 1, *plan)) == 0
    record = last(split)["finetune"]
    jamo = SymbolTable(last(split)["config"]["symbols"]).symbols[148:]
    assert record == {"warm_start": str(english_checkpoint), "ignore_layers": [], "freeze": ["postnet"],
                      "extend_vocabulary": ["ko"], "symbols_from_data": False,
                      "frozen_rows": {"embedding.weight": list(range(148))}, "n_symbols": 215,
                      "symbols_added": jamo, "speakers_added": [], "languages_added": []}
    capsys.readouterr()

    assert run.main(korean_args(en_ko_corpus, split, 2, "--resume-from-last")) == 0
    out = capsys.readouterr().out.splitlines()
    ckpt = split / "checkpoint_Tacotron2_1.pt"
    assert [line for line in out if "restored" in line] == [
        f"fine-tuning flags restored from {split / 'checkpoint_Tacotron2_last.pt'}: --warm-start "
        f"{english_checkpoint} --extend-vocabulary ko --freeze postnet "
        "(frozen rows kept: embedding.weight rows 0-147)"]
    assert f"warm start: {english_checkpoint} not loaded: resuming from a checkpoint instead" in out
    resumed, final = torch.load(ckpt, weights_only=True), last(full)
    assert resumed["epoch"] == final["epoch"] == 1 and resumed["iteration"] == final["iteration"] == 4
    for name, value in final["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name]), name
    for index, state in final["optimizer"]["state"].items():  # the same Adam moments, postnet left out
        for key, value in state.items():
            assert torch.equal(value, resumed["optimizer"]["state"][index][key]), (index, key)
    english = torch.load(english_checkpoint, weights_only=True)["state_dict"]
    rows = resumed["state_dict"]["embedding.weight"]
    assert torch.equal(rows[:148], english["embedding.weight"])
    epoch0 = torch.load(split / "checkpoint_Tacotron2_0.pt", weights_only=True)["state_dict"]
    assert not torch.equal(rows[148:], epoch0["embedding.weight"][148:])  # the new rows train on
    postnet = [name for name in english if name.startswith("postnet.")]
    assert len(postnet) == 14 and all(torch.equal(resumed["state_dict"][n], english[n]) for n in postnet)
    assert resumed["finetune"] == record
    # partly given flags are kept, the rest restored; the same result again
    assert run.main(korean_args(en_ko_corpus, split, 2, "--checkpoint-path",
                                str(split / "checkpoint_Tacotron2_0.pt"), "--freeze", "postnet")) == 0
    out = capsys.readouterr().out
    assert f"--warm-start {english_checkpoint} --extend-vocabulary ko (frozen rows kept" in out
    for name, value in final["state_dict"].items():
        assert torch.equal(value, last(split)["state_dict"][name]), name


def test_resume_with_other_finetuning_flags_is_a_one_line_error(en_ko_corpus, english_checkpoint, tmp_path,
                                                                capsys):
    plan = ["--warm-start", str(english_checkpoint), "--extend-vocabulary", "ko", "--freeze", "postnet"]
    out = tmp_path / "ko"
    assert run.main(korean_args(en_ko_corpus, out, 1, *plan)) == 0
    before = last(out)
    capsys.readouterr()
    recorded = f"--warm-start {english_checkpoint} --extend-vocabulary ko --freeze postnet"
    other = tmp_path / "other.pt"
    for extra, given in ((["--freeze", "encoder"], "--freeze encoder"),
                         (["--freeze", "postnet", "encoder"], "--freeze postnet encoder"),
                         (["--ignore-layers", "embedding.weight"], "--ignore-layers embedding.weight"),
                         ([*plan, "--symbols-from-data"], "--symbols-from-data"),
                         (["--warm-start", str(other), "--extend-vocabulary", "ko"], f"--warm-start {other}"),
                         (["--extend-vocabulary", "ko", "fr"], "--extend-vocabulary ko fr")):
        assert run.main(korean_args(en_ko_corpus, out, 2, "--resume-from-last", *extra)) == 1, extra
        ckpt = out / "checkpoint_Tacotron2_last.pt"
        assert run_errors(capsys) == [
            f"run.py: error (rank 0): {ckpt} was trained with {recorded}, but this run gives {given}: resume "
            "with exactly the recorded fine-tuning flags, or leave them out to have them restored (another "
            f"plan needs a new run: --warm-start {ckpt})"], extra
    after = last(out)  # nothing trained, nothing written
    assert after["epoch"] == 0 and all(torch.equal(v, after["state_dict"][k])
                                       for k, v in before["state_dict"].items())
    # a run without fine-tuning flags records that too: --freeze cannot be added on resume
    assert last(english_checkpoint.parent)["finetune"]["freeze"] == []
    assert run.main(run_args(en_ko_corpus, tmp_path / "en", "en", 4, "--checkpoint-path",
                             str(english_checkpoint), "--freeze", "encoder")) == 1
    assert run_errors(capsys)[0].startswith(
        f"run.py: error (rank 0): {english_checkpoint} was trained with no fine-tuning flags, but this run "
        "gives --freeze encoder: ")


def test_checkpoint_without_a_plan_record_resumes_from_the_flags(en_ko_corpus, english_checkpoint, tmp_path,
                                                                 capsys):
    """Checkpoints written before the record existed resume as before (with the flags), and an optimizer
    state that does not fit other --freeze flags is a one-line error instead of a torch traceback."""
    plan = ["--warm-start", str(english_checkpoint), "--freeze", "decoder.gate_layer"]
    full, split, old = tmp_path / "full", tmp_path / "split", tmp_path / "old"
    assert run.main(run_args(en_ko_corpus, full, "en", 2, *plan)) == 0
    assert run.main(run_args(en_ko_corpus, split, "en", 1, *plan)) == 0
    checkpoint = torch.load(split / "checkpoint_Tacotron2_0.pt", weights_only=True)
    del checkpoint["finetune"]
    old.mkdir()
    torch.save(checkpoint, old / "checkpoint_Tacotron2_0.pt")
    resume = ["--checkpoint-path", str(old / "checkpoint_Tacotron2_0.pt")]
    capsys.readouterr()

    warm = ["--warm-start", str(english_checkpoint)]
    assert run.main(run_args(en_ko_corpus, old, "en", 2, *resume, *warm)) == 1
    n = len(checkpoint["optimizer"]["param_groups"][0]["params"])
    assert run_errors(capsys) == [
        f"run.py: error (rank 0): {old / 'checkpoint_Tacotron2_0.pt'}: its optimizer trains {n} parameter "
        f"tensors, this run {n + 2}; was it written with other --freeze flags? resume with those"]
    # as many tensors frozen, other shapes: caught before Adam's moments land on the wrong parameters
    assert run.main(run_args(en_ko_corpus, old, "en", 2, *resume, *warm,
                             "--freeze", "decoder.linear_projection")) == 1
    errors = run_errors(capsys)
    assert len(errors) == 1 and "its optimizer's exp_avg of shape" in errors[0]
    assert errors[0].endswith("; was it written with other --freeze flags? resume with those")

    assert run.main(run_args(en_ko_corpus, old, "en", 2, *resume, *plan)) == 0  # the same flags: as before
    resumed, final = last(old), last(full)
    assert resumed["epoch"] == 1
    for name, value in final["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name]), name
    assert resumed["finetune"]["freeze"] == ["decoder.gate_layer"]  # from now on, the plan is recorded

"""Multi-speaker, multilingual Tacotron 2: training end to end with each encoder variant, the adversarial
speaker classifier and each sampler; gradient reversal, teacher forcing, code-switching, maps in
checkpoints, cross-lingual inference, and the unchanged reference model for default flags."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import inference
import run
from common.arg_parser import training_parser
from common.evaluation import MCD_CONSTANT, mcd
from common.filelist import read_filelist
from common.log_reader import metric_series, read_nvlog
from common.models import get_model_spec
from common.synthesis import Synthesizer, load_tacotron2, read_phrases
from common.text import clean_for_language
from tacotron2.arg_parser import MODEL_KEYS, is_conditioned, model_config, tacotron2_parser
from tacotron2.batch import ClassifiedOutputs, ConditionedInputs, Outputs
from tacotron2.data_function import batch_to_device, build_vocabulary, get_collate_fn, get_dataset
from tacotron2.model import Encoder, Tacotron2
from tacotron2.multilingual import (
    GeneratedConv1d,
    LanguageTagError,
    MultilingualInputError,
    MultilingualTacotron2,
    MultilingualTextEncoder,
    ScheduledDecoder,
    SeparateEncoder,
    SpeakerClassifier,
    build_tacotron2,
    language_spans,
    mel_cepstra,
    reverse_gradient,
    split_language_tags,
    teacher_forcing_ratio,
)

TINY_FLAGS = [
    "--symbols-embedding-dim", "32", "--encoder-embedding-dim", "32", "--encoder-n-convolutions", "1",
    "--attention-rnn-dim", "64", "--decoder-rnn-dim", "64", "--prenet-dim", "32", "--attention-dim", "16",
    "--attention-location-n-filters", "4", "--attention-location-kernel-size", "5",
    "--postnet-embedding-dim", "32", "--postnet-n-convolutions", "2", "--n-frames-per-step", "3",
]
CONDITIONED_FLAGS = ["--speaker-embedding-dim", "8", "--language-embedding-dim", "4",
                     "--speaker-classifier-weight", "1.0", "--speaker-classifier-hidden-dim", "16"]
TINY_MODEL = dict(n_mel_channels=10, symbols_embedding_dim=12, encoder_embedding_dim=16,
                  encoder_n_convolutions=2, attention_rnn_dim=24, decoder_rnn_dim=24, prenet_dim=8,
                  attention_dim=8, attention_location_n_filters=4, attention_location_kernel_size=5,
                  postnet_embedding_dim=8, postnet_n_convolutions=2, n_frames_per_step=2,
                  max_decoder_steps=12)
# encoder variant -> (sampler, extra flags); the shared run also checks the teacher-forcing schedule and MCD
VARIANTS = {
    "shared": ("imbalanced", ["--val-mcd-utterances", "2", "--teacher-forcing", "linear",
                              "--teacher-forcing-start-step", "2", "--teacher-forcing-end-step", "6",
                              "--teacher-forcing-final-ratio", "0.5"]),
    "separate": ("perfect", []),
    "generated": ("default", []),
}
EPOCHS = 4  # 2 steps each (9 training utterances, batch 4)


def ml_args(corpus: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return ["-m", "Tacotron2", "-o", str(out), "-d", str(corpus), "--training-files",
            str(corpus / "ml_train.txt"), "--validation-files", str(corpus / "ml_val.txt"),
            "--epochs", str(epochs), "-bs", "4", "--cpu", "--seed", "5", "--num-workers", "0", "-lr", "5e-3",
            *TINY_FLAGS, *CONDITIONED_FLAGS, *extra]


@pytest.fixture(scope="module")
def train_variant(multilingual_corpus, tmp_path_factory):
    """variant name -> output folder of a tiny run (each trained once per module)."""
    done: dict[str, Path] = {}

    def train(name: str) -> Path:
        if name not in done:
            sampler, extra = VARIANTS[name]
            out = tmp_path_factory.mktemp(f"ml_{name}")
            flags = ["--encoder-type", name, "--sampler", sampler, *extra]
            assert run.main(ml_args(multilingual_corpus, out, EPOCHS, *flags)) == 0
            done[name] = out
        return done[name]

    return train


def tiny_model(encoder_type: str = "shared", **overrides) -> MultilingualTacotron2:
    config = dict(TINY_MODEL, symbols=list("_ abcdefg"), speakers=["s0", "s1", "s2"], languages=["en", "fr"],
                  speaker_embedding_dim=3, language_embedding_dim=2, encoder_type=encoder_type,
                  speaker_classifier_hidden_dim=5)
    config.update(overrides)
    torch.manual_seed(0)
    return build_tacotron2(**config)


# ------------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_encoder_variant_trains_with_classifier_and_sampler(train_variant, variant):
    out = train_variant(variant)
    records = read_nvlog(out / "nvlog.json")
    val = [value for _, value in metric_series(records, "val_loss", "epoch")]
    assert len(val) == EPOCHS and val[-1] < 0.75 * val[0], val
    per_iteration = metric_series(records, "train_loss", "iteration")
    last_epoch = [value for step, value in per_iteration if step[0] == EPOCHS - 1]
    assert sum(last_epoch) / len(last_epoch) < per_iteration[0][1]
    accuracy = [value for _, value in metric_series(records, "train_speaker_accuracy", "iteration")]
    assert len(accuracy) == len(per_iteration) and all(0.0 <= a <= 1.0 for a in accuracy)
    classifier = [value for _, value in metric_series(records, "train_loss_speaker_classifier", "iteration")]
    assert all(c > 0 for c in classifier)  # cross-entropy of the adversarial classifier, 3 speakers
    assert all(0.0 <= a <= 1.0 for _, a in metric_series(records, "val_speaker_accuracy", "epoch"))
    config = torch.load(out / "checkpoint_Tacotron2_last.pt", weights_only=True)["config"]
    assert config["encoder_type"] == variant and config["speaker_classifier_hidden_dim"] == 16
    if variant == "shared":
        ratios = [value for _, value in metric_series(records, "teacher_forcing_ratio", "iteration")]
        assert ratios == pytest.approx([1.0, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.5])
        mcds = [value for _, value in metric_series(records, "val_mcd", "epoch")]
        assert len(mcds) == EPOCHS and all(0.0 < m < 100.0 for m in mcds)


def test_speaker_language_and_symbol_maps_are_saved_and_restored(train_variant, multilingual_corpus):
    path = train_variant("separate") / "checkpoint_Tacotron2_last.pt"
    checkpoint = torch.load(path, weights_only=True)
    config = checkpoint["config"]
    vocabulary = build_vocabulary(multilingual_corpus / "ml_train.txt", ["english_cleaners"])
    assert config["speakers"] == vocabulary.speakers == ["spk00", "spk01", "spk02"]
    assert config["languages"] == vocabulary.languages == ["en", "fr"]
    assert config["symbols"] == vocabulary.symbols and config["n_symbols"] == len(vocabulary.symbols)
    assert config["symbols"][0] == "_" and {"é", "ç", "z", " "} <= set(config["symbols"])
    model = build_tacotron2(**config)
    assert type(model) is MultilingualTacotron2
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    loaded = load_tacotron2(path)  # the inference loader picks the same class from the config
    assert isinstance(loaded, MultilingualTacotron2)
    assert (loaded.speakers, loaded.languages, loaded.symbols) == (config["speakers"], config["languages"],
                                                                   config["symbols"])
    assert len(loaded.encoder.encoders) == 2  # one encoder per language
    for key, value in checkpoint["state_dict"].items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_inference_speaks_a_speaker_in_a_language_it_never_recorded(train_variant, multilingual_corpus,
                                                                    tmp_path):
    recorded: dict[str, set[str]] = {}
    for entry in read_filelist(multilingual_corpus / "ml_train.txt"):
        recorded.setdefault(entry.speaker, set()).add(entry.language)
    assert recorded == {"spk00": {"en"}, "spk01": {"fr"}, "spk02": {"en"}}
    checkpoint = train_variant("shared") / "checkpoint_Tacotron2_last.pt"
    lines = tmp_path / "in.txt"
    lines.write_text("bonjour mes amis.|spk00|fr\nHello <fr>bonjour</fr> again.|spk01\n")
    out = tmp_path / "wavs"
    argv = ["-i", str(lines), "-o", str(out), "--tacotron2", str(checkpoint), "--cpu", "--language", "en",
            "--max-decoder-steps", "30", "--griffin-lim-iters", "2", "--seed", "1"]
    assert inference.main(argv) == 0
    for i in range(2):
        audio, rate = sf.read(out / f"audio_{i}.wav")
        assert rate == 22050 and audio.size > 0 and np.abs(audio).max() > 0
    # the speaker embedding changes the voice: the same French line, same seed, spk00 vs spk01
    model = load_tacotron2(checkpoint, overrides={"max_decoder_steps": 30})
    synth = Synthesizer(model, griffin_lim_iters=0, language="fr")

    def mel(speaker: str) -> torch.Tensor:
        phrases, _ = read_phrases([f"bonjour mes amis.|{speaker}|fr"])
        phrase = phrases[0]
        assert (phrase.text, phrase.speaker, phrase.language) == ("bonjour mes amis.", speaker, "fr")
        torch.manual_seed(3)
        return synth.synthesize(phrases).utterances[0].mel

    synth_mel = mel("spk00")
    assert torch.equal(synth_mel, mel("spk00"))
    other = mel("spk01")
    frames = min(synth_mel.size(1), other.size(1))
    assert not torch.allclose(synth_mel[:, :frames], other[:, :frames])


def test_unknown_validation_speaker_is_named(multilingual_corpus, tmp_path, capsys):
    lines = (multilingual_corpus / "ml_val.txt").read_text().splitlines()
    path, text, _, language = lines[1].split("|")
    bad = tmp_path / "val_bad.txt"
    bad.write_text("\n".join([lines[0], f"{path}|{text}|spk99|{language}"]) + "\n")
    args = ml_args(multilingual_corpus, tmp_path / "o", 1)
    args[args.index("--validation-files") + 1] = str(bad)
    assert run.main(args) == 1
    err = capsys.readouterr().err
    assert "val_bad.txt:2" in err and "'spk99'" in err and "spk00" in err and "Traceback" not in err


def test_conditioned_training_needs_speaker_and_language_fields(multilingual_corpus, tmp_path, capsys):
    plain = tmp_path / "plain.txt"
    plain.write_text("".join(line.rsplit("|", 2)[0] + "\n"
                             for line in (multilingual_corpus / "ml_train.txt").read_text().splitlines()))
    args = ml_args(multilingual_corpus, tmp_path / "o", 1)
    args[args.index("--training-files") + 1] = str(plain)
    assert run.main(args) == 1
    err = capsys.readouterr().err
    assert "plain.txt:1" in err and "path|text|speaker|language" in err and "Traceback" not in err


def test_dataset_batches_carry_speaker_and_language_ids(multilingual_corpus):
    corpus = multilingual_corpus
    args = parse("-d", str(corpus), "--training-files", str(corpus / "ml_train.txt"), *CONDITIONED_FLAGS)
    vocabulary = build_vocabulary(corpus / "ml_train.txt", ["english_cleaners"])
    entries = read_filelist(corpus / "ml_val.txt")
    dataset = get_dataset(args, corpus / "ml_val.txt")
    items = [dataset[i] for i in range(len(entries))]
    for entry, (text, mel, speaker, language) in zip(entries, items, strict=True):
        names = (vocabulary.speakers[speaker], vocabulary.languages[language])
        assert names == (entry.speaker, entry.language)
        spelled = "".join(vocabulary.symbols[i] for i in text.tolist())
        assert spelled == clean_for_language(entry.text, entry.language) and mel.size(0) == 80
    x, y, _ = batch_to_device(get_collate_fn(args)(items), "cpu")
    assert len(x) == 7 and len(y) == 5
    assert x[5].tolist() == [0, 1, 2] and x[6].tolist() == [0, 1, 0] and torch.equal(y[4], x[5])
    # a model's own maps (e.g. a checkpoint's config) win over the training filelist
    symbols = ["_", *reversed(vocabulary.symbols[1:])]
    config = {"speakers": ["spk02", "spk01", "spk00"], "languages": ["fr", "en"], "symbols": symbols}
    text, _, speaker, language = get_dataset(args, corpus / "ml_val.txt", config)[0]
    assert (speaker, language) == (2, 1)
    assert "".join(symbols[i] for i in text.tolist()) == clean_for_language(entries[0].text, "en")


# ----------------------------------------------------------------------------- flags and model choice


def parse(*argv: str):
    return tacotron2_parser(training_parser(add_help=False), add_help=False).parse_args(list(argv))


def test_default_flags_build_exactly_the_reference_model():
    args = parse()
    assert not is_conditioned(args)
    config = model_config(args)
    assert list(config) == list(MODEL_KEYS)
    model = get_model_spec("Tacotron2").model_class(**config)
    assert type(model) is Tacotron2
    assert get_model_spec("Tacotron2").step_hook(model, args, 0, 0) == {}  # nothing to set on the reference
    # a teacher-forcing schedule alone: the extended class, with exactly the reference's weights
    scheduled = model_config(parse("--teacher-forcing", "cosine", "--teacher-forcing-final-ratio", "0.3"))
    tiny = {**{k: scheduled[k] for k in MODEL_KEYS}, **TINY_MODEL}
    extended = build_tacotron2(**{**scheduled, **TINY_MODEL})
    assert type(extended) is MultilingualTacotron2
    reference_shapes = {k: v.shape for k, v in Tacotron2(**tiny).state_dict().items()}
    assert {k: v.shape for k, v in extended.state_dict().items()} == reference_shapes


def test_flag_combinations_are_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parse("--encoder-type", "generated")
    assert "--language-embedding-dim" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("--teacher-forcing-final-ratio", "1.5")
    assert "--teacher-forcing-final-ratio" in capsys.readouterr().err


# ------------------------------------------------------------------ gradient reversal and classifier


def test_gradient_reversal_clips_then_scales_by_minus_lambda():
    x = torch.tensor([1.0, -2.0, 3.0, 0.5, -0.5], requires_grad=True)
    y = reverse_gradient(x, scale=0.5)
    assert torch.equal(y, x)
    y.backward(torch.tensor([-1.0, -0.1, 0.2, 3.0, 0.25]))
    # clamp to [-0.25, 0.25]: [-0.25, -0.1, 0.2, 0.25, 0.25]; times -0.5
    assert torch.allclose(x.grad, torch.tensor([0.125, 0.05, -0.1, -0.125, -0.125]))


def test_classifier_learns_normally_while_the_encoder_gets_the_reversed_gradient():
    torch.manual_seed(0)
    classifier = SpeakerClassifier(6, 5, 3, reversal_lambda=2.0)
    features = torch.randn(2, 4, 6, requires_grad=True)
    targets = torch.tensor([[0, 1, 2, 0], [2, 2, 1, 0]])
    loss = torch.nn.functional.cross_entropy(classifier(features).reshape(-1, 3), targets.reshape(-1))
    loss.backward()
    plain_features = features.detach().clone().requires_grad_(True)
    hidden, output = classifier.hidden.linear_layer, classifier.output.linear_layer
    plain_logits = output(torch.relu(hidden(plain_features)))
    plain_params = torch.autograd.grad(
        torch.nn.functional.cross_entropy(plain_logits.reshape(-1, 3), targets.reshape(-1)),
        [hidden.weight, output.weight, plain_features])
    assert torch.allclose(hidden.weight.grad, plain_params[0])
    assert torch.allclose(output.weight.grad, plain_params[1])
    assert torch.allclose(features.grad, -2.0 * plain_params[2].clamp(-0.25, 0.25))


# -------------------------------------------------------------------------------------- teacher forcing


def test_teacher_forcing_schedules():
    assert teacher_forcing_ratio(123) == 1.0
    assert teacher_forcing_ratio(5, "constant", final_ratio=0.7) == 0.7
    linear = [teacher_forcing_ratio(s, "linear", 10, 20, 0.2) for s in (0, 10, 15, 18, 20, 99)]
    assert linear == pytest.approx([1.0, 1.0, 0.6, 0.36, 0.2, 0.2])
    cosine = [teacher_forcing_ratio(s, "cosine", 10, 20, 0.2) for s in (9, 10, 12.5, 15, 20)]
    quarter = 0.2 + 0.8 * (1 + math.cos(math.pi / 4)) / 2
    assert cosine == pytest.approx([1.0, 1.0, quarter, 0.6, 0.2])
    assert teacher_forcing_ratio(7, "linear", 5, 5, 0.4) == 0.4  # end <= start: a step at start
    with pytest.raises(ValueError, match="--teacher-forcing-final-ratio"):
        teacher_forcing_ratio(0, "linear", 0, 1, 1.5)


def decoder_outputs(decoder: ScheduledDecoder, targets: torch.Tensor, ratio: float, seed: int):
    decoder.teacher_forcing_ratio, decoder.teacher_forcing_seed = ratio, seed
    torch.manual_seed(42)  # the prenet dropout
    memory = torch.linspace(-1, 1, 2 * 5 * 16).reshape(2, 5, 16)
    return decoder(memory, targets, torch.tensor([5, 3]))[0]


def test_teacher_forcing_ratio_chooses_ground_truth_or_own_output():
    model = tiny_model(speaker_embedding_dim=0, language_embedding_dim=0)  # memory = encoder outputs
    decoder = model.decoder
    decoder.train()
    targets = torch.randn(2, 10, 8, generator=torch.Generator().manual_seed(1))
    other_targets = targets + 1.0
    reference = Tacotron2(**TINY_MODEL).decoder
    reference.load_state_dict({k: v for k, v in decoder.state_dict().items()})
    with torch.no_grad():
        # ratio 1: the reference teacher-forced pass, bit for bit
        forced = decoder_outputs(decoder, targets, 1.0, 0)
        assert torch.equal(forced, decoder_outputs(reference, targets, 1.0, 0))
        # ratio 0: every input is the model's own output, so the targets do not matter
        free = decoder_outputs(decoder, targets, 0.0, 0)
        assert torch.equal(free, decoder_outputs(decoder, other_targets, 0.0, 0))
        assert not torch.equal(forced, decoder_outputs(decoder, other_targets, 1.0, 0))
        # ratio 0.5: the per-step choices follow the seed
        half = decoder_outputs(decoder, targets, 0.5, 7)
        assert torch.equal(half, decoder_outputs(decoder, targets, 0.5, 7))
        assert not torch.equal(half, decoder_outputs(decoder, targets, 0.5, 8))
        decoder.eval()  # eval mode ignores the ratio: always teacher-forced
        reference.eval()
        eval_free = decoder_outputs(decoder, targets, 0.0, 0)
        assert torch.equal(eval_free, decoder_outputs(reference, targets, 1.0, 0))


# ------------------------------------------------------------------------ code-switching and encoders


def test_language_tags_split_a_line_into_spans():
    assert split_language_tags("Hello <fr>bonjour mes amis</fr> again", "en") == [
        ("Hello ", "en"), ("bonjour mes amis", "fr"), (" again", "en")]
    assert split_language_tags("<de>guten Tag</de>", "en") == [("guten Tag", "de")]
    assert split_language_tags("a < b > c", "en") == [("a < b > c", "en")]
    for bad, message in [("a <fr>b", "never closed"), ("a </fr>", "does not close"),
                         ("<fr>a <de>b</de></fr>", "do not nest"), ("<fr>a</de>", "does not close <fr>")]:
        with pytest.raises(LanguageTagError, match=message):
            split_language_tags(bad, "en")


def test_code_switched_text_gets_per_symbol_language_ids():
    encoder = MultilingualTextEncoder(list("_ !',-.?abcdefghijklmnopqrstuvwxyzé"), ["en", "fr"])
    ids, languages = encoder.encode("Hi <fr>oui, 2</fr> ok!", "en")
    text = "".join(encoder.table.symbol(i) for i in ids)
    assert text == "hi oui, deux ok!"  # French number reading inside the French span
    assert languages == [0, 0, 0] + [1] * 10 + [0, 0, 0]  # a joining space takes the preceding span's
    with pytest.raises(LanguageTagError, match="'de' is not one of the model's languages"):
        encoder.encode("<de>ja</de>", "en")


def test_language_spans_of_per_symbol_ids():
    ids = torch.tensor([[0, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]])
    assert language_spans(ids, torch.tensor([6, 3])) == [(0, 0, 2, 0), (0, 2, 4, 1), (0, 4, 6, 0),
                                                         (1, 0, 3, 1)]


def test_separate_encoders_run_each_span_through_its_languages_encoder():
    torch.manual_seed(0)
    encoder = SeparateEncoder(2, 2, 8, 3, 6).eval()
    x = torch.randn(1, 6, 7)
    languages = torch.tensor([[0, 0, 0, 1, 1, 0, 0]])
    out = encoder(x, torch.tensor([7]), languages)
    with torch.no_grad():
        spans = [(0, 3, 0), (3, 5, 1), (5, 7, 0)]
        expected = torch.cat([encoder.encoders[lang](x[:, :, s:e]) for s, e, lang in spans], dim=1)
    assert torch.allclose(out, expected, atol=1e-6)


def test_generated_convolution_uses_each_positions_language_weights():
    torch.manual_seed(0)
    conv = GeneratedConv1d(3, 4, 3, embedding_dim=2, bottleneck_dim=2)
    torch.nn.init.normal_(conv.generator.linear_layer.weight)  # make the languages differ clearly
    codes = torch.randn(2, 2)
    x = torch.randn(2, 3, 6)
    languages = torch.tensor([[0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    out = conv(x, languages, codes)
    weights, biases = conv.parameters_for(codes)
    per_language = [torch.nn.functional.conv1d(x, weights[i], biases[i], padding=1) for i in range(2)]
    expected = torch.where((languages == 1).unsqueeze(1), per_language[1], per_language[0])
    assert torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(per_language[0], per_language[1])


@pytest.mark.parametrize("encoder_type", ["shared", "separate", "generated"])
def test_model_takes_per_utterance_or_per_symbol_language_ids(encoder_type):
    model = tiny_model(encoder_type).eval()
    text = torch.tensor([[1, 2, 3, 4, 5], [2, 3, 4, 1, 0]])
    lengths = torch.tensor([5, 4])
    speakers = torch.tensor([0, 2])
    with torch.no_grad():
        per_utterance = model.encode(text, lengths, speakers, torch.tensor([1, 0]))
        per_symbol = model.encode(text, lengths, speakers, torch.tensor([[1] * 5, [0] * 5]))
        switched = model.encode(text, lengths, speakers, torch.tensor([[1, 1, 0, 0, 0], [0] * 5]))
    assert per_utterance.shape == (2, 5, 16 + 3 + 2)
    assert torch.equal(per_utterance, per_symbol)
    assert not torch.allclose(per_utterance[0, :4], switched[0, :4])
    assert torch.allclose(per_utterance[1], switched[1], atol=1e-6)  # batched with other spans: rounding
    with pytest.raises(MultilingualInputError, match="pass speaker ids"):
        model.encode(text, lengths, None, torch.tensor([1, 0]))


def test_forward_with_the_speaker_classifier_returns_its_logits_by_name():
    model = tiny_model("shared")
    text = torch.tensor([[1, 2, 3, 4, 5], [2, 3, 4, 1, 0]])
    lengths, speakers, languages = torch.tensor([5, 4]), torch.tensor([0, 2]), torch.tensor([1, 0])
    mels = torch.randn(2, 10, 6, generator=torch.Generator().manual_seed(0))
    x = ConditionedInputs(text, lengths, mels, 6, torch.tensor([6, 4]), speakers, languages)
    out = model(x)
    assert isinstance(out, ClassifiedOutputs) and len(out) == 5 and out[4] is out.speaker_logits
    assert out.speaker_logits.shape == (2, 5, 3) and out.alignments.shape[2] == 5
    plain = tiny_model("shared", speaker_classifier_hidden_dim=0)(x)
    assert isinstance(plain, Outputs) and len(plain) == 4
    with pytest.raises(MultilingualInputError, match=r"language_ids must lie in \[0, 1\]"):
        model.encode(text, lengths, speakers, torch.tensor([2, 0]))


def test_shared_encoder_reads_the_language_embedding_of_every_symbol():
    model = tiny_model("shared")
    assert isinstance(model.encoder, Encoder)
    first = model.encoder.convolutions[0][0].conv
    assert first.in_channels == 12 + 2  # character embedding + language embedding


# ------------------------------------------------------------------------------------------------- MCD


def test_mel_cepstra_invert_and_a_known_shape_change_gives_a_known_mcd():
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(10, 30))
    cepstra = mel_cepstra(mel, order=9)  # full order: an exact transform
    basis = np.cos(np.pi * np.arange(10)[:, None] * (np.arange(10)[None, :] + 0.5) / 10)
    assert np.allclose(cepstra @ basis, mel.T)
    assert np.allclose(cepstra[:, 0], mel.mean(axis=0))
    assert mcd(mel_cepstra(mel), mel_cepstra(mel))[0] == 0.0
    bump = 0.3 * np.cos(np.pi * 2 * (np.arange(10) + 0.5) / 10)[:, None]  # exactly c2 += 0.3
    level = 5.0  # a level change only moves c0, which MCD excludes
    value, path = mcd(mel_cepstra(mel), mel_cepstra(mel + bump + level))
    assert value == pytest.approx(MCD_CONSTANT * 0.3)
    assert len(path) == 30

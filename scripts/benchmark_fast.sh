#!/usr/bin/env bash
# Fast vs eager implementations (docs/PERFORMANCE.md): this machine's roofline, one microbenchmark per
# idea, and the side-by-side benchmarks (both implementations alternating in one run, with their ratio).
#
#   scripts/benchmark_fast.sh [all|roofline|ideas|train|infer|torchscript|waveglow]...   (default: all)
#
# Environment: THREADS="1 2" (torch CPU threads, one run each), OUT=benchmark_output/fast (run logs),
# QUICK=1 (tiny sizes and one repeat: checks that every command works, in about a minute).
# The full-size training comparison takes ~7 minutes per thread count on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-"1 2"}
OUT=${OUT:-benchmark_output/fast}
QUICK=${QUICK:-0}
mkdir -p "$OUT"

if [[ "$QUICK" == 1 ]]; then
    T2_TRAIN=(--text-length 20 --mel-length 30 --attention-rnn-dim 64 --decoder-rnn-dim 64)
    T2_INFER=(--text-length 20 --mel-length 10 --attention-rnn-dim 64 --decoder-rnn-dim 64)
    WG=(--mel-length 4 --wn-channels 32)
    WG512=(--mel-length 4 --wn-channels 48)
    REPEATS=(--warmup 0 --repeats 1)
    SIZE=small
else
    T2_TRAIN=(--text-length 150 --mel-length 600)
    T2_INFER=(--text-length 128 --mel-length 200)
    WG=(--mel-length 80 --wn-channels 256)
    WG512=(--mel-length 32 --wn-channels 512)  # the reference's (and NGC checkpoint's) size
    REPEATS=(--warmup 1 --repeats 3)
    SIZE=full
fi

roofline() {
    for t in $THREADS; do
        python - "$t" "$QUICK" <<'EOF'
"""Memory bandwidth, GEMM rate and LSTM-shaped matrix-vector rates of this machine."""
import statistics
import sys
import time

import torch

threads, quick = int(sys.argv[1]), sys.argv[2] == "1"
torch.set_num_threads(threads)


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


n = (4 if quick else 64) * 1024 * 1024  # floats: 256 MB, far beyond the 8 MB L3
a, b = torch.randn(n), torch.empty(n)
med, best = timed(lambda: b.copy_(a), 9)
print(f"threads {threads} | copy (read+write) {2 * 4 * n / med / 1e9:.1f} GB/s median, {2 * 4 * n / best / 1e9:.1f} best")
med, best = timed(lambda: a.sum(), 9)
print(f"threads {threads} | read (sum) {4 * n / med / 1e9:.1f} GB/s median, {4 * n / best / 1e9:.1f} best")
size = 512 if quick else 2048
m = torch.randn(size, size)
med, best = timed(lambda: m @ m, 7)
print(f"threads {threads} | fp32 GEMM {size}^3 {2 * size**3 / med / 1e9:.1f} GFLOP/s median, "
      f"{2 * size**3 / best / 1e9:.1f} best")
w = torch.randn(4096, 2560)  # the decoder LSTM's [W_ih | W_hh]
for batch in (1, 4):
    x = torch.randn(batch, 2560)
    for name, fn in (("x @ W^T", lambda: x @ w.t()), ("W @ x^T", lambda: w @ x.t())):
        med, best = timed(fn, 21)
        print(f"threads {threads} | LSTM product 4096x2560 batch {batch} {name}: {med * 1e3:.2f} ms median "
              f"({w.numel() * 4 / med / 1e9:.1f} GB/s of weights), {best * 1e3:.2f} best")
EOF
    done
}

ideas() {
    python - "$QUICK" <<'EOF'
"""One microbenchmark per idea, single thread, full Tacotron 2 / WaveGlow-256 shapes (batch 4, 150 symbols)."""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
quick = sys.argv[1] == "1"
steps = 20 if quick else 100


def timed(fn, repeats=9):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


B, T_in = 4, 150
w_dec, w_att = torch.randn(4096, 2560), torch.randn(4096, 1536)
x_dec, x_att = torch.randn(B, 2560), torch.randn(B, 1536)
both = lambda f: f(w_dec, x_dec) + f(w_att, x_att)  # noqa: E731
print("1. LSTM products per step, batch 4 (both cells):")
print(f"   x @ W^T (nn.LSTMCell's F.linear) {timed(lambda: both(lambda w, x: x @ w.t())) * 1e3:.2f} ms, "
      f"W @ x^T {timed(lambda: both(lambda w, x: w @ x.t())) * 1e3:.2f} ms")

g = torch.randn(steps, B, 4096)
xs = torch.randn(steps, B, 2560)


def per_step():
    acc = torch.zeros(4096, 2560)
    for t in range(steps):
        acc += g[t].t() @ xs[t]  # autograd: a new rank-4 gradient per step, added to the accumulator


once = lambda: g.view(-1, 4096).t() @ xs.view(-1, 2560)  # noqa: E731
print(f"2. decoder LSTM weight gradient over {steps} steps: per step {timed(per_step, 3) * 1e3:.0f} ms, "
      f"one product {timed(once, 3) * 1e3:.0f} ms")

w_pre, pre = torch.randn(4096, 256), torch.randn(steps, B, 256)
loop = lambda: [w_pre @ pre[t].t() for t in range(steps)]  # noqa: E731
print(f"3. prenet share of the attention LSTM input product, {steps} steps: per step {timed(loop) * 1e3:.1f} ms, "
      f"batched {timed(lambda: pre.view(-1, 256) @ w_pre.t()) * 1e3:.1f} ms")

wcat = torch.randn(B, 2, T_in)
conv_w, dense_w = torch.randn(32, 2, 31), torch.randn(128, 32)
folded = (dense_w @ conv_w.flatten(1)).view(128, 2, 31)
separate = lambda: F.linear(F.conv1d(wcat, conv_w, padding=15).transpose(1, 2), dense_w)  # noqa: E731
print(f"4. location features per step: conv + dense {timed(separate, 51) * 1e3:.3f} ms, "
      f"folded conv {timed(lambda: F.conv1d(wcat, folded, padding=15), 51) * 1e3:.3f} ms")

C, T = (64, 640) if quick else (256, 2560)  # WaveGlow-256, 80 frames
x, acts = torch.randn(1, C, T), torch.randn(C, T)
w_in, b_in = torch.randn(2 * C, C, 3), torch.randn(2 * C)
taps = w_in.permute(2, 0, 1).contiguous()
out = torch.randn(2 * C, T)


def tapwise():
    out[:, 4:].addmm_(taps[0], x[0, :, :-4])
    out.addmm_(taps[1], x[0])
    out[:, :-4].addmm_(taps[2], x[0, :, 4:])


w_skip = torch.randn(C, C)
print(f"5. WaveGlow layer (C={C}, {T} steps): dilated conv1d {timed(lambda: F.conv1d(x, w_in, b_in, padding=4, dilation=4)) * 1e3:.1f} ms, "
      f"tap-wise products into the cond buffer {timed(tapwise) * 1e3:.1f} ms; "
      f"skip product removed by folding into the end layer {timed(lambda: w_skip @ acts) * 1e3:.1f} ms per layer")
EOF
}

train() {
    for t in $THREADS; do
        python -m common.benchmark_train -m Tacotron2 --cpu --threads "$t" --batch-size 4 "${T2_TRAIN[@]}" \
            --compare-impl "${REPEATS[@]}" -o "$OUT/train_t$t"
    done
}

infer() {
    for t in $THREADS; do
        for bs in 1 4; do
            python -m common.benchmark_train -m Tacotron2 --mode infer --cpu --threads "$t" --batch-size "$bs" \
                "${T2_INFER[@]}" --compare-impl --warmup 1 --repeats 5 -o "$OUT/infer_t${t}_b$bs"
        done
    done
}

torchscript() {
    for t in $THREADS; do
        python - "$t" "$SIZE" <<'EOF'
"""Synthesis latency at batch 1: eager loop, the TorchScript loop of common/export/, the fast decoder."""
import statistics
import sys
import time
import warnings

import torch

from common.export import script_tacotron2
from tacotron2.fast_decoder import set_decoder_impl
from tacotron2.model import Tacotron2

threads, size = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(threads)
steps = 200 if size == "full" else 10
config = {} if size == "full" else dict(
    symbols_embedding_dim=32, encoder_kernel_size=3, encoder_n_convolutions=1, encoder_embedding_dim=32,
    attention_rnn_dim=32, attention_dim=16, attention_location_n_filters=4, attention_location_kernel_size=5,
    decoder_rnn_dim=32, prenet_dim=16, postnet_embedding_dim=32, postnet_kernel_size=3, postnet_n_convolutions=2)
config.update(max_decoder_steps=steps, decoder_no_early_stopping=True)
torch.manual_seed(0)
model = Tacotron2(**config).eval()
fast = set_decoder_impl(Tacotron2(**config).eval(), "fast")
fast.load_state_dict(model.state_dict())
text = torch.randint(1, 148, (1, 128))
lengths = torch.tensor([128])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    scripted = script_tacotron2(model)
    runs = {"eager": lambda: model.infer(text, lengths), "torchscript": lambda: scripted.infer(text, lengths),
            "fast": lambda: fast.infer(text, lengths)}
    times = {name: [] for name in runs}
    for i in range(6):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if i:
                times[name].append(time.perf_counter() - start)
eager = statistics.median(times["eager"])
for name, values in times.items():
    med = statistics.median(values)
    print(f"threads {threads} | batch 1, {steps} steps | {name}: {med:.3f} s median "
          f"({med / steps * 1e3:.2f} ms/step), eager / {name} = {eager / med:.2f}x")
EOF
    done
}

waveglow() {
    for t in $THREADS; do
        python -m common.benchmark_train -m WaveGlow --mode infer --cpu --threads "$t" --batch-size 1 "${WG[@]}" \
            --compare-impl "${REPEATS[@]}" -o "$OUT/waveglow_t$t"
        python -m common.benchmark_train -m WaveGlow --mode infer --cpu --threads "$t" --batch-size 1 \
            "${WG512[@]}" --compare-impl "${REPEATS[@]}" -o "$OUT/waveglow512_t$t"
    done
}

sections=("$@")
[[ ${#sections[@]} -eq 0 ]] && sections=(all)
for section in "${sections[@]}"; do
    case "$section" in
        all) roofline; ideas; train; infer; torchscript; waveglow ;;
        roofline|ideas|train|infer|torchscript|waveglow) "$section" ;;
        *) echo "benchmark_fast.sh: unknown section '$section' (all, roofline, ideas, train, infer, torchscript, waveglow)" >&2
           exit 2 ;;
    esac
done

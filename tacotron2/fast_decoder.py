"""Fast Tacotron 2 decoder: the function of `Decoder.forward` / `Decoder.infer`, computed with less work.

`Decoder.decode` (tacotron2/model.py) stays the reference ("eager") path; `set_decoder_impl(model, "fast")`
routes `Decoder.forward` and `Decoder.infer` here. Parameters, state_dict and outputs are the same (up to
float rounding: sums are grouped differently); tests/test_fast_paths.py checks outputs and every
parameter gradient against the eager path. Why it is faster (measurements: docs/PERFORMANCE.md):

- Work that does not depend on the recurrence is done once for all steps: the prenet and its share of
  the attention LSTM's input product (one matrix product over all steps), the memory projection, and in
  training the mel/gate projection (after the loop, one product).
- Each LSTM cell is one matrix product per step (input and hidden weights side by side, both biases
  summed) computed as W @ x^T: with MKL on this machine that orientation streams the weight once at
  batch 1-8, while x @ W^T (what `nn.LSTMCell` does) is 2-3x slower at batch 4.
- Training runs the whole recurrence inside one autograd Function with a hand-written backward through
  time. Per step the backward reads each weight once (for the input gradient); the weight gradients are
  formed once per sequence as one large matrix product over all steps and the batch, instead of a
  read-modify-write of every weight gradient at every step (the eager autograd graph does that).
- The location convolution and its dense layer (both linear, bias-free) are folded into one convolution;
  attention energies are computed channels-first, so the step has no transposes.
- Per-step tensors live in preallocated buffers that double as the activations kept for the backward.
- Synthesis runs its per-step loop compiled by TorchScript (about 40 small ops per step; the
  interpreter dispatches them with less overhead than Python), with the rearranged weights cached.
- At batch 1 (and short inputs) synthesis applies both LSTMs' context weights to the memory once per
  sentence instead of to the context every step: the context is a weighted sum of memory rows, so the
  step reads the (T_in x 8 H) projected memory instead of the (8 H x M) weights (`projects_context`).

Dropout masks are drawn in the eager order (prenet, then attention and decoder dropout per step) and
shape, in training with `torch.native_dropout`, in synthesis with the same `F.dropout` calls as eager,
so with the same seed the fast path draws exactly the eager masks on the CPU (on CUDA it consumes the
generator like eager's fused dropout kernel).

Not covered (the eager path runs): the scheduled-sampling decoder of tacotron2/teacher_forcing.py when it
feeds the model's own frames (its inputs depend on its outputs), and `Decoder.infer` called with autograd
on (Tacotron2.infer always runs without). Under autocast the fast decoder runs in float32 (more precise
than eager autocast, which rounds the LSTM cells and projections to 16 bits; its outputs are float32).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacotron2.stopping import attention_dwell, attention_stop_steps, warn_unfinished

IMPLS = ("eager", "fast")


class DecoderImplError(ValueError):
    """An unknown decoder implementation name (`--decoder-impl`)."""


def check_impl(impl: str) -> str:
    """Return `impl` if it names a decoder implementation, else raise DecoderImplError naming the flag."""
    if impl not in IMPLS:
        raise DecoderImplError(f"--decoder-impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    return impl


def set_decoder_impl(model: nn.Module, impl: str) -> nn.Module:
    """Route the decoder of a Tacotron 2 (or a `Decoder` itself) to `impl` ("eager" or "fast"); returns it.

    Only a plain attribute changes: constructor keywords and the state_dict stay the reference's.
    """
    check_impl(impl)
    decoder = getattr(model, "decoder", model)
    if not hasattr(decoder, "decode") or not hasattr(decoder, "attention_rnn"):
        raise DecoderImplError(f"{type(model).__name__} has no Tacotron 2 decoder to set --decoder-impl on")
    decoder.impl = impl
    return model


# ------------------------------------------------------------------------------------------------ pieces


def _drop_mask(template: Tensor, p: float) -> Tensor:
    """Dropout multiplier (0 or 1/(1-p)) shaped like `template`, drawing the generator as `F.dropout`."""
    keep = torch.native_dropout(template, p, True)[1]
    return keep.to(template.dtype).div_(1.0 - p)


def _cell_forward(gates_t: Tensor, c_prev: Tensor, act: Tensor, c_out: Tensor) -> Tensor:
    """LSTM cell from gate pre-activations (4H, B) as the W @ x^T product gives them.

    Writes the activated gates [i, f, g, o] as (B, 4H) into `act` and the new cell state (B, H) into
    `c_out`; returns the new hidden state (B, H).
    """
    hidden = c_out.size(1)
    torch.sigmoid(gates_t[: 2 * hidden].t(), out=act[:, : 2 * hidden])
    torch.tanh(gates_t[2 * hidden : 3 * hidden].t(), out=act[:, 2 * hidden : 3 * hidden])
    torch.sigmoid(gates_t[3 * hidden :].t(), out=act[:, 3 * hidden :])
    i, f, g, o = act.split(hidden, dim=1)
    torch.mul(f, c_prev, out=c_out)
    c_out.addcmul_(i, g)
    return o * torch.tanh(c_out)


def _cell_backward(dh: Tensor, dc_next: Tensor, act: Tensor, c_prev: Tensor, c: Tensor,
                   dgates: Tensor) -> Tensor:
    """Backward of `_cell_forward`: fills dgates (B, 4H) (gradient of the gate pre-activations) from the
    gradients of the hidden state `dh` and of the cell state `dc_next`; returns the gradient of c_prev."""
    hidden = c.size(1)
    i, f, g, o = act.split(hidden, dim=1)
    di, df, dg, do = dgates.split(hidden, dim=1)
    tanh_c = torch.tanh(c)
    torch.mul(dh, tanh_c, out=do)
    dc = dh * o
    dc.mul_(1.0 - tanh_c * tanh_c).add_(dc_next)
    torch.mul(dc, g, out=di)
    torch.mul(dc, c_prev, out=df)
    torch.mul(dc, i, out=dg)
    slope = torch.addcmul(act, act, act, value=-1.0)  # s (1 - s) of the sigmoid gates
    slope_g = slope[:, 2 * hidden : 3 * hidden]
    torch.mul(g, g, out=slope_g)
    slope_g.neg_().add_(1.0)  # 1 - g^2 of the tanh gate
    dgates.mul_(slope)
    return dc.mul_(f)


class _Weights:
    """The decoder's parameters rearranged for the fast loop (autograd-connected to the originals)."""

    def __init__(self, decoder: nn.Module, prenet_dim: int, synthesis: bool = False) -> None:
        att, dec = decoder.attention_rnn, decoder.decoder_rnn
        layer = decoder.attention_layer
        location = layer.location_layer
        h_att = att.hidden_size
        self.att_prenet = att.weight_ih[:, :prenet_dim]
        self.att_bias = _bias_sum(att)
        self.dec_bias = _bias_sum(dec)
        if synthesis:
            # per step on the rows [prenet, attention hidden] and [attention hidden, decoder hidden]; the
            # context columns of both cells are one block, applied to the context or to the memory once
            # (`_synthesis_steps`); separate contiguous blocks stream faster than column slices
            self.att = torch.cat((att.weight_ih[:, :prenet_dim], att.weight_hh), dim=1)
            self.dec = torch.cat((dec.weight_ih[:, :h_att], dec.weight_hh), dim=1)
            self.context = torch.cat((att.weight_ih[:, prenet_dim:], dec.weight_ih[:, h_att:]))
        else:
            # training: the prenet part of the attention input weights is applied to all steps at once,
            # the rest per step on the buffer rows [context, attention hidden] and [attention hidden,
            # context, decoder hidden]
            self.att = torch.cat((att.weight_ih[:, prenet_dim:], att.weight_hh), dim=1)
            self.dec = torch.cat((dec.weight_ih, dec.weight_hh), dim=1)
        self.query = layer.query_layer.linear_layer.weight  # (A, H_att)
        conv = location.location_conv.conv.weight  # (F, 2, K)
        dense = location.location_dense.linear_layer.weight  # (A, F)
        self.location = (dense @ conv.flatten(1)).view(dense.size(0), conv.size(1), conv.size(2))
        self.v = layer.v.linear_layer.weight.view(-1)  # (A,)
        projection = decoder.linear_projection.linear_layer
        gate = decoder.gate_layer.linear_layer
        self.out = torch.cat((projection.weight, gate.weight), dim=0)  # (n_mel * r + 1, H_dec + M)
        self.out_bias = torch.cat((projection.bias, gate.bias), dim=0)


def _bias_sum(cell: nn.LSTMCell) -> Tensor:
    if cell.bias_ih is None:
        return cell.weight_ih.new_zeros(cell.weight_ih.size(0))
    return cell.bias_ih + cell.bias_hh


# ---------------------------------------------------------------------------------------- training loop


class _Recurrence(torch.autograd.Function):
    """Attention LSTM -> attention -> decoder LSTM for all steps, with a hand-written backward.

    Inputs: pre_att (T, B, 4H_att) = prenet part of the attention LSTM input product plus both biases;
    memory (B, T_in, M); processed memory transposed (B, A, T_in); the memory mask (B, T_in) bool or
    None; the `_Weights` tensors; dropout multipliers (T, B, H) or None. Outputs: per step
    [decoder hidden, context] (T, B, H_dec + M) (the mel/gate projection input) and the alignments
    (T, B, T_in).
    """

    @staticmethod
    def forward(ctx, pre_att: Tensor, memory: Tensor, pm_t: Tensor, mask: Tensor | None, w_att: Tensor,
                w_dec: Tensor, b_dec: Tensor, w_query: Tensor, w_loc: Tensor, v: Tensor,
                drop_att: Tensor | None, drop_dec: Tensor | None) -> tuple[Tensor, Tensor]:
        keep = any(ctx.needs_input_grad)
        saved = _recurrence_forward(pre_att, memory, pm_t, mask, w_att, w_dec, b_dec, w_query, w_loc, v,
                                    drop_att, drop_dec, keep)
        hc, align = saved["hc"], saved["align"]
        if keep:
            ctx.save_for_backward(memory, w_att, w_dec, w_query, w_loc, v, saved["x_att"], saved["x_dec"],
                                  saved["act_att"], saved["c_att"], saved["act_dec"], saved["c_dec"],
                                  saved["wcat"], saved["tanh"], align, drop_att, drop_dec)
        return hc, align

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_hc: Tensor | None, d_align: Tensor | None) -> tuple:
        (memory, w_att, w_dec, w_query, w_loc, v, x_att, x_dec, act_att, c_att, act_dec, c_dec, wcat,
         tanh_st, align, drop_att, drop_dec) = ctx.saved_tensors
        grads = _recurrence_backward(ctx.needs_input_grad, d_hc, d_align, memory, w_att, w_dec, w_query,
                                     w_loc, v, x_att, x_dec, act_att, c_att, act_dec, c_dec, wcat, tanh_st,
                                     align, drop_att, drop_dec)
        return (*grads, None, None)


def _recurrence_forward(pre_att: Tensor, memory: Tensor, pm_t: Tensor, mask: Tensor | None, w_att: Tensor,
                        w_dec: Tensor, b_dec: Tensor, w_query: Tensor, w_loc: Tensor, v: Tensor,
                        drop_att: Tensor | None, drop_dec: Tensor | None, keep: bool) -> dict[str, Tensor]:
    """The forward loop; with `keep` every step's activations stay in the returned buffers."""
    steps, batch, _ = pre_att.shape
    h_att = w_att.size(0) // 4
    h_dec = w_dec.size(0) // 4
    t_in, mem_dim = memory.size(1), memory.size(2)
    attn_dim = w_query.size(0)
    pad = w_loc.size(2) // 2
    new = memory.new_empty
    # buffer rows: x_att[t] = [context_{t-1}, h_att_{t-1}]; x_dec[t] = [h_att_t, context_t, h_dec_{t-1}]
    x_att = memory.new_zeros(steps + 1, batch, mem_dim + h_att)
    x_dec = memory.new_zeros(steps + 1, batch, h_att + mem_dim + h_dec)
    c_att = memory.new_zeros(steps + 1, batch, h_att)  # c_att[t + 1]: cell after step t
    c_dec = memory.new_zeros(steps + 1, batch, h_dec)
    kept = steps if keep else 1
    act_att = new(kept, batch, 4 * h_att)
    act_dec = new(kept, batch, 4 * h_dec)
    tanh_st = new(kept, batch, attn_dim, t_in)
    wcat = memory.new_zeros(steps + 1, batch, 2, t_in)  # [previous weights, cumulative weights]
    hc = new(steps, batch, h_dec + mem_dim)
    align = new(steps, batch, t_in)
    pm_t = pm_t.contiguous()
    v_row = v.view(1, 1, attn_dim).expand(batch, 1, attn_dim)
    b_dec_col = b_dec.unsqueeze(1)
    masked_out = None if mask is None else ~mask
    for t in range(steps):
        k = t if keep else 0
        gates = torch.addmm(pre_att[t].t(), w_att, x_att[t].t())
        h = _cell_forward(gates, c_att[t], act_att[k], c_att[t + 1])
        att_hidden = x_dec[t, :, :h_att]
        if drop_att is not None:
            torch.mul(h, drop_att[t], out=att_hidden)
        else:
            att_hidden.copy_(h)
        x_att[t + 1, :, mem_dim:].copy_(att_hidden)

        query = torch.mm(w_query, att_hidden.t())  # (A, B)
        energy_in = F.conv1d(wcat[t], w_loc, padding=pad)  # (B, A, T_in)
        energy_in.add_(pm_t).add_(query.t().unsqueeze(2))
        th = torch.tanh(energy_in, out=tanh_st[k])
        energies = torch.bmm(v_row, th).squeeze(1)  # (B, T_in)
        if masked_out is not None:
            energies.masked_fill_(masked_out, float("-inf"))
        weights = torch.softmax(energies, dim=1)
        align[t].copy_(weights)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)  # (B, M)
        x_dec[t, :, h_att : h_att + mem_dim].copy_(context)
        x_att[t + 1, :, :mem_dim].copy_(context)
        hc[t, :, h_dec:].copy_(context)
        wcat[t + 1, :, 0].copy_(weights)
        torch.add(wcat[t, :, 1], weights, out=wcat[t + 1, :, 1])

        gates = torch.addmm(b_dec_col, w_dec, x_dec[t].t())
        h = _cell_forward(gates, c_dec[t], act_dec[k], c_dec[t + 1])
        dec_hidden = hc[t, :, :h_dec]
        if drop_dec is not None:
            torch.mul(h, drop_dec[t], out=dec_hidden)
        else:
            dec_hidden.copy_(h)
        x_dec[t + 1, :, h_att + mem_dim :].copy_(dec_hidden)
    return {"hc": hc, "align": align, "x_att": x_att, "x_dec": x_dec, "act_att": act_att, "c_att": c_att,
            "act_dec": act_dec, "c_dec": c_dec, "wcat": wcat, "tanh": tanh_st}


def _recurrence_backward(needs: tuple[bool, ...], d_hc: Tensor | None, d_align: Tensor | None,
                         memory: Tensor, w_att: Tensor, w_dec: Tensor, w_query: Tensor, w_loc: Tensor,
                         v: Tensor, x_att: Tensor, x_dec: Tensor, act_att: Tensor, c_att: Tensor,
                         act_dec: Tensor, c_dec: Tensor, wcat: Tensor, tanh_st: Tensor, align: Tensor,
                         drop_att: Tensor | None, drop_dec: Tensor | None) -> tuple:
    """Backward through time of `_recurrence_forward`; gradients in `_Recurrence.forward`'s input order
    (without the two dropout inputs)."""
    steps, batch, t_in = align.shape
    h_att = w_att.size(0) // 4
    h_dec = w_dec.size(0) // 4
    mem_dim = memory.size(2)
    attn_dim = w_query.size(0)
    pad = w_loc.size(2) // 2
    if d_hc is None:
        d_hc = memory.new_zeros(steps, batch, h_dec + mem_dim)
    if d_align is None:
        d_align = memory.new_zeros(steps, batch, t_in)
    # W^T copies: the input gradient (W^T dg) as a row-major product, the fast orientation
    w_att_t = w_att.t().contiguous()
    w_dec_t = w_dec.t().contiguous()
    dg_att = memory.new_empty(steps, batch, 4 * h_att)
    dg_dec = memory.new_empty(steps, batch, 4 * h_dec)
    d_context = memory.new_empty(steps, batch, mem_dim)
    d_query = memory.new_empty(steps, batch, attn_dim)
    d_pm_t = memory.new_zeros(batch, attn_dim, t_in)
    d_loc = memory.new_zeros(w_loc.shape)
    d_v = memory.new_zeros(attn_dim)
    v_col = v.view(1, attn_dim, 1)

    d_x_att_next = memory.new_zeros(batch, mem_dim + h_att)  # gradient of x_att[t + 1]
    d_dec_hidden_next = memory.new_zeros(batch, h_dec)  # gradient of h_dec_t through step t + 1
    dc_att = memory.new_zeros(batch, h_att)
    dc_dec = memory.new_zeros(batch, h_dec)
    d_wcat_next = memory.new_zeros(batch, 2, t_in)  # gradient of wcat[t + 1]
    d_cum = memory.new_zeros(batch, t_in)  # gradient of the cumulative weights after step t
    for t in reversed(range(steps)):
        dh = d_hc[t, :, :h_dec] + d_dec_hidden_next
        if drop_dec is not None:
            dh.mul_(drop_dec[t])
        dc_dec = _cell_backward(dh, dc_dec, act_dec[t], c_dec[t], c_dec[t + 1], dg_dec[t])
        dx = torch.mm(w_dec_t, dg_dec[t].t())  # (H_att + M + H_dec, B)
        d_dec_hidden_next = dx[h_att + mem_dim :].t()

        d_ctx = d_context[t]
        torch.add(dx[h_att : h_att + mem_dim].t(), d_hc[t, :, h_dec:], out=d_ctx)
        d_ctx.add_(d_x_att_next[:, :mem_dim])
        weights = align[t]
        d_cum.add_(d_wcat_next[:, 1])
        d_w = torch.bmm(memory, d_ctx.unsqueeze(2)).squeeze(2)
        d_w.add_(d_align[t]).add_(d_wcat_next[:, 0]).add_(d_cum)
        d_energy = d_w.sub_((weights * d_w).sum(dim=1, keepdim=True)).mul_(weights)  # softmax backward

        th = tanh_st[t]
        d_v.add_(torch.bmm(th, d_energy.unsqueeze(2)).sum(dim=0).view(-1))
        d_pre = torch.addcmul(torch.ones_like(th), th, th, value=-1.0)
        d_pre.mul_(v_col).mul_(d_energy.unsqueeze(1))  # (B, A, T_in)
        d_pm_t.add_(d_pre)
        torch.sum(d_pre, dim=2, out=d_query[t])
        d_wcat_next = F.conv_transpose1d(d_pre, w_loc, padding=pad)
        d_loc.add_(torch.nn.grad.conv1d_weight(wcat[t], w_loc.shape, d_pre, padding=pad))

        d_hidden = dx[:h_att].t() + d_x_att_next[:, mem_dim:]
        d_hidden.addmm_(d_query[t], w_query)
        if drop_att is not None:
            d_hidden.mul_(drop_att[t])
        dc_att = _cell_backward(d_hidden, dc_att, act_att[t], c_att[t], c_att[t + 1], dg_att[t])
        d_x_att_next = torch.mm(w_att_t, dg_att[t].t()).t()  # gradient of x_att[t]

    rows = steps * batch
    (n_pre, n_memory, n_pm, _, n_att, n_dec, n_bdec, n_query, n_loc, n_v) = needs[:10]
    d_memory = torch.bmm(align.permute(1, 2, 0), d_context.transpose(0, 1)) if n_memory else None
    d_w_att = dg_att.view(rows, -1).t() @ x_att[:steps].reshape(rows, -1) if n_att else None
    d_w_dec = dg_dec.view(rows, -1).t() @ x_dec[:steps].reshape(rows, -1) if n_dec else None
    d_b_dec = dg_dec.sum(dim=(0, 1)) if n_bdec else None
    hidden_rows = x_dec[:steps, :, :h_att].reshape(rows, h_att)
    d_w_query = d_query.view(rows, -1).t() @ hidden_rows if n_query else None
    return (dg_att if n_pre else None, d_memory, d_pm_t if n_pm else None, None, d_w_att, d_w_dec, d_b_dec,
            d_w_query, d_loc if n_loc else None, d_v if n_v else None)


# ------------------------------------------------------------------------------------------- forward


def _prenet_dim(decoder: nn.Module) -> int:
    return decoder.prenet.layers[-1].linear_layer.out_features


def decoder_forward(decoder: nn.Module, memory: Tensor, decoder_inputs: Tensor,
                    memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Fast `Decoder.forward` (teacher forcing): same arguments, same outputs."""
    device_type = memory.device.type
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type, enabled=False):
            return _teacher_forced(decoder, memory.float(), decoder_inputs.float(), memory_lengths)
    return _teacher_forced(decoder, memory, decoder_inputs, memory_lengths)


def _teacher_forced(decoder: nn.Module, memory: Tensor, decoder_inputs: Tensor,
                    memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    r = decoder.n_frames_per_step
    n_mel = decoder.n_mel_channels
    batch = memory.size(0)
    group_ends = decoder_inputs.transpose(1, 2)[:, r - 1 :: r]
    go_frame = memory.new_zeros(batch, 1, n_mel).to(group_ends.dtype)
    # the prenet on (B, steps, n_mel), exactly as the eager path calls it, so dropout draws the same masks
    prenet_out = decoder.prenet(torch.cat((go_frame, group_ends[:, :-1]), dim=1)).transpose(0, 1)
    steps = prenet_out.size(0)

    weights = _Weights(decoder, prenet_out.size(2))
    pre_att = F.linear(prenet_out, weights.att_prenet, weights.att_bias)  # (T, B, 4H_att)
    memory_mask = decoder._memory_mask(memory, memory_lengths)
    pm_t = decoder.attention_layer.memory_layer(memory).transpose(1, 2)  # (B, A, T_in)
    drop_att = drop_dec = None
    if decoder.training and (decoder.p_attention_dropout > 0 or decoder.p_decoder_dropout > 0):
        drop_att, drop_dec = _step_dropout_masks(decoder, memory, steps)

    hc, align = _Recurrence.apply(pre_att, memory, pm_t, memory_mask, weights.att, weights.dec,
                                  weights.dec_bias, weights.query, weights.location, weights.v, drop_att,
                                  drop_dec)
    out = F.linear(hc, weights.out, weights.out_bias)  # (T, B, n_mel * r + 1)
    frames, gate = out[..., :-1], out[..., -1]
    mel = frames.transpose(0, 1).reshape(batch, steps * r, n_mel).transpose(1, 2)
    return mel, gate.t().contiguous(), align.transpose(0, 1).contiguous()


def _step_dropout_masks(decoder: nn.Module, memory: Tensor,
                        steps: int) -> tuple[Tensor | None, Tensor | None]:
    """Per-step dropout multipliers of both LSTM outputs, drawn in the eager order (attention, decoder)."""
    batch = memory.size(0)
    p_att, p_dec = decoder.p_attention_dropout, decoder.p_decoder_dropout
    drop_att = memory.new_empty(steps, batch, decoder.attention_rnn_dim) if p_att > 0 else None
    drop_dec = memory.new_empty(steps, batch, decoder.decoder_rnn_dim) if p_dec > 0 else None
    template_att = memory.new_zeros(batch, decoder.attention_rnn_dim)
    template_dec = memory.new_zeros(batch, decoder.decoder_rnn_dim)
    for t in range(steps):
        if drop_att is not None:
            drop_att[t] = _drop_mask(template_att, p_att)
        if drop_dec is not None:
            drop_dec[t] = _drop_mask(template_dec, p_dec)
    return drop_att, drop_dec


# ------------------------------------------------------------------------------------------- inference


def decoder_infer(decoder: nn.Module, memory: Tensor, memory_lengths: Tensor | None = None,
                  stacklevel: int = 2) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fast `Decoder.infer` (free running, no autograd): same arguments, outputs and stop rule, the same
    `decoder.last_unfinished` and MaxDecoderStepsWarning. Draws the generator as the eager loop does."""
    with torch.no_grad():
        device_type = memory.device.type
        if torch.is_autocast_enabled(device_type):
            with torch.autocast(device_type, enabled=False):
                result = _free_running(decoder, memory.float(), memory_lengths)
        else:
            result = _free_running(decoder, memory, memory_lengths)
    mel, gates, alignments, mel_lengths, finished = result
    decoder.last_unfinished = torch.nonzero(~finished).flatten().tolist()
    warn_unfinished(decoder.last_unfinished, decoder.max_decoder_steps, stacklevel=stacklevel + 1)
    return mel, gates, alignments, mel_lengths


_INFERENCE_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _inference_weights(decoder: nn.Module) -> _Weights:
    """The rearranged weights for synthesis, cached per decoder until a parameter changes (its version
    counter, storage, dtype or device), so repeated synthesis does not copy ~18 M weights every call."""
    params = [p for _, p in sorted(decoder.named_parameters())]
    try:
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
    except RuntimeError:  # inference tensors have no version counter: do not cache
        key = None
    cached = _INFERENCE_WEIGHTS.get(decoder)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    with torch.no_grad():
        weights = _Weights(decoder, _prenet_dim(decoder), synthesis=True)
    if key is not None:
        _INFERENCE_WEIGHTS[decoder] = (key, weights)
    return weights


def projects_context(batch: int, memory_length: int, memory_dim: int) -> bool:
    """Whether synthesis projects the memory through the LSTMs' context weights once, instead of
    multiplying each step's context by them.

    The context is a weighted sum of memory rows, so W c = sum_j a_j (W m_j): with the projected memory
    P = M W^T (both cells' context weights, 8 H columns) a step reads B * T_in * 8 H floats instead of
    the 2 * 4 H * M context weights. That pays while it reads at most 3/4 of them, i.e. for
    B * T_in <= 3/4 M (batch 1 and sentences up to 384 symbols with the default 512-wide memory).
    """
    return 4 * batch * memory_length <= 3 * memory_dim


def _free_running(decoder: nn.Module, memory: Tensor,
                  memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    batch, memory_length, memory_dim = memory.shape
    n_mel, r = decoder.n_mel_channels, decoder.n_frames_per_step
    w = _inference_weights(decoder)
    pm_t = decoder.attention_layer.memory_layer(memory).transpose(1, 2).contiguous()
    mask = decoder._memory_mask(memory, memory_lengths)
    prenet_weights = [layer.linear_layer.weight for layer in decoder.prenet.layers]
    context_proj = None
    if projects_context(batch, memory_length, memory_dim):
        context_proj = torch.matmul(memory, w.context.t())  # (B, T_in, 4 H_att + 4 H_dec)
    outputs, alignments, stop_steps, finished = _synthesis_loop()(
        memory, pm_t, None if mask is None else ~mask, prenet_weights, float(decoder.prenet.p_dropout), w.att,
        w.att_bias.unsqueeze(1), w.dec, w.dec_bias.unsqueeze(1), w.context, w.query, w.location, w.v, w.out,
        w.out_bias.unsqueeze(1), float(decoder.p_attention_dropout), float(decoder.p_decoder_dropout),
        bool(decoder.training), n_mel, int(decoder.max_decoder_steps), float(decoder.gate_threshold),
        bool(decoder.early_stopping), decoder._last_index(memory, memory_lengths),
        attention_stop_steps(decoder.attention_stop_frames, r), context_proj)
    steps = outputs.size(0)
    frames = outputs[:, :-1].permute(2, 0, 1)  # (B, steps, n_mel * r)
    mel = frames.reshape(batch, steps * r, n_mel).transpose(1, 2)
    gates = outputs[:, -1].t().contiguous()
    return mel, gates, alignments.transpose(0, 1).contiguous(), stop_steps * r, finished


def _synthesis_steps(memory: Tensor, pm_t: Tensor, masked_out: Tensor | None, prenet_weights: list[Tensor],
                     p_prenet: float, w_att: Tensor, b_att: Tensor, w_dec: Tensor, b_dec: Tensor,
                     w_context: Tensor, w_query: Tensor, w_loc: Tensor, v: Tensor, w_out: Tensor,
                     b_out: Tensor, p_att: float, p_dec: float, training: bool, n_mel: int, max_steps: int,
                     gate_threshold: float, early_stopping: bool, last_index: Tensor, dwell_steps: int,
                     context_proj: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The free-running loop (TorchScript-compatible; `_synthesis_loop` compiles it once).

    Buffer rows: [prenet, h_att] for the attention cell (weights [W_ih prenet | W_hh]), [h_att, h_dec] for
    the decoder cell; products are W @ x^T. The context's share of both cells' gates (weights
    `w_context`, (4 H_att + 4 H_dec, M), the biases added) enters as the bias of those products: the
    attention cell uses the previous step's context, the decoder cell this step's. It is w_context @
    context, or with `context_proj` (B, T_in, 4 H_att + 4 H_dec), the memory projected through
    w_context once, attention weights @ context_proj (`projects_context`). Dropout calls are the eager
    ones in the eager order (prenet layers, attention, decoder), so the generator is drawn identically.
    Returns per-step [frames, gate] (steps, n_mel * r + 1, B), alignments (steps, B, T_in), stop steps
    and finished flags. An item also ends once its attention has dwelt `dwell_steps` steps on its last
    symbol (`last_index`; 0 turns that off), as in eager `Decoder.infer`.
    """
    batch, t_in = memory.size(0), memory.size(1)
    h_att, h_dec = w_att.size(0) // 4, w_dec.size(0) // 4
    prenet_dim = prenet_weights[-1].size(0)
    attn_dim = w_query.size(0)
    pad = w_loc.size(2) // 2
    v_row = v.view(1, 1, attn_dim).expand(batch, 1, attn_dim)
    x_att = memory.new_zeros([batch, prenet_dim + h_att])
    x_dec = memory.new_zeros([batch, h_att + h_dec])
    att_bias = b_att  # (4 H_att, 1) at the start (zero context), then (4 H_att, B) with the context's share
    share_bias = torch.cat((b_att, b_dec))  # (4 H_att + 4 H_dec, 1)
    share_bias_row = share_bias.view(1, 1, -1)
    c_att = memory.new_zeros([batch, h_att])
    c_dec = memory.new_zeros([batch, h_dec])
    wcat = memory.new_zeros([batch, 2, t_in])
    out_rows = w_out.size(0)
    outputs = memory.new_empty([max_steps, out_rows, batch])
    alignments = memory.new_empty([max_steps, batch, t_in])
    decoder_input = memory.new_zeros([batch, n_mel])
    finished = torch.zeros([batch], dtype=torch.bool, device=memory.device)
    stop_steps = torch.full([batch], max_steps, dtype=torch.long, device=memory.device)
    dwell = torch.zeros_like(stop_steps)
    steps = 0
    for step in range(max_steps):
        x = decoder_input
        for weight in prenet_weights:
            x = F.dropout(F.relu(F.linear(x, weight)), p_prenet, True)
        x_att[:, :prenet_dim] = x
        # (B, 4 H_att), made contiguous: dropout draws its mask in memory order, as for eager's tensors
        gates = torch.addmm(att_bias, w_att, x_att.t()).t().contiguous()
        c_att = (torch.sigmoid(gates[:, h_att : 2 * h_att]) * c_att
                 + torch.sigmoid(gates[:, :h_att]) * torch.tanh(gates[:, 2 * h_att : 3 * h_att]))
        h = F.dropout(torch.sigmoid(gates[:, 3 * h_att :]) * torch.tanh(c_att), p_att, training)
        x_att[:, prenet_dim:] = h
        x_dec[:, :h_att] = h

        energy_in = F.conv1d(wcat, w_loc, padding=pad)  # (B, A, T_in)
        energy_in = energy_in + pm_t + torch.mm(w_query, h.t()).t().unsqueeze(2)
        energies = torch.bmm(v_row, torch.tanh(energy_in)).squeeze(1)
        if masked_out is not None:
            energies = energies.masked_fill(masked_out, float("-inf"))
        weights = torch.softmax(energies, dim=1)
        alignments[step] = weights
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        if context_proj is None:
            shares = torch.addmm(share_bias, w_context, context.t())
        else:
            shares = torch.baddbmm(share_bias_row, weights.unsqueeze(1), context_proj).squeeze(1).t()
        att_bias = shares[: 4 * h_att]  # the next step's attention cell reads this context
        dec_bias = shares[4 * h_att :]
        wcat[:, 0] = weights
        wcat[:, 1] += weights

        gates = torch.addmm(dec_bias, w_dec, x_dec.t()).t().contiguous()
        c_dec = (torch.sigmoid(gates[:, h_dec : 2 * h_dec]) * c_dec
                 + torch.sigmoid(gates[:, :h_dec]) * torch.tanh(gates[:, 2 * h_dec : 3 * h_dec]))
        h = F.dropout(torch.sigmoid(gates[:, 3 * h_dec :]) * torch.tanh(c_dec), p_dec, training)
        x_dec[:, h_att:] = h
        # the projection input [h_dec, context]: two products instead of a concatenation
        out = torch.addmm(b_out, w_out[:, :h_dec], h.t())
        out.addmm_(w_out[:, h_dec:], context.t())
        outputs[step] = out
        steps = step + 1
        stop = torch.sigmoid(out[-1].float()) > gate_threshold
        if dwell_steps > 0:
            dwell = attention_dwell(weights, last_index, dwell)
            stop = stop | (dwell >= dwell_steps)
        stop_steps = torch.where(stop & ~finished, torch.full_like(stop_steps, step + 1), stop_steps)
        finished = finished | stop
        if early_stopping and bool(finished.all()):
            break
        decoder_input = out[out_rows - 1 - n_mel : out_rows - 1].t()
    return outputs[:steps], alignments[:steps], stop_steps, finished


_COMPILED: dict[str, Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]]] = {}


def _synthesis_loop() -> Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]]:
    """`_synthesis_steps` compiled by TorchScript (its interpreter dispatches the ~40 small per-step ops
    with less overhead than Python); the plain function if compilation is unavailable."""
    if "loop" not in _COMPILED:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                _COMPILED["loop"] = torch.jit.script(_synthesis_steps)
        except Exception:  # noqa: BLE001 - any compiler failure: the same code, uncompiled
            _COMPILED["loop"] = _synthesis_steps
    return _COMPILED["loop"]

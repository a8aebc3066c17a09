"""VITS (Kim et al. 2021) with Piper's quality presets: trained here, exported as Piper voices.

Files, one job each: ``model`` (SynthesizerTrn, presets, text and posterior encoders), ``attentions``
(relative-position transformer), ``modules`` (LayerNorm, WaveNet, DDSConv), ``flows`` (coupling flow,
spline flows), ``duration`` (stochastic and deterministic duration predictors), ``decoder`` (HiFi-GAN
generator with speaker conditioning), ``discriminator`` (scale + period discriminators),
``monotonic_align`` (MAS, numba and torch), ``loss_function``, ``text`` (phoneme ids), ``data_function``
(filelist dataset), ``train_step`` (two-optimizer step, exact resume state), ``checkpoint`` (Piper
Lightning checkpoints), ``arg_parser`` (run.py flags), ``benchmark`` (CPU latency).
"""

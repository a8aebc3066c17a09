"""Model export: TorchScript for Tacotron 2 and WaveGlow, ONNX graphs, and an onnxruntime inference runner.

Design overview:
- Exports go through small inference-only wrapper modules built from a trained model, never through the
  training modules themselves: the wrappers are always in eval mode, take flat tensors, and contain only
  constructs that both `torch.jit.script` and the ONNX exporter accept. They reuse the model's own layers
  (same parameters, same operations), so exported outputs equal eager ones up to float rounding.
- TorchScript Tacotron 2 scripts the whole data-dependent decoding loop; ONNX Tacotron 2 is three graphs
  (encoder, one decoder step, postnet) whose loop is driven in Python by `OnnxTacotron2`. Prenet dropout,
  which the reference keeps on at inference, draws from torch's RNG exactly like eager `Tacotron2.infer`
  in both, so seeded runs reproduce seeded eager runs.
- Multi-speaker / multilingual models (`MultilingualTacotron2`, every encoder variant) export with
  `speaker_ids` and/or `language_ids` as extra inputs where the model uses them.
- WaveGlow takes the latent `z` as an input, so exported outputs can be checked against eager
  `WaveGlow.infer(mel, z=z)`.

Modules (one job each; this package re-exports their public names):
- `base`: file and graph input/output names, `DEFAULT_OPSET`, `ExportError`, the eval-copy helper.
- `tacotron2`: Tacotron 2 export wrappers (encoders incl. multilingual ones, decoder step, postnet) and
  the scriptable decoding loop (`Tacotron2Inference`, `ConditionedTacotron2Inference`).
- `waveglow`: the WaveGlow export wrapper (`WaveGlowInference`).
- `torchscript`: `script_tacotron2`, `script_waveglow`, `save_torchscript`, `load_torchscript`.
- `onnx_export`: `export_tacotron2_onnx`, `export_waveglow_onnx`.
- `onnx_runtime`: onnxruntime runners `OnnxTacotron2` and `OnnxWaveGlow`.
- `hifigan`: the HiFi-GAN generator wrapper (`HiFiGANInference`), `script_hifigan`, `export_hifigan_onnx`
  and the onnxruntime runner `OnnxHiFiGAN`.
- `cli`: checkpoint loading (`load_model`), `export_checkpoints`, `export_hifigan_checkpoint` and the command
  line (`main`).

CLI: `python -m common.export torchscript|onnx --tacotron2 CKPT --waveglow CKPT -o DIR [--fp16]`, or
`--hifigan CKPT` alone (checked against eager once written).
"""

from common.export.base import (
    CONDITIONING_INPUTS,
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    DECODER_STATE_NAMES,
    DEFAULT_OPSET,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    ONNX_TACOTRON2_FILES,
    ONNX_WAVEGLOW_FILE,
    POSTNET_INPUTS,
    POSTNET_OUTPUTS,
    TORCHSCRIPT_FILES,
    WAVEGLOW_INPUTS,
    WAVEGLOW_OUTPUTS,
    ExportError,
)
from common.export.cli import build_parser, export_checkpoints, export_hifigan_checkpoint, load_model, main
from common.export.hifigan import (
    ONNX_HIFIGAN_FILE,
    HiFiGANInference,
    OnnxHiFiGAN,
    export_hifigan_onnx,
    script_hifigan,
)
from common.export.onnx_export import export_tacotron2_onnx, export_waveglow_onnx
from common.export.onnx_runtime import OnnxTacotron2, OnnxWaveGlow
from common.export.tacotron2 import (
    ConditionedEncoderExport,
    ConditionedTacotron2Inference,
    DecoderStepExport,
    EncoderExport,
    PostnetExport,
    Tacotron2Inference,
)
from common.export.torchscript import load_torchscript, save_torchscript, script_tacotron2, script_waveglow
from common.export.waveglow import WaveGlowInference

__all__ = [
    "CONDITIONING_INPUTS",
    "DECODER_INPUTS",
    "DECODER_OUTPUTS",
    "DECODER_STATE_NAMES",
    "DEFAULT_OPSET",
    "ENCODER_INPUTS",
    "ENCODER_OUTPUTS",
    "ONNX_HIFIGAN_FILE",
    "ONNX_TACOTRON2_FILES",
    "ONNX_WAVEGLOW_FILE",
    "POSTNET_INPUTS",
    "POSTNET_OUTPUTS",
    "TORCHSCRIPT_FILES",
    "WAVEGLOW_INPUTS",
    "WAVEGLOW_OUTPUTS",
    "ConditionedEncoderExport",
    "ConditionedTacotron2Inference",
    "DecoderStepExport",
    "EncoderExport",
    "ExportError",
    "HiFiGANInference",
    "OnnxHiFiGAN",
    "OnnxTacotron2",
    "OnnxWaveGlow",
    "PostnetExport",
    "Tacotron2Inference",
    "WaveGlowInference",
    "build_parser",
    "export_checkpoints",
    "export_hifigan_checkpoint",
    "export_hifigan_onnx",
    "export_tacotron2_onnx",
    "export_waveglow_onnx",
    "load_model",
    "load_torchscript",
    "main",
    "save_torchscript",
    "script_hifigan",
    "script_tacotron2",
    "script_waveglow",
]

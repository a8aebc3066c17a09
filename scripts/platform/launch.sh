#!/usr/bin/env bash
# Reference training recipes on GPUs: launch.sh MODEL PRECISION GPU NGPUS [extra run.py flags...]
#   MODEL: tacotron2 | waveglow; PRECISION: AMP | TF32 | FP32; GPU: A100 | V100; NGPUS: 1 | 4 | 8
# Environment: DATASET (default data: the folder holding LJSpeech-1.1, as scripts/prepare_dataset.sh makes it;
# the filelists name LJSpeech-1.1/wavs/... as the reference's do), OUTPUT (default output/), EPOCHS (default:
# the recipe's).
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1 precision=$2 gpu=$3 ngpus=$4; shift 4
DATASET=${DATASET:-data}
OUTPUT=${OUTPUT:-output/}
mkdir -p "$OUTPUT"

amp=()
[[ $precision == AMP ]] && amp=(--amp)
case $model in
  tacotron2)
    # lr 1e-3, 1501 epochs, anneal at 500/1000/1500; AMP: factor 0.3; FP32/TF32: factor 0.1
    if [[ $precision == AMP ]]; then
      bs=$([[ $gpu == A100 ]] && echo 128 || echo 104); factor=0.3
    else
      bs=$([[ $gpu == A100 ]] && echo 128 || echo 48); factor=0.1
    fi
    args=(-m Tacotron2 -lr 1e-3 --epochs "${EPOCHS:-1501}" -bs "$bs" --weight-decay 1e-6
          --grad-clip-thresh 1.0 --cudnn-enabled --anneal-steps 500 1000 1500 --anneal-factor "$factor"
          --load-mel-from-disk --training-files filelists/ljs_mel_text_train_filelist.txt
          --validation-files filelists/ljs_mel_text_val_filelist.txt)
    ;;
  waveglow)
    # lr 1e-4, 1001 epochs, segment 8000, no weight decay; AMP: batch 10, clip 65504; else batch 4, no clip
    if [[ $precision == AMP ]]; then bs=10; clip=65504; else bs=4; clip=3.4028234663852886e+38; fi
    args=(-m WaveGlow -lr 1e-4 --epochs "${EPOCHS:-1001}" -bs "$bs" --segment-length 8000 --weight-decay 0
          --grad-clip-thresh "$clip" --cudnn-enabled --cudnn-benchmark)
    ;;
  *) echo "launch.sh: MODEL must be tacotron2 or waveglow, got '$model'" >&2; exit 2 ;;
esac
case $precision in AMP|TF32|FP32) ;; *) echo "launch.sh: PRECISION must be AMP, TF32 or FP32" >&2; exit 2 ;; esac
# TF32 is PyTorch's default for cuDNN convolutions on Ampere; FP32 on V100 is plain fp32.
exec python -m multiproc --nproc "$ngpus" train.py "${args[@]}" "${amp[@]}" -o "$OUTPUT" -d "$DATASET" \
  --log-file "nvlog_${model}_${precision}_${gpu}_${ngpus}GPU.json" "$@"

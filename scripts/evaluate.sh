#!/usr/bin/env bash
# Objective evaluation of a folder of synthesized wavs:
#   MCD (DTW-aligned mel cepstral distortion) against the reference recordings with the same file stem,
#   written to SYN_DIR/mcd.csv, and the attention alignment scores of every SYN_DIR/alignment_*.pt / .npy
#   file, written to SYN_DIR/alignment_scores.csv. Definitions: docs/EVALUATION.md.
# Usage: scripts/evaluate.sh SYN_DIR REF_DIR [extra flags for `python -m common.evaluation mcd`]
#   e.g. scripts/evaluate.sh output/ data/LJSpeech-1.1/wavs --syn-suffix _fp32 --trim-db 40
# Exits non-zero when either step fails (a synthesized file without a reference is listed, not a failure).
#
# Intelligibility (English; offline pocketsphinx), of what `inference.py -i PHRASES -o SYN_DIR` wrote:
#   scripts/evaluate.sh intelligibility PHRASES SYN_DIR [CORPUS_DIR] [extra flags]
# With CORPUS_DIR (the offline corpus) it also scores espeak-ng's rendering in the corpus voice (the
# ceiling). Per-sentence results go to SYN_DIR/intelligibility.csv, the summary to SYN_DIR/nvlog.json.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "${1:-}" = "intelligibility" ]; then
  if [ $# -lt 3 ]; then
    echo "usage: $0 intelligibility PHRASES SYN_DIR [CORPUS_DIR] [flags...]" >&2
    exit 2
  fi
  PHRASES=$2
  SYN_DIR=$3
  shift 3
  corpus=()
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    corpus=(--corpus "$1")
    shift
  fi
  exec python -m common.evaluation intelligibility -i "$PHRASES" --syn-dir "$SYN_DIR" "${corpus[@]}" \
    --csv "$SYN_DIR/intelligibility.csv" --log-file "$SYN_DIR/nvlog.json" "$@"
fi

if [ $# -lt 2 ]; then
  echo "usage: $0 SYN_DIR REF_DIR [mcd flags...]" >&2
  exit 2
fi
SYN_DIR=$1
REF_DIR=$2
shift 2
for dir in "$SYN_DIR" "$REF_DIR"; do
  if [ ! -d "$dir" ]; then
    echo "error: $dir is not a folder" >&2
    exit 2
  fi
done

status=0
echo "== MCD: $SYN_DIR against $REF_DIR"
python -m common.evaluation mcd --syn-dir "$SYN_DIR" --ref-dir "$REF_DIR" --csv "$SYN_DIR/mcd.csv" "$@" || status=$?

shopt -s nullglob
alignments=("$SYN_DIR"/alignment_*.pt "$SYN_DIR"/alignment_*.npy)
if [ ${#alignments[@]} -gt 0 ]; then
  echo "== alignment scores: ${#alignments[@]} file(s)"
  python -m common.evaluation alignment "${alignments[@]}" --csv "$SYN_DIR/alignment_scores.csv" || status=$?
fi
exit "$status"

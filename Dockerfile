# Tacotron 2 + WaveGlow suite on an NGC PyTorch image (CUDA, cuDNN, NCCL and PyTorch come with the base).
#   bash docker/build.sh && bash docker/interactive.sh
ARG FROM_IMAGE_NAME=nvcr.io/nvidia/pytorch:24.10-py3
FROM ${FROM_IMAGE_NAME}

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# espeak-ng builds the offline speech corpus; libsndfile reads and writes audio.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng libsndfile1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace/tts
COPY . .

# Keep the image's own PyTorch build: pin it so pip never replaces it while installing our dependencies.
RUN echo "torch==$(python -c 'import torch; print(torch.__version__)')" > /tmp/torch-constraint.txt \
 && pip install --no-cache-dir -c /tmp/torch-constraint.txt -e ".[dev]"

CMD ["bash"]

"""Data tooling (a pipeline): the offline espeak-ng corpus (`corpus`, `corpus_text`), mel precomputation
(`prepare_mels`) and LJSpeech filelists (`dataset_split`); the dataset adapters are `common.datasets`.
The command lines keep their names: `python -m common.corpus`, `common.prepare_mels`,
`common.dataset_split`."""

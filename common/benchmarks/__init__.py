"""Benchmarks (a pipeline): inference latency (`infer`, `python -m common.benchmark_infer`) and training or
WaveGlow inference throughput on a synthetic batch (`train`, `python -m common.benchmark_train`)."""

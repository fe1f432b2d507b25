"""Check families beyond latency: accuracy and output agreement (``accuracy``), absolute
service-level objectives (``slo``). Each returns undecided ``CheckResult``s (effect, CI,
p-value, N, MDE, a one-line reason); ``gate.judge.decide`` applies Holm across all checks."""

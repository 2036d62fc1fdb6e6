"""The benchmark suite: ``python bench/run.py`` (full) and ``python bench/run.py --smoke``.

It measures the gateway against a local fake OpenAI-compatible upstream, on loopback only,
and writes the figures to docs/benchmarks.md (see that file for the method and targets).
"""

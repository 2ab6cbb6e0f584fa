"""Benchmarks run by ``auroractl bench <name>``: each module here is one benchmark.

A benchmark module exposes ``DESCRIPTION``, ``add_arguments(parser)`` and
``run(args, settings, report) -> dict``, where ``report(line)`` prints progress and the
returned dict holds the measured figures (ratios named ``*_ratio``). Targets are checked by
reading these figures, never by timed assertions in tests.
"""

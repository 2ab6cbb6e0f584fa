"""Calibration pipeline: parameter models, run planning, papermill orchestration, lock, schedule.

The computations the notebooks call live in :mod:`aurora.pipeline.study` (feature study) and
:mod:`aurora.pipeline.calibrate` (score model, calibrator, evaluation, artifact export); the
figures in :mod:`aurora.pipeline.figures`. Notebooks only import, call, plot and write.
"""

"""File names inside a calibration run directory, ``{calibration.runs_dir}/{run_id}/``."""

TABLE = "features.parquet"            # the run's sample table (aurora.pipeline.dataset)
FEATURE_STUDY = "feature_study.json"  # 01_feature_study's results
CANDIDATE = "candidate.json"          # the candidate artifact (aurora.pipeline.calibrate.export)
METRICS = "metrics.json"              # every block's metrics, the score model, the economics
HOLDOUT = "holdout.parquet"           # the test block the promotion gates re-score
PROMOTION = "promotion.json"          # every gate's verdict (or the data verdict)
SUMMARY = "run.json"                  # timings, metrics, parameters of the run

"""Operations: preflight checks (:mod:`aurora.ops.checks`), workspace preparation
(:mod:`aurora.ops.prepare`) and supervision of the processes of a one-click run
(:mod:`aurora.ops.supervise`, :mod:`aurora.ops.progress`)."""

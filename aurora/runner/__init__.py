"""WiseScalp: the trading runner (market sources, decision path, gate client, execution, modes)."""

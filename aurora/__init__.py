"""Aurora x WiseScalp: research-to-production workbench for crypto scalping on Binance."""

__version__ = "0.1.0"

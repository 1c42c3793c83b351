"""The operational shell: HTTP, metrics, health, paper replay, plots, CSV, candle files, the store."""

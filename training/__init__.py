"""The training pipeline: data → backtest → fit → MLflow → registry."""

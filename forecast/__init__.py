"""Bed demand forecasting: census forecasts, bed plans and staffing per hospital unit."""

__version__ = "0.1.0"

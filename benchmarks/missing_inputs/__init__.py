"""Forecasting from windows with missing inputs: ``data.missing_inputs`` zero vs mask."""

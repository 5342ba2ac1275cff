"""Evaluation of learned encoders: feature extraction and probes."""

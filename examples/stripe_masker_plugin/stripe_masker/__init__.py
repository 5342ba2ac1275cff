"""Example third-party plugin for jepaforge (see plugin.py)."""

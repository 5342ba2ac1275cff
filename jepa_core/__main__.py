from jepa_core.cli import entry

entry()

"""A third-party objective for jepaforge: VICReg over views (see :mod:`views_vicreg.plugin`)."""

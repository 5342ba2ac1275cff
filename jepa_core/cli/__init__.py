"""The ``jepa`` command line, one module per command.

    jepa train --plugin image --preset demo [--data PATH] [--out DIR] [--set k=v ...]   (train)
    jepa train --config runs/demo/config.yaml
    jepa submit --plugin image --preset vith14 --data PATH --out DIR --nodes 2 --gpus-per-node 8 [...]
                                                                   (submit; needs submitit)
    jepa plugins                                                   (listing)
    jepa presets [--plugin NAME]                                   (listing)
    jepa config show --plugin NAME --preset NAME [--set k=v ...] [--format yaml|json]   (config)
    jepa config import-ijepa FILE | import FILE [--from FORM]      (config; foreign config files)
    jepa doctor [--seconds S]                                      (jepa_core.doctor)
    jepa eval linear-probe|knn|attentive-probe --checkpoint CKPT [--train PATH --val PATH] [...]   (eval)
    jepa export timm --checkpoint CKPT --out model.pth [--encoder target|context]   (export)

Options before the command load plugins (:mod:`jepa_core.cli.common`). User errors print one
sentence (``error: ...``) and exit with code 2.

>>> from jepa_core import cli
>>> cli.main(["--no-autoload", "-p", "my_pkg.plugin", "plugins"])    # doctest: +SKIP
0
"""

from jepa_core.cli.app import EXIT_USAGE, build_parser, entry, main

__all__ = ["EXIT_USAGE", "build_parser", "entry", "main"]

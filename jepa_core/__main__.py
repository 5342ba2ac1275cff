import sys

from jepa_core.cli import main

sys.exit(main())

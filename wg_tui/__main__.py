"""``python -m wg_tui``: the same as the ``wg-tui`` command."""

import sys

from wg_tui.main import main

sys.exit(main())

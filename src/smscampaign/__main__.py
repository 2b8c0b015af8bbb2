"""``python -m smscampaign``: the same as the ``smscampaign`` command."""

from __future__ import annotations

import sys

from smscampaign.cli import main

if __name__ == "__main__":
    sys.exit(main())

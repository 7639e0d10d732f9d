#!/usr/bin/env python3
"""Entry point: python3 tools/mine_pairs.py --help (the code is in flux_tools/mine_pairs.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flux_tools.mine_pairs import main  # noqa: E402

sys.exit(main())

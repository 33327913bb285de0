"""`python -m vaelab ...` is the `vaelab` command (and `torchrun ... -m vaelab train ...`)."""

import sys

from vaelab.cli import main

sys.exit(main())

"""Named points where a process can be made to die on purpose, to test that nothing is lost.

    VAELAB_CRASH_AT=checkpoint:written@3 vaelab train ...

kills the process with SIGKILL (no cleanup, no flush: as an out-of-memory kill or a power
cut would) the 3rd time it passes `crash_point("checkpoint:written")`. Without the
variable a crash point costs one comparison. tests/test_crash_resume.py kills a
run at every point and checks that the resumed run ends bit for bit where an
uninterrupted one does.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "VAELAB_CRASH_AT"
SPEC = os.environ.get(ENV)  # read once, when the process starts: a crash point is passed every step
_passes: Counter = Counter()


def crash_point(name: str) -> None:
    """Die here if VAELAB_CRASH_AT names this point (and this is its @N-th pass, default the 1st)."""
    if not SPEC:
        return
    target, _, nth = SPEC.partition("@")
    if target != name:
        return
    _passes[name] += 1
    if _passes[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)

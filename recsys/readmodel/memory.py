"""How the read model's objects live in the process's memory."""

from __future__ import annotations

import gc


def settle_garbage_collector() -> None:
    """Collect once, then move every object alive now (the read model's millions of small
    objects) out of the collector's sight: Python's full collections would otherwise walk them
    all, pausing a request for 100 ms or more now and then at a million ratings. Objects freed
    later are still freed by reference counting (the read model holds no cycles)."""
    gc.collect()
    gc.freeze()

"""Dealing a plan's endpoints to shards (ranks x DataLoader workers), without torch."""

from __future__ import annotations

import random
from typing import List, Optional

from ._errors import InvalidArgument


def shard_endpoints(n_endpoints: int, shard: int, shards: int, seed: Optional[int],
                    epoch: int) -> List[int]:
    """The endpoint indices one shard reads in one epoch: the endpoints in plan order, or
    shuffled with ``(seed, epoch)`` when ``seed`` is not None, dealt round-robin to
    ``shards`` shards. Over all shards every index appears exactly once."""
    if shards < 1 or not 0 <= shard < shards:
        raise InvalidArgument(f"shard {shard} of {shards}: need 0 <= shard < shards")
    order = list(range(n_endpoints))
    if seed is not None:
        random.Random(_mix(seed, epoch)).shuffle(order)
    return order[shard::shards]


def _mix(*parts: int) -> int:
    """A stable 63-bit seed from integers (``hash`` of a tuple is stable too, but only
    within one Python version)."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x ^= int(p) & 0xFFFFFFFFFFFFFFFF
        x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & 0x7FFFFFFFFFFFFFFF

"""Dealing a plan's endpoints to shards (ranks x DataLoader workers), without torch."""

from __future__ import annotations

import random
from typing import List, Optional, Sequence

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


def equal_share(files: Sequence[int], shards: int) -> int:
    """How many samples every shard can yield in every epoch, whatever the shuffle: the
    endpoints are dealt round-robin, so each shard holds at least ``len(files) // shards``
    of them, and so at least the sum of that many of the smallest file counts."""
    if shards < 1:
        raise InvalidArgument(f"shards must be >= 1, got {shards}")
    return sum(sorted(files)[:len(files) // shards])


def _mix(*parts: int) -> int:
    """A stable 63-bit seed from integers (``hash`` of a tuple is stable too, but only
    within one Python version)."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x ^= int(p) & 0xFFFFFFFFFFFFFFFF
        x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & 0x7FFFFFFFFFFFFFFF

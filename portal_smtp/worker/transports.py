"""The transport a claimed letter goes through, loaded with its limits and kept a few
seconds; a letter whose transport is gone or off is routed again (SPEC §5, §8)."""
from __future__ import annotations

import time

from sqlalchemy import Connection, update

from ..services.limits import Limits, limits_for
from ..services.routing import no_account_reason, route_again
from ..services.transports import Transport, load_transport
from .claim import OUTBOX

#: Seconds a worker keeps a transport it loaded before loading it again.
TRANSPORT_TTL = 2.0


class NoRoute(Exception):
    """No transport may send the letter now; ``reason`` is the Russian explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransportCache:
    """Transports a worker loaded, with their limits, kept for :attr:`ttl` seconds: an
    edited, switched-off or deleted account or sender is followed within that time without
    loading (and decrypting) it again for every batch."""

    def __init__(self, ttl: float = TRANSPORT_TTL) -> None:
        self.ttl = ttl
        self._loaded: dict[tuple[str, int | None], tuple[float, Transport | None, Limits]] = {}

    def get(self, kind: str, transport_id: int | None) -> tuple[Transport | None, Limits]:
        """The transport (None when it is gone or switched off) and its limits."""
        key, now = (kind, transport_id), time.monotonic()
        loaded = self._loaded.get(key)
        if loaded is None or now - loaded[0] > self.ttl:
            transport = load_transport(kind, transport_id)
            limits = limits_for(kind, transport_id) if transport is not None else Limits()
            loaded = self._loaded[key] = (now, transport, limits)
        return loaded[1], loaded[2]


def new_route(letter) -> tuple[str, int]:
    """The transport a letter whose own is gone or off may use now
    (:func:`.routing.route_again`: a letter bound to its sender's own server never moves);
    raises :class:`NoRoute`."""
    route = route_again(letter)
    if route.transport is None or load_transport(*route.transport) is None:
        raise NoRoute(route.reason or no_account_reason(letter.from_header))
    return route.transport


def store_route(connection: Connection, letter_id: int, key: tuple[str, int]) -> None:
    """Write a letter's new transport (run through the bookkeeping)."""
    connection.execute(update(OUTBOX).where(OUTBOX.c.id == letter_id)
                       .values(transport_type=key[0], transport_id=key[1]))

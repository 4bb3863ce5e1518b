"""The Broker port: pub/sub fan-out between nodes, presence sets, rosters and counters."""

from chatd.broker.base import Broker, BrokerUnavailable, Listener, PresenceEntry, Roster

__all__ = ["Broker", "BrokerUnavailable", "Listener", "PresenceEntry", "Roster"]

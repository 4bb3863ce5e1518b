"""The Broker port: pub/sub fan-out between nodes, presence sets and shared counters."""

from chatd.broker.base import Broker, BrokerUnavailable, Listener, PresenceEntry

__all__ = ["Broker", "BrokerUnavailable", "Listener", "PresenceEntry"]

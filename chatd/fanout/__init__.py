"""This node's sockets and the ordered fan-out of room events to them."""

"""The WebSocket side: the gateway, the frame router, socket liveness."""

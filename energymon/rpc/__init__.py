"""gRPC transport: the chat service on its own port, with reflection and health."""

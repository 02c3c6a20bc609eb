"""Ways readings come in: the AMQP consumer and the in-process bus (HTTP is in api/ingest.py)."""

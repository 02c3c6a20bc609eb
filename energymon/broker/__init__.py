"""RabbitMQ: one connect function, the topology's names, the broker-backed hub and its codec.

Besides the ingest consumer (energymon/ingest/amqp.py), this is the only code that speaks
aio-pika. Nothing is imported here, so that meter_sim can use the topology's names without
loading the server.
"""

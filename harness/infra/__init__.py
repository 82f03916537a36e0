"""Local infrastructure: real Kafka, Redis and a MongoDB-wire server, with or without Docker."""

"""Fault-injection suite (`make chaos`): a separate stack on its own ports and data folder,
a TCP proxy of our own, fault injectors, scenarios and the table they print."""

"""`make bench`: throughput and latency of the gateway, each beside this machine's ceiling.

Nothing here is deployed; it drives the local harness on a port set of its own
(bench/stack_env.py) so it never disturbs the default stack or `make test`.
"""

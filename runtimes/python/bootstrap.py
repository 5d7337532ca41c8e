"""Entry point of the Nimbus Python runtime client: `python3 -u bootstrap.py [handler]`.

The client lives in nimbus_runtime_client.py, which the build precompiles into __pycache__ so
that no start-up pays for compiling it (a main script is never cached)."""
import nimbus_runtime_client

nimbus_runtime_client.main()

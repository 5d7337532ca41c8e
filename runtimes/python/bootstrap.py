"""Entry point of the Nimbus Python runtime client: `python3 -u bootstrap.py [handler]`.

The client lives in nimbus_runtime_client.py, which the build precompiles into __pycache__ so
that no start-up pays for compiling it (a main script is never cached). Started as a zygote
(nimbus_zygote.py), it forks the runtimes that then go on here."""
import os

import nimbus_runtime_client

if "_NIMBUS_ZYGOTE_FD" in os.environ:
    import nimbus_zygote

    nimbus_zygote.serve()
nimbus_runtime_client.main()

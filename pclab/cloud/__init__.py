"""The runner: reads a deployed stack, starts the load-generating executions, collects every source.

Talks to AWS or the local cloud alike through boto3; never imports :mod:`pclab.localcloud`.
"""

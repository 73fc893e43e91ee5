"""The analysis: the data model, pure source adapters (documents in, records out), statistics, cost.

Knows nothing else of pclab and makes no AWS calls, so it is fast to test and to benchmark.
"""

"""Source adapters: each turns the documents one AWS source returns into Invocation records.

Pure functions, no AWS calls: the runner fetches the documents, ``pclab analyze`` reads them from
files, and both hand them to the same adapters.
"""

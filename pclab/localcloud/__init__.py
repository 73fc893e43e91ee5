"""The embedded local cloud: a moto server with our extensions and Lambda execution environments.

Only :mod:`pclab.localcloud.moto_extensions` touches moto internals. The Lambda data plane meets the
control plane at one seam, :mod:`pclab.localcloud.invocation`.
"""

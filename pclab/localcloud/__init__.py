"""The embedded local cloud: a moto server with our extensions and Lambda execution environments.

Only the package :mod:`pclab.localcloud.moto` (a module per AWS service, behind one ``install()``)
imports moto or touches its internals. The Lambda data plane meets the control plane at one seam,
:mod:`pclab.localcloud.invocation`.
"""

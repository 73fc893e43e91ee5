"""Lambda execution environments for the local cloud (the data plane behind the invocation seam).

Real processes running the real AWS Lambda runtime interface client (``awslambdaric``) against a
Runtime API we serve, Lambda's concurrency model (on-demand, provisioned, reserved, account limit),
and the X-Ray / CloudWatch Logs records Lambda writes. Entry point: :class:`EnvironmentManager`.
"""

from .concurrency import FunctionStats
from .manager import EnvironmentManager

__all__ = ["EnvironmentManager", "FunctionStats"]

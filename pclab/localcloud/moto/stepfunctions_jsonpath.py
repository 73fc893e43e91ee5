"""Step Functions: a JSONPath is parsed once, not at every evaluation.

moto 5.2.5's ASL interpreter evaluates a path (``"Payload.$": "$.item"``, a Choice's
``Variable``, a ``ResultPath``) by calling jsonpath_ng's ``parse`` each time, and that builds a
new PLY parser (its tables included) on every call: a third of the local cloud's GIL time during
a 150-item inline run (py-spy ``--gil``), stalling the Lambda calls being measured. A parsed path
is immutable (``find`` and ``update`` read it), so each distinct path is parsed once and kept.

moto internals patched: the ``parse`` that ``moto...asl.utils.json_path`` (behind
``extract_json``, for every ``$.`` path) and ``moto...asl.component.common.path.result_path``
look up at call time (jsonpath_ng's ``ext`` and plain parsers respectively).

Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import functools
from typing import Any

from pclab.localcloud.moto._patching import _patch

JSON_PATH = "moto.stepfunctions.parser.asl.utils.json_path"
RESULT_PATH = "moto.stepfunctions.parser.asl.component.common.path.result_path"
CACHED_PATHS = 4096  # distinct paths kept (a definition has tens; every state machine shares it)
CACHES: dict[str, Any] = {}  # module -> its cached parse (cache_info() tells hits from parses)


def _install_jsonpath() -> None:
    import importlib

    for name in (JSON_PATH, RESULT_PATH):
        module = importlib.import_module(name)
        cached = CACHES[name] = functools.lru_cache(maxsize=CACHED_PATHS)(module.parse)
        _patch(module, "parse", cached)

"""Query engines the local cloud answers with where moto has none.

- :mod:`.xray_filter`: X-Ray filter expressions (GetTraceSummaries ``FilterExpression``), read
  by :mod:`.xray_filter_parser` (lark) and evaluated against a trace's segment documents;
- :mod:`.xray_summary` and :mod:`.xray_graph`: the TraceSummary and GetServiceGraph shapes built
  from those documents (all three share the trace model of :mod:`.xray_trace`, its segments
  :mod:`.xray_segment`'s);
- :mod:`.insights`: CloudWatch Logs Insights queries (StartQuery / GetQueryResults) over log
  events: grammar in :mod:`.insights_grammar`, query tree in :mod:`.insights_parser`, discovered
  fields in :mod:`.insights_fields`, functions in :mod:`.insights_functions`, the pipeline in
  :mod:`.insights_exec`.

Pure Python: nothing here imports moto, boto3 or the rest of pclab, so the engines are unit-tested
and benchmarked on their own and the moto wiring (``pclab/localcloud/moto/``) only calls them.
"""

from __future__ import annotations

from .insights import MalformedQueryError, QueryResult, run_query
from .xray_filter import FilterExpressionError, TraceFilter, compile_filter
from .xray_graph import build_service_graph
from .xray_summary import build_trace_summary
from .xray_trace import Trace

__all__ = [
    "FilterExpressionError",
    "MalformedQueryError",
    "QueryResult",
    "Trace",
    "TraceFilter",
    "build_service_graph",
    "build_trace_summary",
    "compile_filter",
    "run_query",
]

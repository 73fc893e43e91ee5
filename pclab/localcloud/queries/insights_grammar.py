"""Logs Insights query language: its lark grammar, its errors, and its regular expressions.

Commands (CloudWatch Logs user guide, "CloudWatch Logs Insights language query syntax" and its
per-command pages): ``fields``, ``display``, ``filter``, ``stats ... by ...``, ``sort [by] ...
asc|desc``, ``limit N``, ``parse [field] "glob * pattern" as a, b`` or ``parse [field]
/(?<name>regex)/``, ``dedup``, chained with ``|``; ``#`` starts a comment; keywords in any letter
case; fields with other characters than letters, digits, ``@`` and ``.`` in backticks.
Expressions: ``and or not``, ``= != < <= > >=``, ``like``/``=~`` with "substring" or /regex/,
``not like``, ``in [...]``, ``not in``, ``+ - * / % ^``, function calls, ``count(*)``, time
periods such as ``5m`` for ``bin()``.

A query the grammar cannot read, and a command the local cloud does not run (``unnest``,
``lookup``, ``pattern``, ...), raise :class:`MalformedQueryError` with AWS's
MalformedQueryException shape: a message and ``QueryCompileError.location``
{startCharOffset, endCharOffset}; the wording follows the service's parser ("mismatched input
'count' expecting {...}", as AWS answers ``fields a | count()``). Imports lark only.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

_GRAMMAR = r"""
start: command (_PIPE command)*
?command: fields_cmd | display_cmd | filter_cmd | stats_cmd | sort_cmd | limit_cmd
        | parse_cmd | dedup_cmd
fields_cmd: FIELDS named ("," named)*
display_cmd: DISPLAY named ("," named)*
filter_cmd: FILTER expr
stats_cmd: STATS named ("," named)* (BY named ("," named)*)?
sort_cmd: SORT BY? sort_key ("," sort_key)*
sort_key: expr [DIRECTION]
limit_cmd: LIMIT INT
parse_cmd: PARSE [PARSE_SOURCE] (STRING _AS name ("," name)* | REGEX)
dedup_cmd: DEDUP expr ("," expr)*
named: expr [_AS name]
name: FIELD | BACKTICK

?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr -> negation
         | predicate
?predicate: sum COMPARE sum -> compare
          | sum [NOT] LIKE pattern -> like
          | sum REGEX_MATCH pattern -> like
          | sum [NOT] IN "[" [expr ("," expr)*] "]" -> in_list
          | sum
?pattern: STRING | REGEX
?sum: product ((PLUS | MINUS) product)*
?product: power ((STAR | SLASH | PERCENT) power)*
?power: unary (POW unary)?
?unary: MINUS unary -> negative
      | atom
?atom: NUMBER -> number
     | STRING -> string
     | PERIOD -> period
     | name -> field
     | FUNC "(" [arg ("," arg)*] ")" -> call
     | "(" expr ")"
?arg: expr | STAR

_PIPE: "|"
FIELDS.3: /fields\b/i
DISPLAY.3: /display\b/i
FILTER.3: /filter\b/i
STATS.3: /stats\b/i
SORT.3: /sort\b/i
LIMIT.3: /limit\b/i
PARSE.3: /parse\b/i
DEDUP.3: /dedup\b/i
BY.3: /by\b/i
_AS.3: /as\b/i
_AND.3: /and\b/i
_OR.3: /or\b/i
NOT.3: /not\b/i
LIKE.3: /like\b/i
IN.3: /in\b/i
DIRECTION.3: /(?:asc|desc)\b/i
FUNC.2: /[A-Za-z_][A-Za-z0-9_]*(?=\s*\()/
PERIOD.2: /\d+(?:ms|s|m|h|d|w)\b/
NUMBER: /\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/
INT: /\d+/
STRING: /"(?:\\.|[^"\\])*"/ | /'(?:\\.|[^'\\])*'/
REGEX: /\/(?:\\.|[^\/\\])+\//
BACKTICK: /`[^`]+`/
# parse's source field: a field name followed by the pattern (a distinct terminal, or the
# LALR state after any field would also accept a regex and read `a / 2 / 3` as one)
PARSE_SOURCE: /(?:@*[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z0-9_$@]+)*|`[^`]+`)(?=\s*["'\/])/
FIELD: /@*[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z0-9_$@]+)*/
COMPARE.2: /!=|<=|>=|==|=(?!~)|<|>/
REGEX_MATCH.2: "=~"
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
PERCENT: "%"
POW: "^"
COMMENT: /#[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""

# Commands AWS documents that the local cloud does not run: refused by name, never ignored.
UNSUPPORTED_COMMANDS = (
    "unnest",
    "lookup",
    "join",
    "pattern",
    "diff",
    "anomaly",
    "filterindex",
    "unmask",
    "source",
    "search",
)


Span = tuple[int, int]  # character offsets in the query, end exclusive


class MalformedQueryError(ValueError):
    """A query Logs Insights would refuse: StartQuery's MalformedQueryException."""

    def __init__(self, message: str, start: int, end: int) -> None:
        """``start``/``end``: character offsets of the first and last offending characters."""
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end

    @classmethod
    def at(cls, message: str, span: Span) -> MalformedQueryError:
        """The error for a span of the query (end exclusive; the location's end is inclusive)."""
        return cls(message, span[0], max(span[0], span[1] - 1))

    def as_aws(self) -> dict[str, Any]:
        """The exception's body as StartQuery returns it."""
        return {
            "message": self.message,
            "queryCompileError": {
                "location": {"startCharOffset": self.start, "endCharOffset": self.end},
                "message": self.message,
            },
        }


# --- regular expressions -----------------------------------------------------------------------
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_INLINE_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


def compile_regex(body: str, span: Span) -> re.Pattern[str]:
    """A Logs Insights (Java-style) regex as a Python one.

    ``(?<name>...)`` becomes ``(?P<name>...)``; inline flags such as ``(?i)`` may stand anywhere
    in Java (the guide's ``/^(?i)Exception$/``) but only first in Python, so they move there.
    """
    text = _NAMED_GROUP.sub("(?P<", body)
    flags = "".join(sorted(set("".join(_INLINE_FLAGS.findall(text)))))
    text = _INLINE_FLAGS.sub("", text)
    if flags:
        text = f"(?{flags}){text}"
    try:
        return re.compile(text)
    except re.error as error:
        raise MalformedQueryError.at(f"invalid regular expression: {error}", span) from None


def glob_regex(glob: str, span: Span) -> re.Pattern[str]:
    """A parse glob ("[*] *") as a regex: each ``*`` captures (lazily, but a trailing one to the
    end), the rest is literal."""
    parts = glob.split("*")
    groups = ["(.*?)"] * (len(parts) - 1)
    if groups and parts[-1] == "":
        groups[-1] = "(.*)"  # a trailing * takes the rest of the value
    # parts has one more item than groups: the text after the last *
    body = "".join(re.escape(p) + g for p, g in zip(parts, groups, strict=False))
    return re.compile(body + re.escape(parts[-1]))


@cache
def grammar_parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", maybe_placeholders=True)


_FRIENDLY = {
    "FIELDS": "fields",
    "DISPLAY": "display",
    "FILTER": "filter",
    "STATS": "stats",
    "SORT": "sort",
    "LIMIT": "limit",
    "PARSE": "parse",
    "DEDUP": "dedup",
}


def syntax_error(query: str, error: UnexpectedInput) -> MalformedQueryError:
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        end = len(query.rstrip())
        return MalformedQueryError("mismatched input '<EOF>': the query ends too early", end, end)
    if isinstance(error, UnexpectedToken):
        token = error.token
        start, end = token.start_pos or 0, (token.end_pos or 0) - 1
        word = str(token)
        if word.lower() in UNSUPPORTED_COMMANDS:
            return MalformedQueryError(
                f"the '{word}' command is not supported by the local cloud", start, end
            )
        expected = sorted(_FRIENDLY.get(e, e) for e in error.expected if e in _FRIENDLY)
        hint = f" expecting {{{', '.join(expected)}}}" if expected else ""
        return MalformedQueryError(f"mismatched input '{word}'{hint}", start, end)
    if isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream or 0
        found = re.match(r"\w+", query[pos:])
        if found and found.group().lower() in UNSUPPORTED_COMMANDS:
            return MalformedQueryError(
                f"the '{found.group()}' command is not supported by the local cloud",
                pos,
                pos + len(found.group()) - 1,
            )
        return MalformedQueryError(f"token recognition error at: '{query[pos]}'", pos, pos)
    return MalformedQueryError("the query could not be read", 0, len(query))  # pragma: no cover

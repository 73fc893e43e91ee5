"""Logs Insights: AWS's documented queries parse; known log events give known results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pclab.localcloud.queries import MalformedQueryError, run_query
from pclab.localcloud.queries.insights_fields import format_timestamp, lambda_fields, sort_key
from pclab.localcloud.queries.insights_parser import parse_query

GROUP = "/aws/lambda/pclab-Function"
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20.000 UTC


def report(request: str, duration: float, *, init: float | None = None, used: int = 40) -> str:
    line = (
        f"REPORT RequestId: {request}\tDuration: {duration:.2f} ms\t"
        f"Billed Duration: {int(duration) + 1} ms\tMemory Size: 128 MB"
        f"\tMax Memory Used: {used} MB\t"
    )
    if init is not None:
        line += f"Init Duration: {init:.2f} ms\t"
    return line + f"\nXRAY TraceId: 1-abc-{request}\tSegmentId: seg{request}\tSampled: true\t"


def event(offset_ms: int, message: str, stream: str = "s1") -> dict[str, Any]:
    return {
        "timestamp": T0 + offset_ms,
        "ingestionTime": T0 + offset_ms + 50,
        "message": message,
        "logStream": stream,
        "logGroup": GROUP,
    }


# Three invocations, two cold, over two environments; plus START/END lines and app output.
EVENTS = [
    event(0, "START RequestId: r1 Version: 1", "s1"),
    event(10, '{"level": "INFO", "msg": "hello", "user": {"id": 7}, "@tag": "x", "items": [3, 4]}'),
    event(20, "END RequestId: r1", "s1"),
    event(21, report("r1", 3001.02, init=5206.12, used=40), "s1"),
    event(400_000, "START RequestId: r2 Version: 1", "s2"),
    event(400_030, report("r2", 2999.5, init=5100.0, used=44), "s2"),
    event(500_000, "START RequestId: r3 Version: 1", "s1"),
    event(500_040, report("r3", 3000.0, used=41), "s1"),
    event(
        500_050,
        "25 May 2019 10:24:39,474 [ERROR] {foo=2, bar=data} The error was: DataIntegrityException",
    ),
]


def table(
    query: str, events: list[dict[str, Any]] | None = None, **kw: Any
) -> list[dict[str, str]]:
    return run_query(query, EVENTS if events is None else events, **kw).table()


def without_ptr(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "@ptr"} for r in rows]


# Quoted from the CloudWatch Logs user guide ("query syntax", "sample queries"): all must parse.
DOCUMENTED = [
    "fields @timestamp, @message | sort @timestamp desc | limit 25",
    "filter @message like /Exception/ \n    | stats count(*) as exceptionCount by bin(1h)\n"
    "    | sort exceptionCount desc",
    "fields @message | filter @message not like /Exception/",
    'filter @type = "REPORT"\n    | stats max(@memorySize / 1024 / 1024) as provisonedMemoryMB,\n'
    "        min(@maxMemoryUsed / 1024 / 1024) as smallestMemoryRequestMB,\n"
    "        avg(@maxMemoryUsed / 1024 / 1024) as avgMemoryUsedMB,\n"
    "        max(@maxMemoryUsed / 1024 / 1024) as maxMemoryUsedMB,\n"
    "        provisonedMemoryMB - maxMemoryUsedMB as overProvisionedMB",
    'filter @type = "REPORT" |\n'
    "    stats avg(@duration), max(@duration), min(@duration) by bin(5m)",
    "stats sum(packets) as packetsTransferred by srcAddr, dstAddr\n"
    "    | sort packetsTransferred  desc\n    | limit 15",
    'filter isIpv4InSubnet(srcAddr, "192.0.2.0/24")\n'
    "    | stats sum(bytes) as bytesTransferred by dstAddr\n    | sort bytesTransferred desc",
    "filter protocol=17 | stats count(*) by srcAddr",
    'filter logStatus="SKIPDATA"\n    | stats count(*) by bin(1h) as t\n    | sort t',
    "stats count(*) by queryType, bin(1h)",
    'filter (eventName="StartInstances" or eventName="StopInstances") and region="us-east-2"',
    'filter eventName="CreateUser"\n'
    "    | fields awsRegion, requestParameters.userName, responseElements.user.arn",
    'filter eventName="UpdateTrail" and ispresent(errorCode)\n'
    "    | stats count(*) by errorCode, errorMessage",
    'parse @message "user=*, method:*, latency := *" as @user,\n'
    "    @method, @latency | stats avg(@latency) by @method,\n    @user",
    'FIELDS @message\n    | PARSE @message "* [*] *" as loggingTime, loggingType, loggingMessage\n'
    '    | FILTER loggingType IN ["ERROR", "INFO"]\n'
    '    | DISPLAY loggingMessage, loggingType = "ERROR" as isError',
    "fields `foo-bar`, action, abs(f3-f4)",
    "fields concat(Operation, '-', StatusCode) as opStatus",
    "fields f1, f2, f3 | filter (duration>2000)",
    "fields f1, f2 | filter (f1=10 or f3>25)",
    r"fields f1 | filter statusCode like /2\d\d/",
    "fields @timestamp, @message \n    | filter statusCode in [300,400,500]",
    'fields @timestamp, @message\n    | filter Type not in ["foo","bar",1]',
    "fields f1, f2, f3 | filter f1 =~ /Exception/",
    'fields f1, f2, f3 | filter f1 like "Exception"',
    "fields f1, f2, f3 | filter f1 like /(?i)Exception/",
    "fields f1, f2, f3 | filter f1 =~ /^(?i)Exception$/",
    "fields abs(myField) as AbsoluteValuemyField, myField2",
    "stats avg(f1) as myAvgF1 | sort myAvgF1 desc",
    "fields @timestamp, @message\n    # | filter @message like /delay/\n    | limit 20",
    "stats avg (f1) by f2",
    "fields ispresent(resolverArn) as isRes",
    'filter @type = "REPORT" | stats count(*) as invocations, count(@initDuration) as coldStarts',
    'filter @type = "REPORT"\n| fields @requestId, @billedDuration\n'
    "| sort by @billedDuration desc\n| limit 100",
]


@pytest.mark.parametrize("query", DOCUMENTED)
def test_documented_queries_parse(query: str) -> None:
    assert parse_query(query)


def test_the_documented_cold_start_query() -> None:
    result = run_query(
        'filter @type = "REPORT" | stats count(*) as calls, count(@initDuration) as cold', EVENTS
    )
    assert result.results == [[{"field": "calls", "value": "3"}, {"field": "cold", "value": "2"}]]
    assert result.statistics["recordsMatched"] == 3.0
    assert result.statistics["recordsScanned"] == float(len(EVENTS))
    assert result.statistics["bytesScanned"] == float(sum(len(e["message"]) for e in EVENTS))


def test_lambda_report_fields_are_discovered_in_aws_units() -> None:
    fields = lambda_fields(report("r9", 3001.02, init=5206.12, used=40))
    assert fields == {
        "@type": "REPORT",
        "@requestId": "r9",
        "@duration": 3001.02,
        "@billedDuration": 3002,
        "@memorySize": 128_000_000,  # bytes, as GetQueryResults shows "512000000" for 512 MB
        "@maxMemoryUsed": 40_000_000,
        "@initDuration": 5206.12,
        "@xrayTraceId": "1-abc-r9",
        "@xraySegmentId": "segr9",
    }
    assert lambda_fields("START RequestId: r1 Version: 1") == {"@type": "START", "@requestId": "r1"}
    assert lambda_fields("END RequestId: r1") == {"@type": "END", "@requestId": "r1"}
    assert lambda_fields("hello") == {}


def test_fields_rows_values_and_ptr() -> None:
    rows = table(
        'filter @type = "REPORT" | fields @timestamp, @requestId, @duration, @memorySize, '
        "@maxMemoryUsed, @initDuration, @log, @logStream | sort @timestamp asc"
    )
    assert without_ptr(rows) == [
        {
            "@timestamp": "2023-11-14 22:13:20.021",
            "@requestId": "r1",
            "@duration": "3001.02",
            "@memorySize": "128000000",
            "@maxMemoryUsed": "40000000",
            "@initDuration": "5206.12",
            "@log": f"123456789012:{GROUP}",
            "@logStream": "s1",
        },
        {
            "@timestamp": "2023-11-14 22:19:60.030".replace("19:60", "20:00"),
            "@requestId": "r2",
            "@duration": "2999.5",
            "@memorySize": "128000000",
            "@maxMemoryUsed": "44000000",
            "@initDuration": "5100",
            "@log": f"123456789012:{GROUP}",
            "@logStream": "s2",
        },
        {  # a warm call: no @initDuration in its row
            "@timestamp": "2023-11-14 22:21:40.040",
            "@requestId": "r3",
            "@duration": "3000",
            "@memorySize": "128000000",
            "@maxMemoryUsed": "41000000",
            "@log": f"123456789012:{GROUP}",
            "@logStream": "s1",
        },
    ]
    assert all(r["@ptr"] for r in rows) and len({r["@ptr"] for r in rows}) == 3


def test_default_columns_newest_first_and_limit() -> None:
    rows = without_ptr(table("filter @message like /START/ | limit 2"))
    assert [r["@message"] for r in rows] == [
        "START RequestId: r3 Version: 1",
        "START RequestId: r2 Version: 1",
    ]
    assert set(rows[0]) == {"@timestamp", "@message"}
    assert len(table("fields @message", limit=4)) == 4  # StartQuery's limit


def test_stats_by_bin_with_percentile_and_aliases_used_later_in_the_same_stats() -> None:
    rows = table(
        'filter @type = "REPORT" | stats count(*) as calls, avg(@duration) as mean, '
        "pct(@duration, 50) as p50, max(@maxMemoryUsed / 1000 / 1000) as maxMB, "
        "128 - maxMB as headroomMB by bin(5m)"
    )
    assert rows == [
        {
            "bin(5m)": "2023-11-14 22:10:00.000",
            "calls": "1",
            "mean": "3001.02",
            "p50": "3001.02",
            "maxMB": "40",
            "headroomMB": "88",
        },
        {
            "bin(5m)": "2023-11-14 22:20:00.000",
            "calls": "2",
            "mean": "2999.75",
            "p50": "2999.5",
            "maxMB": "44",
            "headroomMB": "84",
        },
    ]


def test_stats_functions_and_group_by_field() -> None:
    rows = table(
        "stats count(*) as n, count_distinct(@logStream) as streams, "
        "sum(@billedDuration) as billed, min(@duration), stddev(@duration) as sd by @type "
        "| sort n desc"
    )
    by_type = {r.get("@type"): r for r in rows}
    assert by_type["START"] == {"@type": "START", "n": "3", "streams": "2"}  # no REPORT fields
    assert [r.get("@type") for r in rows[:2]] == ["REPORT", "START"]  # ties keep group order
    report_row = by_type["REPORT"]
    assert report_row["billed"] == str(3002 + 3000 + 3001)
    assert report_row["min(@duration)"] == "2999.5"
    assert report_row["sd"] == "0.774682730757126"  # sample standard deviation
    assert {r.get("@type") for r in rows} == {"START", "END", "REPORT", None}  # JSON/app lines


def test_filter_operators() -> None:
    def ids(query: str) -> list[str]:
        return sorted(r["@requestId"] for r in table(query + " | fields @requestId"))

    assert ids('filter @type = "REPORT" and @duration > 3000') == ["r1"]
    assert ids('filter @type = "REPORT" and @duration >= 3000') == ["r1", "r3"]
    assert ids('filter @type = "REPORT" and not ispresent(@initDuration)') == ["r3"]
    assert ids('filter @requestId in ["r1", "r3"] and @type = "START"') == ["r1", "r3"]
    assert ids('filter @requestId not in ["r1", "r3"] and @type = "START"') == ["r2"]
    assert ids('filter @type = "REPORT" and (@duration < 3000 or @maxMemoryUsed = 41000000)') == [
        "r2",
        "r3",
    ]
    assert ids("filter @message like /(?i)init duration/") == ["r1", "r2"]
    assert ids('filter @message like "Init Duration" and @requestId != "r1"') == ["r2"]
    assert ids("filter @message =~ /^(?i)start/") == ["r1", "r2", "r3"]
    assert ids('filter @message not like /START|END|REPORT/ and @requestId = "x"') == []


def test_json_fields_are_discovered_with_dots_and_indexes() -> None:
    rows = without_ptr(table("filter level = 'INFO' | fields msg, user.id, @@tag, items.1"))
    assert rows == [{"msg": "hello", "user.id": "7", "@@tag": "x", "items.1": "4"}]
    assert without_ptr(table("filter user.id = 7 | fields user.id + 1 as next")) == [{"next": "8"}]


def test_lambda_json_log_format_platform_report() -> None:
    line = json.dumps(
        {
            "time": "2023-11-14T22:13:20.000Z",
            "type": "platform.report",
            "record": {
                "requestId": "r7",
                "metrics": {"durationMs": 12.5, "initDurationMs": 80.25, "memorySizeMB": 128},
            },
        }
    )
    rows = table(
        'filter type = "platform.report" | stats count(*) as calls, '
        "count(record.metrics.initDurationMs) as cold, max(record.metrics.durationMs) as d",
        [event(0, line)],
    )
    assert rows == [{"calls": "1", "cold": "1", "d": "12.5"}]


def test_parse_glob_and_regex_as_documented() -> None:
    glob = table(
        'parse @message "[*] * The error was: *" as level, config, exception '
        "| filter ispresent(exception) | display level, config, exception"
    )
    regex = table(
        r"parse @message /\[(?<level>\S+)\]\s+(?<config>\{.*\})\s+The error was: (?<exception>\S+)/"
        " | filter ispresent(exception) | display level, config, exception"
    )
    expected = {
        "level": "ERROR",
        "config": "{foo=2, bar=data}",
        "exception": "DataIntegrityException",
    }
    assert without_ptr(glob) == [expected] and without_ptr(regex) == [expected]
    display = without_ptr(
        table(
            'FIELDS @message | PARSE @message "* [*] *" as loggingTime, loggingType, loggingMessage'
            ' | FILTER loggingType IN ["ERROR", "INFO"]'
            ' | DISPLAY loggingMessage, loggingType = "ERROR" as isError'
        )
    )
    assert display == [
        {
            "loggingMessage": "{foo=2, bar=data} The error was: DataIntegrityException",
            "isError": "1",
        }
    ]


def test_parse_then_stats_on_extracted_numbers() -> None:
    rows = table(
        'parse @message "Init Duration: * ms" as init | stats avg(init) as a, count(init) as n'
    )
    assert rows == [{"a": "5153.06", "n": "2"}]


def test_sort_is_logs_insights_natural_sort() -> None:
    documented = [
        "!:",
        "#",
        "*%04",
        "0#",
        "5A",
        "111A",
        "2345_",
        "@",
        "@_",
        "A",
        "A9876fghj",
        "a12345hfh",
        "01",
        "1",
        "2",
        "3",
    ]
    shuffled = sorted(documented, key=lambda v: (len(v), v[::-1]))
    assert sorted(shuffled, key=sort_key)[:12] == documented[:12]
    assert [float(v) for v in sorted(shuffled, key=sort_key)[12:]] == [1.0, 1.0, 2.0, 3.0]


def test_dedup_keeps_the_newest_row_per_key() -> None:
    rows = without_ptr(table('filter @type = "START" | dedup @logStream | fields @requestId'))
    assert rows == [{"@requestId": "r3"}, {"@requestId": "r2"}]


def test_functions() -> None:
    rows = without_ptr(
        table(
            'filter @requestId = "r1" and @type = "REPORT" | fields '
            'concat(@requestId, "-", toupper(@type)) as a, strlen(@requestId) as b, '
            "floor(@duration) as c, ceil(@duration) as d, substr(@requestId, 1) as e, "
            'replace(@requestId, "r", "R") as f, strcontains(@message, "Init") as g, '
            "toMillis(@timestamp) as h, datefloor(@timestamp, 1h) as i, greatest(1, 5, 3) as j, "
            '2 ^ 3 as k, 10 % 3 as l, coalesce(nothing, "x") as m, isempty(nothing) as n'
        )
    )
    assert rows == [
        {
            "a": "r1-REPORT",
            "b": "2",
            "c": "3001",
            "d": "3002",
            "e": "1",
            "f": "R1",
            "g": "1",
            "h": str(T0 + 21),
            "i": "2023-11-14 22:00:00.000",
            "j": "5",
            "k": "8",
            "l": "1",
            "m": "x",
            "n": "1",
        }
    ]


def test_timestamp_format() -> None:
    assert format_timestamp(T0 + 7) == "2023-11-14 22:13:20.007"


@pytest.mark.parametrize(
    ("query", "start", "words"),
    [
        ("fields @timestamp, custom_field | count()", 34, "mismatched input 'count'"),
        ("filter", 6, "<EOF>"),
        ("stats count(*) by", 17, "<EOF>"),
        ("filter x $ 3", 9, "token recognition error"),
        ("unnest @message into item", 0, "'unnest' command is not supported"),
        ("fields a | pattern @message", 11, "'pattern' command is not supported"),
        ("fields frobnicate(@message)", 7, "unknown function frobnicate()"),
        ("filter count(*) > 1", 7, "is an aggregation"),
        ("stats strlen(@message)", 0, "needs an aggregation"),
        ("stats avg(max(@duration))", 10, "cannot contain one"),
        ("stats pct(@duration, 120)", 21, "percent from 0 to 100"),
        ("stats count(*) by bin(@duration)", 22, "time period"),
        ("fields substr(@message)", 7, "takes 2 to 3 argument"),
        ('parse @message "* *" as a', 15, "2 '*' but 1 names"),
        ("parse @message /(x)/", 15, "named groups"),
        ("filter x like /(?<a/", 14, "invalid regular expression"),
    ],
)
def test_malformed_queries_are_refused_with_a_location(query: str, start: int, words: str) -> None:
    with pytest.raises(MalformedQueryError) as caught:
        run_query(query, EVENTS)
    error = caught.value
    assert words in error.message
    assert error.start == start and error.end >= error.start
    shaped = error.as_aws()
    assert shaped["queryCompileError"]["location"] == {
        "startCharOffset": error.start,
        "endCharOffset": error.end,
    }

"""speakerctl withdraw --graceful: bad SECONDS are usage errors that name the problem; a
cancelled drain is not safe (exit 75)."""

from __future__ import annotations

import io

import pytest

from speaker.cli import client, parser
from speaker.core import protocol


@pytest.mark.parametrize(("word", "problem"), [
    ("-1", "must be more than 0 and at most 3600 seconds (got -1)"),
    ("abc", "not a number of seconds: 'abc'"),
    ("3601", "at most 3600 seconds (got 3601)"),
    ("0", "must be more than 0"),
    ("nan", "not a number of seconds"),
])
def test_bad_graceful_seconds_exit_64_naming_the_problem(word: str, problem: str) -> None:
    err = io.StringIO()
    code = parser.main(["withdraw", "--graceful", word, "dns"], out=io.StringIO(), err=err)
    assert code == 64
    assert "--graceful" in err.getvalue() and problem in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_graceful_seconds_parse_into_the_withdraw_arguments() -> None:
    args = parser.build_parser().parse_args(["withdraw", "--graceful", "30", "dns"])
    assert args.graceful == 30.0 and args.services == ["dns"]
    assert parser.build_parser().parse_args(["withdraw"]).graceful is None


def test_a_cancelled_drain_is_not_safe_to_stop_exit_75() -> None:
    refused = client.refused(protocol.error(protocol.CANCELLED, "graceful drain ended"))
    assert refused.exit_code == 75 and "graceful drain ended" in str(refused)

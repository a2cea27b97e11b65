"""The Codex `Token usage:` line parser: generated lines round-trip through format and parse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hosts.delivery.usage_line import LineUsage, clean_line, parse_usage_line

counts = st.integers(min_value=0, max_value=10**9)
ANSI_COLOURS = ["\x1b[1m", "\x1b[0m", "\x1b[32m", "\x1b[1;34m", "\x1b[38;5;245m", "\x1b[2m"]


def format_usage_line(
    *, total: int, input: int, output: int, cached: int = 0, reasoning: int = 0
) -> str:
    """The line as Codex prints it (zero cached/reasoning parts are left out)."""
    line = f"Token usage: total={total:,} input={input:,}"
    if cached:
        line += f" (+ {cached:,} cached)"
    line += f" output={output:,}"
    if reasoning:
        line += f" (reasoning {reasoning:,})"
    return line


@st.composite
def usage_lines(draw):
    """A line shaped the way Codex prints it, and the numbers it was made from."""
    input_ = draw(counts)
    reasoning = draw(st.integers(min_value=0, max_value=10**8))
    output = reasoning + draw(st.integers(min_value=0, max_value=10**8))
    cached = draw(st.one_of(st.just(0), counts))
    line = format_usage_line(
        total=input_ + output, input=input_, output=output, cached=cached, reasoning=reasoning
    )
    if draw(st.booleans()):
        # Colour some of the separators between parts, as a terminal would.
        parts = line.split(" ")
        line = ""
        for part in parts:
            line += draw(st.sampled_from(["", *ANSI_COLOURS])) + part + " "
        line = line.rstrip() + draw(st.sampled_from(["", "\x1b[0m"]))
    prefix = draw(st.sampled_from(["", "  ", "codex> ", "\x1b[2m"]))
    suffix = draw(st.sampled_from(["", "\n", "\r\n", "   "]))
    expected = LineUsage(
        total=input_ + output,
        input=input_,
        cached=cached or None,
        output=output,
        reasoning=reasoning or None,
    )
    return prefix + line + suffix, expected


@given(usage_lines())
def test_it_parses_back_what_codex_formats(case):
    line, expected = case
    assert parse_usage_line(line) == expected


@given(counts, counts, counts)
def test_it_reads_thousands_separators(total, input_, output):
    line = f"Token usage: total={total:,} input={input_:,} output={output:,}"
    parsed = parse_usage_line(line)
    assert (parsed.total, parsed.input, parsed.output) == (total, input_, output)


def test_it_reads_the_documented_example():
    parsed = parse_usage_line(
        "Token usage: total=1,234 input=1,000 (+ 5,000 cached) output=234 (reasoning 120)"
    )
    assert parsed == LineUsage(total=1234, input=1000, cached=5000, output=234, reasoning=120)


def test_it_leaves_missing_parts_empty():
    parsed = parse_usage_line("Token usage: total=500 output=200")
    assert parsed == LineUsage(total=500, output=200)
    assert parse_usage_line("Token usage: input=7 (+ 3 cached)") == LineUsage(input=7, cached=3)


def test_it_strips_ansi_colour_codes():
    coloured = "\x1b[1mToken usage:\x1b[0m total=\x1b[32m1,500\x1b[0m input=1,000 output=500"
    assert parse_usage_line(coloured) == LineUsage(total=1500, input=1000, output=500)
    assert clean_line(coloured + "  \n") == "Token usage: total=1,500 input=1,000 output=500"


def test_it_finds_nothing_in_a_line_without_counts():
    assert parse_usage_line("Token usage: unavailable").is_empty()
    assert parse_usage_line("").is_empty()


def test_it_refuses_malformed_separators():
    # "1,2345" is not a number Codex prints; taking "1,234" of it would be wrong.
    assert parse_usage_line("Token usage: total=1,2345 input=12,34").is_empty()


def test_it_ignores_words_that_merely_end_in_a_key():
    assert parse_usage_line("subtotal=5 throughput=9").is_empty()

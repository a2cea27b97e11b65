"""The Python-rendered parts of the pages: the breakdown rows and the SVG chart."""

from __future__ import annotations

import random
from decimal import Decimal

from dashboard.charts import Bar, bar_chart, nice_ceiling
from dashboard.tables import breakdown_rows, usd_fine
from usage.aggregation import Sums


def test_it_rounds_costs_to_four_decimals_as_decimal_does():
    rng = random.Random(7)
    samples = [0, 1, 49, 50, 150, 250, 30_500, -30_550, 9_999_950, 1_234_567_891]
    for micros in samples + [rng.randrange(-(10**9), 10**10) for _ in range(2000)]:
        dollars = (Decimal(micros) / 10**6).quantize(Decimal("0.0001"))
        expected = f"{'-' if micros < 0 else ''}${abs(dollars):,}"
        assert usd_fine(micros) == expected, micros


def test_it_escapes_every_text_cell_of_the_breakdown():
    sums = Sums(messages=1234, input=5_000_000, cost_micros=30_500)
    html = breakdown_rows([(("<b>eve</b>", "m&1", 'x"y', "opus"), sums)])
    assert "&lt;b&gt;eve&lt;/b&gt;" in html and "m&amp;1" in html and "x&quot;y" in html
    assert "<td class=num>1,234</td><td class=num>5,000,000</td>" in html
    assert "data-cost=30500>$0.0305</td>" in html


def test_it_scales_charts_to_a_round_top():
    assert [nice_ceiling(v) for v in (0, 0.003, 0.7, 1, 1.2, 7, 12, 101, 450)] == [
        1.0,
        0.005,
        1,
        1,
        2,
        10,
        20,
        200,
        500,
    ]


def test_it_draws_one_bar_per_bucket_with_its_value():
    chart = bar_chart(
        [Bar(0, 1.5), Bar(86_400_000, 0.0), Bar(2 * 86_400_000, 3.0)],
        step_ms=86_400_000,
        label="Cost <per> day",
        chart_id="c",
    )
    assert chart.count('class="chart-bar"') == 3
    assert 'data-value="3.000000"' in chart and "Jan 03 UTC: $3.00" in chart
    assert "Cost &lt;per&gt; day" in chart
    assert ">$5.00<" in chart  # the top of the axis

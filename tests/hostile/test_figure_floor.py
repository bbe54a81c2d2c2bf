"""tests/benchmarks/figure_floor.py, the measurement behind docs/HOSTILE.md's floor for the
report's figures: its variants draw what they say (the timing itself is the benchmark)."""

from __future__ import annotations

from matplotlib.figure import Figure

from tests.benchmarks import figure_floor


def test_the_empty_variant_saves_four_pngs_a_setting(tmp_path):
    assert figure_floor.empty([object(), object()], tmp_path, None) == 8
    assert len(list(tmp_path.glob("empty-*.png"))) == 8


def test_no_layout_engine_while_drawing_and_the_real_one_after(monkeypatch):
    seen = []
    monkeypatch.setattr(
        figure_floor,
        "report_figures",
        lambda *_: seen.append(Figure(layout="constrained").get_layout_engine()) or 1,
    )
    assert figure_floor.without_layout([], None, None) == 1
    assert seen == [None]
    assert Figure(layout="constrained").get_layout_engine() is not None

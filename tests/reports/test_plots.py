"""The figures, read back as data: every line and band against the table it came from, the claims
as markers at their own lengths, the paper's series only where the setting compares, one unit
for a quantity in table and plot, stable colours, and no text outside the saved figure.

Figures are built with `plots.figures` (what `draw_all` saves), from the hand-made run of
tests/reports/reports_testdata.py, whose numbers are known exactly.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure as Canvas
from matplotlib.text import Text

from reports import canvas, colours, plots, selection
from reports.claims import load_paper
from reports.load import groups, load
from reports.tables import latency_table, length_label, number, summarise, throughput_tables
from reports.units import by_magnitude
from tests.reports.reports_testdata import paper_rows, row, write_run

EXACT = 1e-12  # relative tolerance for values that are exact up to float rounding
EDGE_PX = 0.5  # a text may touch the figure's edge by half a pixel (rounding of extents)


def drawn(frame: pd.DataFrame, batch: int, **kinds: bool) -> dict[str, plots.Drawn]:
    """The figures of one group, by kind; the paper's figure and claims as the report passes
    them for a layer-level forward group."""
    group, rows = next((g, r) for g, r in groups(frame) if g.batch == batch)
    paper = load_paper()
    summary = summarise(rows, selection.default_baseline(rows))
    figs = plots.figures(
        group, rows, summary, selection.default_baseline(rows), paper.figure, list(paper.claims)
    )
    return {d.kind: d for d in figs}


def by_gid(ax: Axes, prefix: str) -> dict[str, object]:
    artists = [*ax.lines, *ax.collections]
    return {
        a.get_gid()[len(prefix) :]: a for a in artists if (a.get_gid() or "").startswith(prefix)
    }


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return load([write_run(tmp_path_factory.mktemp("plots") / "run", paper_rows())]).frame


@pytest.fixture(scope="module")
def gpu64(frame: pd.DataFrame) -> dict[str, plots.Drawn]:
    return drawn(frame, 64)


def cpu_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows as if measured on a CPU: the paper's GPU series no longer compare."""
    return frame.assign(device="cpu", device_label="test cpu")


# --- the figure's data is the table's data ---------------------------------------------------


def test_latency_lines_and_bands_are_the_tables_numbers(frame, gpu64):
    rows = next(r for g, r in groups(frame) if g.batch == 64)
    summary = summarise(rows, selection.default_baseline(rows))
    table = latency_table(summary).frame  # what the report prints beside the figure
    ax = gpu64["latency"].figure.axes[0]
    lines, bands = by_gid(ax, "series:"), by_gid(ax, "band:")
    ran = sorted(summary.loc[summary["status"] == "ok", "impl"].unique())
    assert sorted(lines) == sorted(bands) == ran
    for impl in ran:
        ok = summary[(summary["impl"] == impl) & (summary["status"] == "ok")]
        x, y = lines[impl].get_xdata(), lines[impl].get_ydata()
        np.testing.assert_array_equal(x, ok["seqlen"])
        np.testing.assert_allclose(y, ok["latency_ms_median"], rtol=EXACT)
        vertices = bands[impl].get_paths()[0].vertices
        assert set(vertices[:, 0]) == set(x)  # the band spans the line's lengths, no others
        for n, median in zip(x, y, strict=True):
            at = vertices[vertices[:, 0] == n, 1]
            p10, p90 = at.min(), at.max()
            expected = ok.set_index("seqlen").loc[n]
            assert p10 == pytest.approx(expected["latency_ms_p10"], rel=EXACT)
            assert p90 == pytest.approx(expected["latency_ms_p90"], rel=EXACT)
            cell = table.loc[impl, length_label(n)]  # e.g. "8 (7.84–8.16)"
            assert cell.startswith(f"{number(median)} ({number(p10)}–{number(p90)})"), cell


def test_hyena_fft_latency_is_its_power_law(gpu64):
    """An absolute check, independent of the summary: hyena-fft is s = L/1024 ms in the data."""
    line = by_gid(gpu64["latency"].figure.axes[0], "series:")["hyena-fft"]
    np.testing.assert_allclose(line.get_ydata(), line.get_xdata() / 1024, rtol=EXACT)


def test_speedup_lines_are_the_ratios(gpu64):
    lines = by_gid(gpu64["speedup"].figure.axes[0], "series:")
    fft = lines["hyena-fft"]  # flash-attn2 0.3 s^2 over hyena-fft s: 0.3 s
    np.testing.assert_allclose(fft.get_ydata(), 0.3 * fft.get_xdata() / 1024, rtol=EXACT)
    dense = lines["attention-dense"]  # 0.6 up to 32k, OOM at 64k (no point)
    assert list(dense.get_xdata()) == [1024 * 2**i for i in range(6)]
    np.testing.assert_allclose(dense.get_ydata(), 0.6, rtol=EXACT)


# --- the paper's claims: markers at their own length -----------------------------------------


def test_claims_are_markers_at_their_length_and_threshold(gpu64):
    ax = gpu64["speedup"].figure.axes[0]
    markers = by_gid(ax, "claim:")
    assert set(markers) == {"A", "B, B-flash"}
    assert (list(markers["A"].get_xdata()), list(markers["A"].get_ydata())) == ([8192], [2.0])
    assert (list(markers["B, B-flash"].get_xdata()), list(markers["B, B-flash"].get_ydata())) == (
        [65536],
        [100.0],
    )
    spans = [
        line
        for line in ax.lines
        if len(set(line.get_ydata())) == 1 and float(line.get_ydata()[0]) in (2.0, 100.0)
    ]
    assert all(len(line.get_xdata()) == 1 for line in spans)  # no line across the lengths


def test_a_claim_beyond_the_measured_lengths_is_only_named(frame):
    ax = drawn(frame, 1)["speedup"].figure.axes[0]  # batch 1 runs 1k..8k
    assert set(by_gid(ax, "claim:")) == {"A"}
    labels = [t.get_text().replace("\n", " ") for t in ax.get_legend().get_texts()]
    assert any("B, B-flash: 100×" in t and "beyond the measured lengths" in t for t in labels)


def test_other_settings_get_no_claim_markers(frame):
    group, rows = next((g, r) for g, r in groups(frame) if g.batch == 64)
    choice = selection.default_baseline(rows)
    figs = plots.figures(group, rows, summarise(rows, choice), choice, None, [])
    speedup = next(d for d in figs if d.kind == "speedup").figure.axes[0]
    assert by_gid(speedup, "claim:") == {}


# --- the paper's Figure 4.3: same axes only in a comparable setting --------------------------


def test_paper_series_share_the_axes_on_a_gpu_at_batch_64(gpu64):
    fig = gpu64["latency"].figure
    assert len(fig.axes) == 1
    paper = by_gid(fig.axes[0], "paper:")
    assert set(paper) == {"hyena", "attention", "flash_attention"}
    figure = load_paper().figure
    hyena = paper["hyena"]
    assert list(hyena.get_xdata()) == list(figure.seqlen)
    assert list(hyena.get_ydata()) == list(figure.series["hyena"])


@pytest.mark.parametrize("where", ["cpu", "batch 1"])
def test_elsewhere_the_paper_gets_its_own_labelled_panel(frame, where):
    figs = drawn(cpu_frame(frame), 64) if where == "cpu" else drawn(frame, 1)
    main, panel = figs["latency"].figure.axes
    assert by_gid(main, "paper:") == {}
    assert set(by_gid(panel, "paper:")) == {"hyena", "attention", "flash_attention"}
    assert by_gid(panel, "series:") == {}
    title = panel.get_title().replace("\n", " ")
    assert "paper's GPU numbers" in title and "batch 64" in title


# --- one unit per quantity, picked by magnitude ----------------------------------------------


@pytest.mark.parametrize(
    ("values", "unit", "shown"),
    [
        ([0.0965, 0.012], "GFLOP/s", 96.5),
        ([250.0, 3.0], "TFLOP/s", 250.0),
        ([1500.0], "PFLOP/s", 1.5),
        ([1.0], "TFLOP/s", 1.0),
        ([4e-7, float("nan")], "MFLOP/s", 0.4),
    ],
)
def test_unit_is_the_largest_with_a_value_of_at_least_one(values, unit, shown):
    picked = by_magnitude("tflops", values)
    assert picked.name == unit
    assert max(v for v in values if v == v) * picked.scale == pytest.approx(shown)


def test_no_values_take_the_smallest_unit():
    assert by_magnitude("tflops", []).name == "MFLOP/s"
    assert by_magnitude("peak_mem_mib", [float("nan")]).name == "KiB"


def test_throughput_plot_and_table_share_one_unit(tmp_path):
    rows = [
        row(op, n, 10.0 * n / 1024, flops=1e8)
        for op in ("hyena-fft", "flash-attn2")
        for n in (1024, 2048)
    ]
    rows = [{**r, "tflops": 1e8 / (r["latency_ms_median"] * 1e-3) / 1e12} for r in rows]
    frame = load([write_run(tmp_path, rows)]).frame  # 1e-5 .. 1e-2 TFLOP/s: GFLOP/s at most 10
    group, grows = groups(frame)[0]
    summary = summarise(grows, selection.default_baseline(grows))
    table = throughput_tables(summary)[0]
    assert table.title == "Throughput, GFLOP/s"
    fig = {
        d.kind: d
        for d in plots.figures(group, grows, summary, selection.default_baseline(grows), None, [])
    }
    ax = fig["throughput"].figure.axes[0]
    assert ax.get_ylabel() == "throughput (GFLOP/s)"
    line = by_gid(ax, "series:")["hyena-fft"]
    for n, value in zip(line.get_xdata(), line.get_ydata(), strict=True):
        assert table.frame.loc["hyena-fft", length_label(n)] == number(value)


# --- colours ---------------------------------------------------------------------------------


def line_colours(figs: dict[str, plots.Drawn]) -> dict[str, str]:
    lines = by_gid(figs["latency"].figure.axes[0], "series:")
    return {impl: to_hex(line.get_color()) for impl, line in lines.items()}


def test_an_implementation_keeps_its_colour_whatever_else_ran(frame):
    full = line_colours(drawn(frame, 64))
    fewer = line_colours(drawn(frame[~frame["op"].isin(["attention-dense", "flash-attn2"])], 64))
    assert set(fewer) == {"hyena-fft", "hyena-naive", "attention-sdpa-flash"}
    assert all(fewer[impl] == full[impl] for impl in fewer)
    assert full["hyena-fft"] == colours.IMPL_COLOURS["hyena-fft"]


def test_known_colours_differ_and_unknown_names_hash_stably():
    fixed = list(colours.IMPL_COLOURS.values())
    assert len(set(fixed)) == len(fixed)
    assert colours.PAPER_GREY not in fixed
    unknown = colours.impl_colour("my-new-kernel")
    assert unknown == colours.impl_colour("my-new-kernel") in colours.FALLBACK
    # CRC-32 is fixed by its definition: the same on every process, platform and Python
    assert unknown == colours.FALLBACK[0x8F758EE2 % len(colours.FALLBACK)] == "#7570b3"
    assert colours.stage_colour("hyena.long_conv") == colours.STAGE_COLOURS["hyena.long_conv"]


# --- nothing outside the saved figure --------------------------------------------------------


def drawn_tick_labels(axis: Axis) -> list[Text]:
    """The tick labels that are drawn: the locator's ticks inside the view (matplotlib keeps
    label objects for ticks outside it, which are never drawn)."""
    low, high = sorted(axis.get_view_interval())
    majors = axis.get_major_ticks(len(axis.get_majorticklocs()))
    minors = axis.get_minor_ticks(len(axis.get_minorticklocs()))
    return [
        tick.label1
        for tick in (*majors, *minors)
        if tick.label1.get_visible() and low * (1 - EXACT) <= tick.get_loc() <= high * (1 + EXACT)
    ]


def visible_texts(fig: Canvas) -> Iterator[Text]:
    """Every text drawn: figure texts and legends, and per visible axes its title, axis labels,
    drawn tick labels, texts and legend."""
    texts = [*fig.texts, *(t for legend in fig.legends for t in legend.get_texts())]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        texts += [*drawn_tick_labels(ax.xaxis), *drawn_tick_labels(ax.yaxis)]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    return (t for t in texts if t.get_visible() and t.get_text().strip())


def clipped(fig: Canvas) -> list[str]:
    """Texts whose extent leaves the figure once saved with the figure's own layout."""
    FigureCanvasAgg(fig)
    fig.set_dpi(canvas.DPI)
    fig.savefig(io.BytesIO(), format="png")
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    out = []
    for text in visible_texts(fig):
        box = text.get_window_extent(renderer)
        if min(box.x0, box.y0) < -EDGE_PX or box.x1 > width + EDGE_PX or box.y1 > height + EDGE_PX:
            out.append(f"{text.get_text()!r} at {box.bounds}")
    return out


def test_the_clipping_check_sees_a_cut_label():
    fig = Canvas(figsize=(4, 2), layout="constrained")
    fig.subplots().set_ylabel("a label far longer than the height of this small figure " * 2)
    assert clipped(fig)


@pytest.mark.parametrize("setting", ["gpu batch 64", "gpu batch 1", "cpu batch 64"])
def test_no_text_leaves_any_figure(frame, setting):
    figs = {
        "gpu batch 64": lambda: drawn(frame, 64),
        "gpu batch 1": lambda: drawn(frame, 1),
        "cpu batch 64": lambda: drawn(cpu_frame(frame), 64),
    }[setting]()
    assert {"latency", "speedup", "memory", "throughput"} <= set(figs)
    for kind, d in figs.items():
        assert clipped(d.figure) == [], kind


def test_saved_files_are_named_by_group_and_kind(frame, tmp_path):
    group, rows = next((g, r) for g, r in groups(frame) if g.batch == 64)
    choice = selection.default_baseline(rows)
    summary = summarise(rows, choice)
    saved = plots.draw_all(group, rows, summary, choice, None, [], tmp_path / "plots", "x")
    assert [Path(p.png).name for p in saved][:2] == ["x-latency.png", "x-speedup.png"]
    assert all((tmp_path / p.png).exists() and p.svg is None for p in saved)
    assert not list((tmp_path / "plots").glob("*.svg"))
    both = plots.draw_all(group, rows, summary, choice, None, [], tmp_path / "both", "x", svg=True)
    assert [Path(p.svg).name for p in both][:2] == ["x-latency.svg", "x-speedup.svg"]
    for plot in both:
        svg = (tmp_path / plot.svg).read_text()
        assert svg.startswith("<?xml") and "</svg>" in svg
        # the PNG is the same figure whether or not the SVG was written beside it
        png = next(p for p in saved if Path(p.png).name == Path(plot.png).name)
        assert (tmp_path / plot.png).read_bytes() == (tmp_path / png.png).read_bytes()

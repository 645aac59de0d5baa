"""The report's SVG charts: well-formed, gaps break lines, values land where the axes say."""

import xml.etree.ElementTree as ET

from loadtest.rehearsal.svg import Band, Chart, HLine, Line, Marker, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ticks():
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 95, 8) == [0, 20, 40, 60, 80]  # 95 / 8 rounds up to a step of 20
    assert nice_ticks(-0.05, 0.05) == [-0.04, -0.02, 0, 0.02, 0.04]
    assert nice_ticks(3, 3) == [3]


def test_a_chart_is_well_formed_and_places_points_on_its_axes():
    chart = Chart("A & B <test>", x_max=10, y_min=0, y_max=1, percent=True)
    chart.lines.append(Line("r1", [0, 5, 10], [0.0, None, 1.0], "#123456"))
    chart.lines.append(Line("w", [0, 4], [0.2, 0.6], "#654321", step=True, dashed=True))
    chart.bands.append(Band([0, 10], [0.1, 0.2], [0.3, 0.4], "#00ff00"))
    chart.markers.append(Marker(5, "rollout.step"))
    chart.hlines.append(HLine(0.5, "margin"))
    root = ET.fromstring(chart.render())
    lines = [p for p in root.iter(f"{SVG}polyline") if p.get("stroke") == "#123456"]
    assert len(lines) == 2  # the None split the series in two runs of one point
    step = next(p for p in root.iter(f"{SVG}polyline") if p.get("stroke") == "#654321")
    points = [tuple(map(float, xy.split(","))) for xy in step.get("points", "").split()]
    # (0, 0.2) -> (4, 0.2) -> (4, 0.6) -> (x_max, 0.6): held until the next value, then to the end
    assert len(points) == 4
    assert points[1][1] == points[0][1] and points[2][0] == points[1][0]
    assert points[3][1] == points[2][1] and points[3][0] == chart.width - chart.right
    left, right = chart.left, chart.width - chart.right
    top, bottom = chart.top, chart.height - chart.bottom
    (first,) = [tuple(map(float, p.get("points", "").split(",")[:2])) for p in lines[:1]]
    assert first == (left, bottom)  # x=0, y=0
    (last,) = [tuple(map(float, p.get("points", "").split(","))) for p in lines[1:]]
    assert last == (right, top)  # x=10, y=100%
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "A & B <test>" in texts and "100%" in texts and "rollout.step" in texts
    assert len(list(root.iter(f"{SVG}polygon"))) == 1

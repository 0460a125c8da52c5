"""The HTML report: every section, one plot per column, a full heatmap, nothing fetched, names escaped, and it renders.

Reports are made on cps1988 synthesized with bayesnet and with PrivBayes (differentially private), on DuckDB and on
PostgreSQL, then parsed; one report is opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``),
which must draw every SVG with a non-empty box, keep every label inside its box and log no console error; it saves
screenshots of the page, of a QQ plot and of the rule table in the test's ``tmp_path``. Under CI (``CI=true``) a
missing browser fails the browser test instead of skipping it.

The QQ plots are checked against quantiles computed here from the rows (the oracle), their axes against the rule that
picks a log scale (wage: log; education, experience: linear; a zero-inflated amount: symmetric log), and the rule
table against ``check_rules``' counts, with a rule the synthetic rows break and the real ones meet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import synthsql as ss
from synthsql.evaluate import Evaluation
from synthsql.metrics.distance import distance_risk
from synthsql.metrics.risk import risk_measures
from synthsql.report import QQ_PROBS, RISK_EXPLANATIONS, cell_labels, column_quantiles, render_report, write_report
from synthsql.schema import NUMERIC_KINDS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
IN_CI = os.environ.get("CI", "").lower() == "true"
SECTIONS = ["summary", "columns", "rules", "pairs", "glm", "risk", "privacy", "catalog"]
CATALOG = "tables:\n  - name: cps_synth\n    source: cps1988\n    method: <bayesnet & co>\n"
FORMULAS = ["wage ~ education + experience + ethnicity + region"]
#: Edit rules on cps1988: every real record is at least 18 (experience = age - education - 6), which a model that
#: draws education and experience apart breaks; a rule both tables meet; one both break (with a ``when``).
RULES = [
    ss.Rule("adult", "experience + education + 6 >= 18"),
    ss.Rule("positive_wage", "wage > 0"),
    ss.Rule("full_time_pay", "wage >= 100", when="parttime = 'no'"),
]


class Page(HTMLParser):
    """The parts of a report the tests look at: elements with their attributes, and the text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str], str | None]] = []  # (tag, attributes, enclosing section)
        self.text: list[str] = []
        self._section: list[str | None] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._section.append(attributes.get("id"))
        self.elements.append((tag, attributes, self._section[-1] if self._section else None))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, self._section[-1] if self._section else None))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._section:
            self._section.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None, section: str | None = None) -> list[dict[str, str]]:
        return [
            a
            for t, a, s in self.elements
            if t == tag and (cls is None or cls in a.get("class", "").split()) and (section is None or s == section)
        ]

    @property
    def sections(self) -> list[str]:
        return [a["id"] for t, a, _ in self.elements if t == "section"]


def with_risk(evaluation: Evaluation, risk: pd.DataFrame) -> Any:
    """The evaluation with risk rows: its own when evaluate() measured them, else these."""
    own = getattr(evaluation, "risk", None)
    if own is not None and len(own) and not (own["metric"] == "risk_skipped").all():
        return evaluation
    fields = {f.name: getattr(evaluation, f.name) for f in dataclasses.fields(evaluation)}
    if "risk" in fields:
        return dataclasses.replace(evaluation, risk=risk)

    @dataclasses.dataclass(frozen=True)
    class WithRisk(Evaluation):
        risk: pd.DataFrame | None = None

    return WithRisk(**fields, risk=risk)


def external_references(text: str, page: Page) -> list[str]:
    """Everything the page would fetch from outside itself."""
    found = []
    for tag, attrs, _ in page.elements:
        if tag in ("link", "img", "iframe", "object", "embed", "audio", "video", "source", "base"):
            found.append(f"<{tag}>")
        if tag == "script" and "src" in attrs:
            found.append("<script src>")
        for name in ("src", "href", "xlink:href", "data", "action", "poster"):
            value = attrs.get(name, "").strip().lower()
            if value.startswith(("http:", "https:", "//", "ftp:")):
                found.append(f"{tag} {name}={value}")
    found += re.findall(r"@import|url\(\s*['\"]?(?:https?:|//)", text, flags=re.IGNORECASE)
    return found


SVG = "{http://www.w3.org/2000/svg}"


def qq_plots(text: str) -> dict[str, ET.Element]:
    """The QQ plots of a report by column, parsed."""
    plots = [ET.fromstring(svg) for svg in re.findall(r'<svg class="qq-plot".*?</svg>', text, flags=re.DOTALL)]
    return {svg.get("data-column"): svg for svg in plots}


def qq_points(svg: ET.Element) -> list[tuple[float, float, str]]:
    """A QQ plot's points: (cx, cy, tooltip)."""
    return [(float(c.get("cx")), float(c.get("cy")), c.find(f"{SVG}title").text)
            for c in svg.iter(f"{SVG}circle") if c.get("class") == "q"]


def number(v: float) -> str:
    """A quantile as the report writes it: whole numbers with thousands separators, others to 6 digits."""
    return f"{int(v):,}" if v == int(v) else f"{v:,.6g}"


def discrete_quantiles(values: np.ndarray, probs: tuple[float, ...]) -> list[float]:
    """The oracle: the value of rank max(ceil(p n), 1) among the sorted non-NULL values."""
    x = np.sort(values[~np.isnan(values)])
    return [float(x[max(math.ceil(round(p * len(x), 9)), 1) - 1]) for p in probs]


def check_report(text: str, spec: ss.TableSpec, *, dp: bool | None, glm: bool, risk: bool, catalog: bool) -> Page:
    """Check a report's structure; ``dp`` is None when no model was given."""
    page = Page(text)
    assert page.sections == SECTIONS
    modelled = [c.name for c in spec.modelled]
    charts = page.find("svg", "column-chart", section="columns")
    assert [c["data-column"] for c in charts] == modelled  # one SVG per modelled column, in order
    heatmaps = page.find("svg", "heatmap", section="pairs")
    assert len(heatmaps) == 1
    d = len(modelled)
    assert len(page.find("rect", "cell", section="pairs")) == d * (d - 1) // 2
    assert external_references(text, page) == []
    assert page.find("script") == []
    body = "".join(page.text)
    # Every SVG is well-formed XML on its own: nothing from the data broke out of its escaping.
    for svg in re.findall(r"<svg\b.*?</svg>", text, flags=re.DOTALL):
        ET.fromstring(svg)
    assert "Mean 2-way TVD" in body and "k-marginal score" in body
    assert ("pMSE ratio (cells)".upper() in body.upper()) or "pMSE ratio" in body
    # Bin labels on the axes of numeric columns, and the NULL cell.
    wage = spec.column("wage")
    assert cell_labels(wage)[1] in body and "NULL" in body
    # One QQ plot per numeric column, each with a point per quantile of QQ_PROBS.
    numeric = [c.name for c in spec.modelled if c.kind in NUMERIC_KINDS]
    qq = qq_plots(text)
    assert list(qq) == numeric
    for svg in qq.values():
        assert svg.get("data-points") == str(len(QQ_PROBS))
        probs = [c.get("data-p") for c in svg.iter(f"{SVG}circle") if c.get("class") == "q"]
        assert probs == [f"{p:g}" for p in QQ_PROBS]
    forests = page.find("svg", "forest", section="glm")
    assert len(forests) == (len(FORMULAS) if glm else 0)
    if glm:
        assert "CI overlap" in body and "std. difference" in body
    if risk:
        assert "repU" in body and RISK_EXPLANATIONS["repU"] in body and RISK_EXPLANATIONS["dcr_median"] in body
        assert "No disclosure-risk measures" not in body
    if dp:
        assert "differentially private" in body and "ε = 1" in body
        assert len(page.find("svg", "share", section="privacy")) >= 1
        assert "joint table" in body and "total (" in body
    elif dp is False:
        assert "not differentially private" in body
    if catalog:
        assert "method: <bayesnet & co>" in body and "<bayesnet & co>" not in text  # shown, and escaped
    else:
        assert "No catalog was given" in body
    return page


@pytest.fixture(scope="module")
def cps(db):
    spec = ss.describe(db, "cps1988")
    bayesnet = ss.fit(db, "cps1988", method="bayesnet", spec=spec, seed=1)
    ss.materialize(db, bayesnet, "report_bayesnet", seed=2, replace=True)
    private = ss.fit(db, "cps1988", method="privbayes", epsilon=1.0, domain_share=0.2, seed=1)
    ss.materialize(db, private, "report_privbayes", seed=2, replace=True)
    return {"bayesnet": (spec, bayesnet), "privbayes": (private.spec, private)}


@pytest.mark.parametrize("method", ["bayesnet", "privbayes"])
def test_report_has_every_section_and_plot(db, cps, method):
    spec, model = cps[method]
    synthetic = f"report_{method}"
    evaluation = ss.evaluate(db, real="cps1988", synthetic=synthetic, spec=spec, formulas=FORMULAS, pmse=["cells"],
                             write=False)
    risk = pd.concat(
        [
            risk_measures(db, "cps1988", synthetic, spec, keys=["ethnicity", "region", "smsa"], targets=["parttime"]),
            distance_risk(db, "cps1988", synthetic, spec, sample_rows=500, reference_rows=500),
        ],
        ignore_index=True,
    )
    text = render_report(db, real="cps1988", synthetic=synthetic, spec=spec, evaluation=with_risk(evaluation, risk),
                         model=model, catalog=CATALOG)
    page = check_report(text, spec, dp=method == "privbayes", glm=True, risk=True, catalog=True)
    body = "".join(page.text)
    rows = int(db.table(synthetic).count().execute())  # a DP model draws its (noisy) row count
    assert "cps1988, 28,155 rows" in body and f"{synthetic}, {rows:,} rows" in body
    # The per-column captions carry the TVD, and KS for numeric columns, as evaluate measured it.
    ks = evaluation.utility.set_index(["metric", "scope"]).loc[("ks", "wage"), "value"]
    assert f"KS {ks:.3g}" in body
    assert len(text.encode()) < 2_000_000


def test_report_without_evaluation_or_model(db, cps, tmp_path):
    spec, _ = cps["bayesnet"]
    path = write_report(tmp_path / "report.html", db, real="cps1988", synthetic="report_bayesnet", spec=spec)
    text = path.read_text(encoding="utf-8")
    page = check_report(text, spec, dp=None, glm=False, risk=False, catalog=False)
    body = "".join(page.text)
    assert "No GLM was fitted" in body and "No model was given" in body


def test_report_escapes_names_and_values_from_the_data(db, fresh_name):
    n = 120
    hostile = ["<script>alert(1)</script>", "a & b", '"quoted"', "</svg><p>"]
    table = pa.table(
        {
            "<b>col & 'x'</b>": pa.array([hostile[i % 4] for i in range(n)]),
            "size": pa.array([float(i % 37) * 1.5 for i in range(n)]),
            "flag": pa.array([i % 3 == 0 for i in range(n)]),
        }
    )
    ss.write_table(db, fresh_name, table)
    spec = ss.describe(db, fresh_name)
    model = ss.fit(db, fresh_name, method="independent", spec=spec, seed=1)
    ss.materialize(db, model, f"{fresh_name}_syn", seed=1)
    evaluation = ss.evaluate(db, real=fresh_name, synthetic=f"{fresh_name}_syn", spec=spec, pmse=["cells"],
                             write=False)
    text = render_report(db, real=fresh_name, synthetic=f"{fresh_name}_syn", spec=spec, evaluation=evaluation,
                         model=model, catalog={"tables": [{"name": "<t>", "note": "a & b"}]}, title="<i>T</i>")
    page = Page(text)
    assert page.sections == SECTIONS
    assert page.find("script") == [] and page.find("p", section="columns") == [{"class": "legend"}]
    assert [c["data-column"] for c in page.find("svg", "column-chart")] == ["<b>col & 'x'</b>", "size", "flag"]
    body = "".join(page.text)
    for value in hostile:
        assert value in body
    assert "<t>" in body and "<i>T</i>" in body
    for raw in ("<script>", "</svg><p>", "<b>col", "<i>T"):
        assert raw not in text
    for svg in re.findall(r"<svg\b.*?</svg>", text, flags=re.DOTALL):
        ET.fromstring(svg)


def test_long_domains_are_pooled_in_the_chart(duckdb_db, fresh_name):
    n = 600
    codes, values = [f"c{i % 75:03d}" for i in range(n)], [i % 300 for i in range(n)]
    table = pa.table({"code": pa.array(codes), "x": pa.array(values)})
    ss.write_table(duckdb_db, fresh_name, table)
    spec = ss.describe(duckdb_db, fresh_name, max_bins=100)
    assert spec.column("x").cells > 61
    text = render_report(duckdb_db, real=fresh_name, synthetic=fresh_name, spec=spec,
                         evaluation=ss.evaluate(duckdb_db, real=fresh_name, synthetic=fresh_name, spec=spec,
                                                pmse=["cells"], write=False))
    body = "".join(Page(text).text)
    assert "(46 other categories)" in body  # 29 largest categories shown, the other 46 pooled
    assert "76 cells, shown as 31" in body
    assert re.search(r"\d+ cells, shown as \d+", body.replace("76 cells, shown as 31", ""))
    assert body.count("TVD 0 ·") == 2  # a table against itself


def test_quantile_plots_and_rule_table(duckdb_db):
    """cps1988 against a synthesis that draws its columns apart: QQ plots with the real quantiles at every point, a log
    scale for wage only, and the rule table with the rule the synthetic rows alone break flagged; the same bytes twice.
    """
    db = duckdb_db
    spec = ss.describe(db, "cps1988")
    model = ss.fit(db, "cps1988", method="independent", spec=spec, seed=5)
    ss.materialize(db, model, "report_rules", seed=6, replace=True)
    evaluation = ss.evaluate(db, real="cps1988", synthetic="report_rules", spec=spec, rules=RULES, pmse=["cells"],
                             write=False)
    text = render_report(db, real="cps1988", synthetic="report_rules", spec=spec, evaluation=evaluation, model=model,
                         rules=RULES)
    assert render_report(db, real="cps1988", synthetic="report_rules", spec=spec, evaluation=evaluation, model=model,
                         rules=RULES) == text  # deterministic: exact quantiles, no sampling

    # The quantiles are exact: those of the rows, computed here, and the tooltips carry them.
    rows = {name: db.table(name).to_pandas() for name in ("cps1988", "report_rules")}
    qq = qq_plots(text)
    assert list(qq) == ["wage", "education", "experience"]
    for name, svg in qq.items():
        real, synthetic = (discrete_quantiles(rows[t][name].to_numpy(dtype=float, na_value=np.nan), QQ_PROBS)
                           for t in rows)
        assert column_quantiles(db, "cps1988", spec.modelled)[name] == real
        assert column_quantiles(db, "report_rules", spec.modelled)[name] == synthetic
        tips = [tip for _, _, tip in qq_points(svg)]
        assert len(tips) == len(QQ_PROBS) == 17
        for tip, p, a, b in zip(tips, QQ_PROBS, real, synthetic, strict=True):
            label = "min" if p == 0 else "max" if p == 1 else f"p{100 * p:g}"
            assert tip == f"{label}: real {number(a)}, synthetic {number(b)}"
    # wage: non-negative, q99 - q50 = 3.7 (q50 - q1), 50 to 18,777: log axes; education and experience linear
    assert {name: svg.get("data-scale") for name, svg in qq.items()} == {
        "wage": "log", "education": "linear", "experience": "linear"}
    wage_ticks = [t.text for t in qq["wage"].iter(f"{SVG}text") if t.get("class") == "tick"]
    assert {"100", "1,000", "10,000"} <= set(wage_ticks)
    body = "".join(Page(text).text)
    assert "Log axes: a long upper tail (q99 − q50 = 3.72 × (q50 − q1))" in body
    assert "Linear axes (q99 − q50 = 0.75 × (q50 − q1))" in body  # education
    # The tail quantiles are in the statistics table beside the plot.
    assert re.search(r"<th>p99\.9</th><td>3,527</td>", text)

    # The rule table: one row per rule, the counts of check_rules, the rule only the synthetic rows break flagged.
    page = Page(text)
    assert page.find("table", "rules", section="rules")
    table = re.search(r'<table class="data rules">(.*?)</table>', text, flags=re.DOTALL).group(1)
    found = {re.search(r"<code>([^<]*)</code>", row).group(1): row
             for row in re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", table, flags=re.DOTALL)}
    assert list(found) == ["adult", "positive_wage", "full_time_pay"]
    counts = evaluation.rules.set_index(["rule", "table"])
    assert counts.loc[("adult", "real"), "violations"] == 0 < counts.loc[("adult", "synthetic"), "violations"]
    for name, row in found.items():
        for role in ("real", "synthetic"):
            r = counts.loc[(name, role)]
            assert f"{int(r['violations']):,} of {int(r['applicable']):,}" in row
    assert found["adult"].startswith('<tr class="bad">') and ">new</span>" in found["adult"]
    assert "experience + education + 6 &gt;= 18" in found["adult"]
    assert found["positive_wage"].startswith('<tr class="">') and "flag" not in found["positive_wage"]
    assert found["full_time_pay"].startswith('<tr class="warn">') and ">more often</span>" in found["full_time_pay"]
    assert "when <code>parttime = &#x27;no&#x27;</code>" in found["full_time_pay"]
    assert "1 of 3 rules" in body
    # the verdict's rule rows lead to the rule table
    assert '<a href="#rules"><code title="' in text

    # Without the rules' texts (no rules=, no model) the counts are still shown; without rules, a note.
    bare = render_report(db, real="cps1988", synthetic="report_rules", spec=spec, evaluation=evaluation)
    assert "pass rules= to render_report" in bare and "experience + education" not in bare
    plain = ss.evaluate(db, real="cps1988", synthetic="report_rules", spec=spec, pmse=["cells"], write=False)
    none = render_report(db, real="cps1988", synthetic="report_rules", spec=spec, evaluation=plain)
    assert "No edit rules were checked" in "".join(Page(none).text)


def test_quantile_axes_follow_the_skew_rule(db, fresh_name):
    """Each scale on a table built for it, on both backends (the same quantiles, to the bit); a table against itself
    draws every point on the diagonal; a column with no synthetic value gets a note instead of a plot."""
    n = 400
    growth = [round(1.03**i, 2) for i in range(n)]
    table = pa.table({
        "amount": pa.array([0.0 if i % 4 == 0 else growth[i] for i in range(n)]),  # zero-inflated, long tail: symlog
        "positive": pa.array([1.0 + growth[i] for i in range(n)]),  # long tail, all positive: log
        "level": pa.array([(i * 37) % 101 for i in range(n)], type=pa.int64()),  # symmetric: linear
        "shifted": pa.array([growth[i] - 50 for i in range(n)]),  # long tail but negative values: linear
        "day": pa.array([dt.date(2001, 1, 1) + dt.timedelta(days=9 * i) for i in range(n)]),  # a date: linear
    })
    ss.write_table(db, fresh_name, table)
    spec = ss.describe(db, fresh_name)
    evaluation = ss.evaluate(db, real=fresh_name, synthetic=fresh_name, spec=spec, pmse=["cells"], write=False)
    text = render_report(db, real=fresh_name, synthetic=fresh_name, spec=spec, evaluation=evaluation)
    qq = qq_plots(text)
    assert {name: svg.get("data-scale") for name, svg in qq.items()} == {
        "amount": "symlog", "positive": "log", "level": "linear", "shifted": "linear", "day": "linear"}
    quantiles = column_quantiles(db, fresh_name, spec.modelled)
    for name in ("amount", "positive", "level", "shifted"):
        assert quantiles[name] == discrete_quantiles(table[name].to_numpy().astype(float), QQ_PROBS)
    for svg in qq.values():
        points = qq_points(svg)
        assert len(points) == len(QQ_PROBS)
        assert max(cx + cy for cx, cy, _ in points) - min(cx + cy for cx, cy, _ in points) <= 0.11  # y = x
    day_ticks = [t.text for t in qq["day"].iter(f"{SVG}text") if t.get("class") == "tick"]
    assert {"2002", "2006", "2010"} <= set(day_ticks)  # date axes are labelled with years
    body = "".join(Page(text).text)
    assert "Symmetric log axes, linear below 1: a long upper tail" in body and "and zeros." in body

    # A synthetic table whose amount is NULL throughout: no QQ plot for it, a note instead (the QQ quantiles are
    # the evaluation's, so it is the evaluation of this pair).
    empty = f"{fresh_name}_null"
    ss.write_table(db, empty, table.set_column(0, "amount", pa.nulls(n, pa.float64())))
    evaluation = ss.evaluate(db, real=fresh_name, synthetic=empty, spec=spec, pmse=["cells"], write=False)
    text = render_report(db, real=fresh_name, synthetic=empty, spec=spec, evaluation=evaluation)
    assert "amount" not in qq_plots(text) and "No QQ plot: the synthetic table has no value here." in text


def browser_driver() -> Any:
    """A headless Chromium through Selenium, using the system chromedriver (Selenium Manager downloads nothing)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"Headless browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)."
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def test_report_renders_in_a_headless_browser(duckdb_db, tmp_path):
    db = duckdb_db
    spec = ss.describe(db, "cps1988")
    model = ss.fit(db, "cps1988", method="privbayes", epsilon=1.0, domain_share=0.2, seed=1)
    ss.materialize(db, model, "report_browser", seed=2, replace=True)
    evaluation = ss.evaluate(db, real="cps1988", synthetic="report_browser", spec=spec, formulas=FORMULAS,
                             rules=RULES, pmse=["cells"], write=False)
    risk = risk_measures(db, "cps1988", "report_browser", spec, keys=["ethnicity", "region"], targets=["smsa"])
    path = write_report(tmp_path / "cps.html", db, real="cps1988", synthetic="report_browser", spec=spec,
                        evaluation=with_risk(evaluation, risk), model=model, catalog=CATALOG, rules=RULES)
    expected = Page(path.read_text(encoding="utf-8")).find("svg")
    driver = browser_driver()
    try:
        driver.get(path.resolve().as_uri())
        boxes = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg')).map(function (s) {"
            "  var r = s.getBoundingClientRect();"
            "  return [s.getAttribute('class'), r.width, r.height]; });"
        )
        # every element of a summary card, of the verdict, of a QQ plot with its note and of the rule table stays
        # inside its box (the overflowing card)
        overflowing = driver.execute_script(
            "var out = [];"
            "document.querySelectorAll('.card, .verdict, table.verdict-groups, table.verdict-rows, div.qq, "
            "table.rules').forEach("
            "function (box) { var b = box.getBoundingClientRect();"
            "  box.querySelectorAll('*').forEach(function (e) { var r = e.getBoundingClientRect();"
            "    if (r.width > 0 && (r.left < b.left - 0.5 || r.right > b.right + 0.5))"
            "      out.push(box.className + ' > ' + e.tagName + ': ' + e.textContent.slice(0, 40)); }); });"
            "return out;"
        )
        # every label of every plot (bars, QQ plots, heatmap, forest plot) is drawn inside its SVG: none is cut off
        clipped = driver.execute_script(
            "var out = [];"
            "document.querySelectorAll('svg').forEach(function (s) { var b = s.getBoundingClientRect();"
            "  s.querySelectorAll('text').forEach(function (t) { var r = t.getBoundingClientRect();"
            "    if (r.width > 0 && (r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.top < b.top - 0.5"
            "        || r.bottom > b.bottom + 0.5))"
            "      out.push(s.getAttribute('class') + ' ' + (s.dataset.column || '') + ': ' + t.textContent); }); });"
            "return out;"
        )
        # no cell of the rule table hides part of its text
        truncated = driver.execute_script(
            "return Array.from(document.querySelectorAll('table.rules td, table.rules th'))"
            "  .filter(function (e) { return e.scrollWidth > e.clientWidth + 1; })"
            "  .map(function (e) { return e.textContent.slice(0, 40); });"
        )
        verdict = driver.execute_script("return document.querySelector('.verdict .value').textContent;")
        log = driver.get_log("browser")
        title = driver.title
        # screenshots, kept as test artefacts: the top of the page, the whole page, the wage QQ plot, the rule table
        driver.save_screenshot(str(tmp_path / "report-top.png"))
        from selenium.webdriver.common.by import By

        driver.execute_script("document.querySelector('header').style.position = 'static';")  # not over an element
        figure = driver.find_element(By.CSS_SELECTOR, 'svg.qq-plot[data-column="wage"]').find_element(
            By.XPATH, "ancestor::figure")
        driver.execute_script("arguments[0].scrollIntoView();", figure)
        figure.screenshot(str(tmp_path / "column-wage.png"))
        rules = driver.find_element(By.CSS_SELECTOR, "section#rules")
        driver.execute_script("arguments[0].scrollIntoView();", rules)
        rules.screenshot(str(tmp_path / "rules.png"))
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1400, min(int(height) + 40, 30000))
        driver.save_screenshot(str(tmp_path / "report-full.png"))
    finally:
        driver.quit()
    assert overflowing == []
    assert clipped == []
    assert truncated == []
    assert verdict == with_risk(evaluation, risk).verdict().overall.upper()
    assert title.startswith("Synthetic data report")
    numeric = [c for c in spec.modelled if c.kind in NUMERIC_KINDS]
    # columns, QQ plots, heatmap, forest plot, ledger bars
    assert len(boxes) == len(expected) >= len(spec.modelled) + len(numeric) + 3
    empty = [b for b in boxes if not (b[1] > 0 and b[2] > 0)]
    assert empty == []
    assert {b[0] for b in boxes} >= {"column-chart", "qq-plot", "heatmap", "forest", "share"}
    assert sum(b[0] == "qq-plot" for b in boxes) == len(numeric)
    errors = [entry for entry in log if entry.get("level") in ("SEVERE", "ERROR", "WARNING")]
    assert errors == []
    for name in ("report-top.png", "report-full.png", "column-wage.png", "rules.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_heatmap_cells_match_marginal_tvd(duckdb_db, tmp_path):
    """The heatmap's tooltips carry the same TVDs as marginal_tvd, pair by pair."""
    db = duckdb_db
    spec = ss.describe(db, "cps1988")
    model = ss.fit(db, "cps1988", method="independent", spec=spec, seed=3)
    ss.materialize(db, model, "report_independent", seed=1, replace=True)
    evaluation = ss.evaluate(db, real="cps1988", synthetic="report_independent", spec=spec, pmse=["cells"],
                             write=False)
    text = render_report(db, real="cps1988", synthetic="report_independent", spec=spec, evaluation=evaluation)
    tips = re.findall(r'<rect class="cell"[^>]*><title>([^<]*)</title>', text)
    expected = ss.marginal_tvd(db, "cps1988", "report_independent", spec, k=2)
    names = [c.name for c in spec.modelled]
    assert len(tips) == len(expected) == len(list(itertools.combinations(names, 2)))
    got = {t.split(":")[0]: float(re.search(r"TVD ([0-9.]+)", t).group(1)) for t in tips}
    for row in expected.itertuples(index=False):
        a, b = row.scope.split(",")
        assert got[f"{a} × {b}"] == pytest.approx(row.value, abs=5e-5)

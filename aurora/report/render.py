"""``write_report``: execute the report notebook on a run directory and export it as one HTML file.

papermill runs ``notebooks/03_run_report.ipynb`` (the ``calibration.kernel``, at most
``calibration.cell_timeout_s`` per cell) into ``report.ipynb`` beside the HTML; nbconvert exports
its outputs without the code, every figure embedded as a ``data:image/png;base64`` URI, so the
HTML is one self-contained file. The HTML is written to a temporary name and renamed, so a
failed run never leaves a half-written report in place of an older one.
"""

from __future__ import annotations

import os
from pathlib import Path

from aurora.config import Settings
from aurora.pipeline.execute import PipelineError, check_kernel, execute
from aurora.pipeline.plan import resolve_shipped
from aurora.report.logs import ReportError, read_run
from aurora.report.params import NOTEBOOK, ReportParams

REPORT = "report.html"
NBCONVERT_MISSING = ("nbconvert is not installed, so the report cannot be exported to HTML: pip install "
                     "'nbconvert>=7.16' (it is in the dev and lab extras: pip install -e '.[dev]')")


#: JupyterLab's HTML look without the scripts it loads from a CDN (require.js, MathJax, mermaid),
#: which a report of tables and PNG figures does not use: the file opens the same offline.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def to_html(executed: Path) -> str:
    """The executed notebook as one self-contained HTML page: outputs only, figures embedded."""
    try:
        import jinja2
        import nbformat
        from nbconvert import HTMLExporter
    except ImportError:
        raise ReportError(NBCONVERT_MISSING) from None
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"aurora_report.html.j2": _TEMPLATE})],
                            template_file="aurora_report.html.j2", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    return body


def write_report(run_dir: str | Path, settings: Settings, *, out: str | Path | None = None,
                 run_id: str | None = None) -> Path:
    """Report on ``run_dir`` (its run ``run_id``, default the last) into ``out`` (default
    ``run_dir/report.html``) and return the HTML's path. Beside it: the executed notebook
    (``.ipynb``) and the figures as JSON (``.json``)."""
    run_dir = Path(run_dir).resolve()
    logs = read_run(run_dir, run_id)  # refuses a directory that is no run, before a kernel starts
    try:
        import nbconvert  # noqa: F401  (checked before the notebook runs, not after)
    except ImportError:
        raise ReportError(NBCONVERT_MISSING) from None
    html = Path(out).resolve() if out is not None else run_dir / REPORT
    if html.suffix != ".html":
        raise ReportError(f"--out {html} must name an .html file")
    html.parent.mkdir(parents=True, exist_ok=True)
    cal = settings.calibration
    params = ReportParams.from_settings(settings, run_dir=str(run_dir), run_id=logs.run_id,
                                        summary_json=str(html.with_suffix(".json")))
    notebook = resolve_shipped(settings, cal.notebooks_dir / f"{NOTEBOOK}.ipynb")
    if not notebook.is_file():
        raise ReportError(f"the report notebook {notebook} is missing (calibration.notebooks_dir)")
    try:
        check_kernel(cal.kernel)
        execute(notebook, html.with_suffix(".ipynb"), params.model_dump(), kernel=cal.kernel,
                cell_timeout_s=cal.cell_timeout_s, progress_bar=False)
    except PipelineError as exc:
        raise ReportError(str(exc)) from None
    tmp = html.with_name(f".{html.name}.tmp")
    tmp.write_text(to_html(html.with_suffix(".ipynb")), encoding="utf-8")
    os.replace(tmp, html)
    return html

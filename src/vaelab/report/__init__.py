"""Reports: one self-contained HTML page about one or more run folders."""

from vaelab.report.html import write_report

__all__ = ["write_report"]

"""CSV cells a spreadsheet will not run: every CSV the platform writes (exports, and report
attachments) passes its text cells through :func:`safe_cell`.

OWASP's advice on CSV injection: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is read by Excel and LibreOffice as a formula (``=HYPERLINK(…)`` in a device
serial would become a live link). Such a cell gets a leading apostrophe, which spreadsheets
show as text and hide. Numbers are written by the caller as numbers and never touched: a
negative reading stays ``-3.5``.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text

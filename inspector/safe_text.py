"""Names from the outside world, shown safely and kept losslessly.

A file name is bytes that may not be UTF-8 (shares written by other systems). Python holds
such a name as a str with lone surrogates (``os.fsdecode``/``surrogateescape``), which no
UTF-8 writer accepts: ``shown`` gives the escaped form for people and text files, and the
journal and the inspection log keep the exact name.
"""

from __future__ import annotations

# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...)).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def shown(text: str) -> str:
    """``text`` with the bytes of a non-UTF-8 name escaped (``\\xff``); valid text unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a file name
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def csv_cell(text: str) -> str:
    """``shown(text)`` made inert for spreadsheets: a formula-like cell gets a leading ``'``.

    The quote is what spreadsheets themselves use to mark text, so the name stays readable
    and whole.
    """
    text = shown(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_bytes(text: str) -> bytes:
    """The exact bytes of a name held with surrogate escapes (inverse of ``from_bytes``)."""
    return text.encode("utf-8", "surrogateescape")


def from_bytes(data: bytes) -> str:
    """A name from its bytes, undecodable bytes kept as surrogate escapes."""
    return data.decode("utf-8", "surrogateescape")

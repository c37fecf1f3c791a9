"""The default space is defined once and documented in one README table."""

import ast
import re
from pathlib import Path

from convgrad.verification.space import DEFAULT_SPACE

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_table_is_the_default_space():
    text = README.read_text()
    table = text[text.index("**The default space**") :]
    table = table[: table.index("\n\n", table.index("| argument |"))]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", table, flags=re.MULTILINE)
    assert {name: ast.literal_eval(value) for name, value in rows} == DEFAULT_SPACE
    assert len(rows) == len(DEFAULT_SPACE)

"""The README's first screen: the two commands an analyst and a developer run first, the ones
CI runs (.ci/run), and a picture of each sheet of the workbook that exists in docs/."""

from __future__ import annotations

import re
from pathlib import Path

from cld_polars.workbook import SHEETS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = [
    "pip install . && cld-validate --sample --xlsx sample_report.xlsx",
    'pip install ".[test]" && python -m pytest -q',
]


def test_the_first_two_commands() -> None:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None
    assert block.group(1).splitlines() == COMMANDS
    assert README.index(block.group(0)) < 800  # on the first screen
    assert "'.[" not in README  # single quotes fail in Windows' Command Prompt


def test_ci_runs_the_readme_commands() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert command in script, command


def test_every_sheet_has_its_picture() -> None:
    pictures = re.findall(r"!\[[^\]]*\]\((docs/images/[^)]+)\)", README)
    for picture in pictures:
        assert (ROOT / picture).is_file(), picture
    for number, sheet in enumerate(SHEETS, 1):
        slug = re.sub(r"[^a-z0-9]+", "-", sheet.lower()).strip("-")
        assert f"docs/images/sample-{number}-{slug}.png" in pictures, sheet


def test_the_links_lead_somewhere() -> None:
    for target in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)\)", README):
        assert (ROOT / target).exists(), target

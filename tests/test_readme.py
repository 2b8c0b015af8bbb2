"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


class TestReadme:
    """Every Python block in the README executes without error."""

    def test_python_blocks_run(self) -> None:
        blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
        assert blocks, "the README has a usage example"
        for block in blocks:
            exec(compile(block, str(README), "exec"), {})

    def test_first_lines_name_the_commands(self) -> None:
        head = README.read_text(encoding="utf-8").splitlines()[:6]
        assert any("make test" in line for line in head)
        assert any("make demo" in line for line in head)

    def test_demo_comes_first(self) -> None:
        text = README.read_text(encoding="utf-8")
        assert text.index("make demo") < text.index("make test")

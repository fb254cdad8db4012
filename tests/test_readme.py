"""The README's configuration reference stays true: its TOML block is the defaults."""

import re
import tomllib
from pathlib import Path

from yellowbox_realtime.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_configuration_reference_lists_every_setting_with_its_default() -> None:
    block = re.search(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    data = tomllib.loads(block.group(1))
    assert Config.from_sources(data) == Config()
    for section, values in data.items():
        documented = set(values)
        declared = set(getattr(Config(), section).__dataclass_fields__)
        assert documented == declared, f"[{section}] in README.md"

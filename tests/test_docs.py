"""The documentation stays true and navigable: the configuration reference is the defaults,
every relative link reaches a file (and the heading it names), and no page points outside
the repository."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest

from yellowbox_realtime.config import Config

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = ROOT / "docs" / "configuration.md"
# Installed or generated trees, not the project's own pages.
NOT_DOCS = {".venv", "venv", "node_modules", "dist", "build", "test-artifacts"}

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
# Paths of one machine, and the design notes that live outside the repository.
OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md|(?<![\w.~])/(?:work|root|home|Users|mnt)/")


def markdown_files() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.md")
                  if not NOT_DOCS & set(path.relative_to(ROOT).parts[:-1])
                  and not any(part.startswith(".") for part in path.relative_to(ROOT).parts))


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {anchor(h) for h in HEADING.findall(FENCE.sub("", path.read_text()))}


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", path.read_text()))
            if not SCHEME.match(target)]


def test_the_pages_exist_that_the_readme_maps() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert {"README.md", "SECURITY.md", "docs/events.md", "docs/sse.md",
            "docs/operations.md", "docs/publish-api.md", "docs/n8n-and-webhooks.md",
            "docs/configuration.md", "docs/production.md", "docs/benchmarks.md",
            "docs/testing.md", "docs/cli.md"} <= names
    readme_links = set(relative_links(ROOT / "README.md"))
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme_links, f"the README's map leaves out {page.name}"


def test_the_configuration_reference_lists_every_setting_with_its_default() -> None:
    block = re.search(r"```toml\n(.*?)```", CONFIGURATION.read_text(), re.S)
    assert block is not None
    data = tomllib.loads(block.group(1))
    assert Config.from_sources(data) == Config()
    assert set(data) == set(Config.__dataclass_fields__), "sections in docs/configuration.md"
    for section, values in data.items():
        documented = set(values)
        declared = set(getattr(Config(), section).__dataclass_fields__)
        assert documented == declared, f"[{section}] in docs/configuration.md"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_a_file_and_heading_in_the_repository(page: Path) -> None:
    broken = []
    for link in relative_links(page):
        target, _, fragment = unquote(link).partition("#")
        resolved = (page.parent / target).resolve() if target else page
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(f"{link}: no such file in the repository")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{link}: no heading #{fragment} in {target or page.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_page_points_outside_the_repository(page: Path) -> None:
    found = [(n, line.strip()) for n, line in enumerate(page.read_text().splitlines(), 1)
             if OUTSIDE.search(line)]
    assert not found, f"{page.relative_to(ROOT)}: {found}"


def test_anchors_follow_githubs_rules() -> None:
    assert anchor("Webhooks in: n8n and Firebase") == "webhooks-in-n8n-and-firebase"
    assert anchor("See it working: the simulator and the dashboard") == \
        "see-it-working-the-simulator-and-the-dashboard"
    assert anchor("`[server]` and `max_buffer_bytes`") == "server-and-max_buffer_bytes"

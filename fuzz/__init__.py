"""Atheris (libFuzzer) targets, one per parser; see fuzz/README.md."""

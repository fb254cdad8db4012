"""The progress line: redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from yellowbox_realtime.simulator.progress import REDRAW, Counters, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_shows_every_count() -> None:
    counters = Counters(connected=3, published=40, acked=38, refused=1, reconnects=2,
                        sos_sent=1)
    line = counters.line(riders=5, elapsed_s=12.4)
    for part in ("12s", "riders 5", "connected 3", "published 40", "acked 38", "refused 1",
                 "reconnects 2", "sos 1"):
        assert part in line


def test_on_a_terminal_the_line_is_redrawn_in_place_and_ended_at_the_finish() -> None:
    stream, counters = Terminal(), Counters()
    progress = Progress(stream, counters, riders=2)
    progress.draw(1.0)
    counters.published += 1
    progress.draw(2.0)
    progress.finish(3.0)
    text = stream.getvalue()
    assert text.count(REDRAW) == 3
    assert text.count("\n") == 1
    assert text.endswith("published 1  acked 0  refused 0  reconnects 0  sos 0  geofences 0\n")


def test_in_a_pipe_each_draw_is_a_plain_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, Counters(), riders=2)
    progress.draw(1.0)
    progress.finish(2.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "\r" not in stream.getvalue()
    assert "\x1b" not in stream.getvalue()

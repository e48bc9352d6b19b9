"""The terminal-line model on its own: what a terminal would show of the output."""

from __future__ import annotations

import random
import time

import pytest

from jupyter_asubp import strip_ansi
from jupyter_asubp._screen import STDERR, STDOUT, Screen

ESC = "\x1b"

# Output with every kind of thing the screen handles, for the chunking tests.
MIXED_PIECES = [
    "plain line\n",
    "\n",
    "\r\n",
    "abc\rX\n",
    "ab\bZ\n",
    f"{ESC}[31mred{ESC}[0m plain\n",
    f"{ESC}[1;4;38;5;208mbold-orange{ESC}[m\n",
    f"{ESC}[38;2;10;20;30mtrue{ESC}[39m back\n",
    f"{ESC}]0;title\x07{ESC}]2;other{ESC}\\visible\n",
    f"{ESC}[2A{ESC}[?25l{ESC}(Bmoved\n",
    "\r 10%",
    "\r 20%",
    f"old text{ESC}[4D{ESC}[K",
    "tail\n",
    "caf\u00e9 \u20ac \U0001f600\n",
    "\tTab\n",
    "<b>bold?</b>\n",
]


def runs_of(screen: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """The screen's lines as (stream, [(text, style), ...]) tuples."""
    return [
        (stream, [(text, style) for text, style in runs])
        for stream, runs in screen.render()
    ]


def shown(screen: Screen) -> list[tuple[str, str]]:
    return screen.plain_lines()


def texts(screen: Screen) -> list[str]:
    return [text for _, text in screen.plain_lines()]


def state(screen: Screen) -> tuple[object, int]:
    return runs_of(screen), screen.hidden_lines


def fed(*chunks: str, stream: str = STDOUT, **limits: int) -> Screen:
    screen = Screen(**limits)
    for chunk in chunks:
        screen.feed(stream, chunk)
    return screen


def test_carriage_return_goes_back_to_the_line_start() -> None:
    assert texts(fed("abc\rX\n")) == ["Xbc"]
    assert texts(fed("abc\r", "XY", "\n")) == ["XYc"]


def test_backspace_steps_back() -> None:
    assert texts(fed("abc\b\bZ\n")) == ["aZc"]
    assert texts(fed("\b\bab\n")) == ["ab"]


def test_crlf_is_one_line_end() -> None:
    assert texts(fed("one\r\ntwo\r\n")) == ["one", "two"]
    assert texts(fed("one\r", "\ntwo\r", "\n")) == ["one", "two"]


def test_blank_lines_are_kept_however_the_output_is_split() -> None:
    """Regression: a newline alone in a read, or after \\r, made no line."""
    expected = ["a", "", "b", ""]
    assert texts(fed("a\n\nb\n\n")) == expected
    assert texts(fed("a\n", "\n", "b\n", "\n")) == expected
    assert texts(fed("a\r\n\r\nb\r\n\r\n")) == expected
    assert texts(fed("a\r\n", "\r\n", "b\n\r", "\n")) == expected


def test_erase_line() -> None:
    assert texts(fed("abcdef\r\x1b[K", "xy\n")) == ["xy"]
    assert texts(fed("abcdef\x1b[3D\x1b[K\n")) == ["abc"]
    assert texts(fed("abcdef\x1b[3D\x1b[1K\n")) == ["    ef"]
    assert texts(fed("abcdef\x1b[2K\n")) == [""]


@pytest.mark.parametrize(
    ("sgr", "style"),
    [
        ("31", "31"),
        ("91", "91"),
        ("42", "42"),
        ("1", "1"),
        ("4", "4"),
        ("1;4;33", "1;4;33"),
        ("38;5;208", "38;5;208"),
        ("48;5;17", "48;5;17"),
        ("38;2;255;128;0", "38;2;255;128;0"),
        ("48;2;1;2;3", "48;2;1;2;3"),
    ],
)
def test_sgr_colours_and_styles_become_style_keys(sgr: str, style: str) -> None:
    screen = fed(f"{ESC}[{sgr}mcoloured{ESC}[0m plain\n")
    assert runs_of(screen) == [(STDOUT, [("coloured", style), (" plain", "")])]


def test_sgr_attributes_add_up_and_reset() -> None:
    screen = fed(f"{ESC}[1mA{ESC}[31mB{ESC}[22mC{ESC}[39mD{ESC}[4mE{ESC}[mF\n")
    assert runs_of(screen) == [
        (
            STDOUT,
            [("A", "1"), ("B", "1;31"), ("C", "31"), ("D", ""), ("E", "4"), ("F", "")],
        )
    ]


def test_style_carries_over_to_later_lines_and_reads() -> None:
    screen = fed(f"{ESC}[32mgreen\n", "still\n", f"{ESC}[0mdone\n")
    assert runs_of(screen) == [
        (STDOUT, [("green", "32")]),
        (STDOUT, [("still", "32")]),
        (STDOUT, [("done", "")]),
    ]


@pytest.mark.parametrize(
    "escape",
    [
        f"{ESC}[2A",  # cursor up
        f"{ESC}[10;20H",  # cursor position
        f"{ESC}[2J",  # clear screen
        f"{ESC}[?25l",  # hide cursor
        f"{ESC}[?1049h",  # alternate screen
        f"{ESC}]0;a title\x07",  # OSC title, BEL
        f"{ESC}]2;a title{ESC}\\",  # OSC title, ST
        f"{ESC}]8;;http://x{ESC}\\",  # hyperlink
        f"{ESC}(B",  # character set
        f"{ESC}=",  # keypad mode
        f"{ESC}7",  # save cursor
    ],
)
def test_other_escapes_never_show(escape: str) -> None:
    screen = fed(f"before{escape}after\n")
    assert texts(screen) == ["beforeafter"]


def test_unfinished_escape_at_the_end_is_shown_as_text() -> None:
    screen = fed(f"text{ESC}[3")
    screen.finish(STDOUT)
    assert texts(screen) == ["text^[[3"]


def test_an_unterminated_title_does_not_hold_back_all_later_output() -> None:
    screen = fed(f"{ESC}]0;", "x" * 10_000, "\nnext\n")
    assert texts(screen)[-1] == "next"


@pytest.mark.parametrize("piece", MIXED_PIECES)
def test_escape_split_at_every_point_renders_the_same(piece: str) -> None:
    text = f"{ESC}[1;31mA{ESC}[0m{ESC}]0;t\x07{piece}{ESC}[38;2;1;2;3mB{ESC}[m\n"
    whole = state(fed(text))
    for split in range(len(text) + 1):
        assert state(fed(text[:split], text[split:])) == whole, split


def test_progress_bar_stays_one_line() -> None:
    screen = Screen()
    for percent in range(0, 101, 10):
        screen.feed(STDERR, f"\r{percent:3d}%|{'#' * (percent // 10)}|")
        assert len(runs_of(screen)) == 1
    screen.feed(STDERR, "\n")
    assert shown(screen) == [(STDERR, "100%|##########|")]
    assert screen.hidden_lines == 0


def test_tqdm_like_bar_with_erase_and_colour_stays_one_line() -> None:
    screen = Screen()
    screen.feed(STDOUT, "start\n")
    for step in range(50):
        screen.feed(STDOUT, f"\r{ESC}[K{ESC}[32m{step:2d}/49{ESC}[0m it/s")
    screen.feed(STDOUT, "\ndone\n")
    assert texts(screen) == ["start", "49/49 it/s", "done"]
    assert runs_of(screen)[1] == (STDOUT, [("49/49", "32"), (" it/s", "")])


def test_tail_is_bounded_by_lines_and_counts_what_it_hides() -> None:
    screen = fed("".join(f"{i}\n" for i in range(1, 5001)), max_lines=100)
    assert texts(screen) == [str(i) for i in range(4901, 5001)]
    assert screen.hidden_lines == 4900


def test_tail_is_bounded_by_characters() -> None:
    screen = fed("".join(f"{i:09d}\n" for i in range(1000)), max_chars=95)
    assert texts(screen) == [f"{i:09d}" for i in range(990, 1000)]
    assert screen.hidden_lines == 990


def test_a_single_long_line_keeps_its_end_and_stays_bounded() -> None:
    screen = Screen(max_chars=1000)
    for _ in range(100):
        screen.feed(STDOUT, "0123456789" * 100)
    screen.feed(STDOUT, "END")
    (line,) = texts(screen)
    assert line.startswith("\u2026")
    assert line.endswith("789END")
    assert len(line) == 1001
    assert all(len(kept.text) <= 2000 for kept in screen.lines)


def test_bound_in_many_small_reads_gives_the_same_tail_and_count() -> None:
    lines = "".join(f"line {i}\n" for i in range(3000))
    whole = fed(lines, max_lines=50)
    small = Screen(max_lines=50)
    for start in range(0, len(lines), 7):
        small.feed(STDOUT, lines[start : start + 7])
        if start % 700 == 0:
            runs_of(small)
    assert state(small) == state(whole)
    assert small.hidden_lines == 2950


def test_streams_interleave_by_arrival() -> None:
    screen = Screen()
    screen.feed(STDOUT, "out1\n")
    screen.feed(STDERR, "err1\n")
    screen.feed(STDOUT, "out2\n")
    screen.feed(STDERR, "err2\n")
    assert shown(screen) == [
        (STDOUT, "out1"),
        (STDERR, "err1"),
        (STDOUT, "out2"),
        (STDERR, "err2"),
    ]


def test_each_stream_keeps_its_own_line_and_style() -> None:
    screen = Screen()
    screen.feed(STDOUT, f"{ESC}[31mout-")
    screen.feed(STDERR, "err-")
    screen.feed(STDOUT, "more\r\n")
    screen.feed(STDERR, "rest\n")
    assert runs_of(screen) == [
        (STDOUT, [("out-more", "31")]),
        (STDERR, [("err-rest", "")]),
    ]


def test_a_partial_line_hidden_by_the_other_stream_goes_on_as_a_new_line() -> None:
    screen = Screen(max_lines=3)
    screen.feed(STDOUT, "partial ")
    screen.feed(STDERR, "".join(f"e{i}\n" for i in range(10)))
    screen.feed(STDOUT, "end\n")
    assert shown(screen) == [(STDERR, "e8"), (STDERR, "e9"), (STDOUT, "end")]
    assert screen.hidden_lines == 9


def test_html_in_output_stays_text() -> None:
    payload = "<b>x</b> <img src=x onerror=alert(1)> <script>alert(2)</script>"
    screen = fed(payload + "\n")
    assert runs_of(screen) == [(STDOUT, [(payload, "")])]


def test_strip_ansi_removes_escapes_only() -> None:
    text = f"{ESC}[1;31mred{ESC}[0m {ESC}]0;t\x07plain {ESC}[2K<b>\r\n"
    assert strip_ansi(text) == "red plain <b>\r\n"


@pytest.mark.parametrize("seed", range(12))
def test_any_chunking_and_render_timing_gives_the_same_screen(seed: int) -> None:
    """The screen works output out lazily and skips hidden lines: never visibly."""
    rng = random.Random(seed)
    pieces = [
        (rng.choice([STDOUT, STDERR]), rng.choice(MIXED_PIECES)) for _ in range(400)
    ]
    limits = {
        "max_lines": rng.choice([1, 3, 10, 2000]),
        "max_chars": rng.choice([40, 10**6]),
    }

    # Reference: each piece on its own, worked out at once.
    reference = Screen(**limits)
    for stream, piece in pieces:
        reference.feed(stream, piece)
        runs_of(reference)

    # Same output, each stream's pieces joined and cut anywhere, read at random.
    chunked = Screen(**limits)
    for stream, piece in pieces:
        while piece:
            size = rng.randint(1, 12)
            chunked.feed(stream, piece[:size])
            piece = piece[size:]
            if rng.random() < 0.05:
                runs_of(chunked)
    assert state(chunked) == state(reference)


def test_control_characters_a_terminal_ignores_show_as_nothing() -> None:
    """NUL bytes went through the slow path one at a time: 0.2 s per MB."""
    screen = Screen()
    started = time.monotonic()
    screen.feed(STDOUT, "\x00" * 4_000_000 + "a\x00b\x07c\x0e\n")
    assert runs_of(screen) == [(STDOUT, [("abc", "")])]
    assert time.monotonic() - started < 2

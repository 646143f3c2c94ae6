"""Template bombs (issue 11, finding 3): every operation that sizes its output is refused
before the string is built, so none of them costs time or memory; the time limit stops a
render that is long by many small steps."""

from __future__ import annotations

import resource
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tocsin import templates
from tocsin.templates import TemplateError, referenced_names, render, validate_template

BIG = ["x" * 999_999] * 999_999  # 8 MB of references; 10**12 characters as text

# Each of these builds a gigabyte or more (or runs for minutes) when its size is checked only
# after the fact.
BOMBS = [
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.rjust(10**9, '-') }}",
    "{{ 'x'.center(10**9) }}",
    "{{ 'x'.zfill(10**9) }}",
    "{{ ('\t' * 999999).expandtabs(10**6) }}",
    "{{ ('y' * 999999).replace('y', 'zz') }}",
    "{{ ('y' * 999999).translate({121: 'z' * 1000}) }}",
    "{{ (' ' * 999999).join('x' * 999999) }}",
    "{{ '%0999999999d'|format(1) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%.999999999f' % 1.5 }}",
    "{{ '%*d' % (10**9, 1) }}",
    "{{ '%(a)0999999999d' % {'a': 1} }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=10**9) }}",
    "{{ '{0:>600000}{0:>600000}'.format(1) }}",
    "{{ '{a:>999999999}'.format_map({'a': 1}) }}",
    "{{ ('{:>999999999}'|safe).format(1) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ ('a\nb' * 300000)|indent(10**6) }}",
    "{{ ('ab ' * 300000)|wordwrap(1, wrapstring='x' * 1000) }}",
    "{{ ('y' * 999999)|replace('y', 'zz') }}",
    "{{ big }}",
    "{{ big|join }}",
    "{{ big|join(',') }}",
    "{{ big|string }}",
    "{{ big|pprint }}",
    "{{ big|tojson }}",
    "{{ [1, 2]|tojson(indent=10**9) }}",
    "{{ 'x' ~ big }}",
    "{{ '%s' % (big,) }}",
    "{{ '{}'.format(big) }}",
    "{{ [1]|batch(10**9, 0)|list }}",
    "{{ [1]|slice(10**9, 0)|list }}",
    "{{ lipsum(10**6) }}",
    "{{ 1|humanize_scientific(precision=10**9) }}",
    "{{ 1.5|humanize_intcomma(ndigits=10**9) }}",
    "{{ 12345678|humanize_intword(format='%.999999999f') }}",
    "{{ 'x' * 10**9 }}",
    "{{ ['x'] * 10**9 }}",
    "{{ ('x' * 999999) + ('x' * 999999) }}",
]


@pytest.mark.parametrize("source", BOMBS)
def test_template_bomb_is_refused_before_it_is_built(source):
    started = time.monotonic()
    with pytest.raises(TemplateError, match="longer than 1000000|4096 bits|numbers only"):
        render(source, {"big": BIG})
    assert time.monotonic() - started < 1.5, "the bomb was built before it was refused"


def test_many_values_each_under_the_limit_are_refused_by_the_render_budget():
    source = ("{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% for j in range(100) %}"
              "{% set ns.l = ns.l + ['x'.ljust(999990, 'y') ~ i] %}{% endfor %}{% endfor %}"
              "{{ ns.l|length }}")
    with pytest.raises(TemplateError, match="built more than 16000000 characters"):
        render(source, {})


def test_sizes_up_to_the_limit_still_render():
    assert len(render("{{ 'x'.ljust(999999) }}", {})) == 999_999
    assert render("{{ '%05d' % 42 }}|{{ '{:>6}'.format('ab') }}|{{ 'ab'|center(6) }}", {}) == \
        "00042|    ab|  ab  "
    assert render("{{ ['a', 'b']|join(', ') }} {{ 'a\nb'|indent(2) }}", {}) == "a, b a\n  b"
    assert render("{{ [1, 2, 3]|sum }} {{ [1, 2, 3]|batch(2)|list }}", {}) == "6 [[1, 2], [3]]"


def test_time_limit_stops_a_render_made_of_many_small_filters(monkeypatch):
    """No single step is big, but together they run long: the deadline stops them."""
    monkeypatch.setattr(templates, "MAX_RENDER_SECONDS", 0.3)
    source = ("{% for i in xs %}{% for j in xs %}{% if (i + j)|abs|int|round < 0 %}x{% endif %}"
              "{% endfor %}{% endfor %}")
    started = time.monotonic()
    with pytest.raises(TemplateError, match="longer than 0.3 s"):
        render(source, {"xs": list(range(2000))})
    assert time.monotonic() - started < 1.5


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Every operation that sizes its output, with sizes drawn from 0 to far past the limit.
SIZED = [
    "{{{{ 'ab'.ljust({n}) }}}}", "{{{{ 'ab'.center({n}, '-') }}}}", "{{{{ 'ab'.zfill({n}) }}}}",
    "{{{{ ('a\tb' * {m}).expandtabs({n}) }}}}", "{{{{ ('ab' * {m}).replace('a', 'x' * {k}) }}}}",
    "{{{{ ('-' * {m}).join('x' * {k}) }}}}", "{{{{ '%0{n}d' % 1 }}}}",
    "{{{{ '%.{n}f'|format(1.5) }}}}",
    "{{{{ '%*s' % ({n}, 'x') }}}}", "{{{{ '{{:>{n}}}'.format(1) }}}}", "{{{{ 'ab'|center({n}) }}}}",
    "{{{{ ('a\\nb' * {m})|indent({k}) }}}}",
    "{{{{ ('ab ' * {m})|wordwrap(2, wrapstring='x' * {k}) }}}}",
    "{{{{ ('ab' * {m})|replace('a', 'x' * {k}) }}}}", "{{{{ (['ab'] * {m})|join('x' * {k}) }}}}",
    "{{{{ [1]|batch({n}, 0)|list|length }}}}", "{{{{ [['x' * {k}] * {m}]|tojson(indent={n}) }}}}",
    "{{{{ lipsum({m}, max={k}) }}}}", "{{{{ 'x' * {n} }}}}", "{{{{ ['x'] * {n} }}}}",
    "{{{{ ('x' * {m}) ~ ('y' * {k}) }}}}", "{{{{ ['x' * {k}] * {m} }}}}",
    "{{{{ 12345|humanize_scientific(precision={n}) }}}}",
]


@settings(max_examples=150, deadline=None)
@given(template=st.sampled_from(SIZED), n=st.integers(0, 10**10), m=st.integers(0, 10**7),
       k=st.integers(0, 10**4))
def test_any_size_renders_within_the_limits_or_is_refused_at_once(template, n, m, k):
    source = template.format(n=n, m=m, k=k)
    peak_before = peak_rss_mb()  # a high-water mark: only a new peak moves it
    started = time.monotonic()
    try:
        out = render(source, {})
    except TemplateError as exc:  # refused before it was built, never after
        assert "grew past" not in str(exc) and "MemoryError" not in str(exc), (source, str(exc))
    else:
        assert len(out) <= templates.MAX_OUTPUT_CHARS
    assert time.monotonic() - started < 1.5, source
    assert peak_rss_mb() - peak_before < 200, source


@pytest.mark.parametrize("source", [
    "{{ 'x'" + "|trim" * 4000 + " }}",
    "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
])
def test_a_template_nested_too_deeply_is_refused_with_a_message(source):
    """It raised RecursionError from Jinja's parser or code generator: a 500, not a 422."""
    with pytest.raises(TemplateError, match="nests expressions, filters or blocks too deeply"):
        validate_template(source)
    with pytest.raises(TemplateError, match="too deeply"):
        render(source, {})
    assert referenced_names(source) == frozenset()


def test_filters_of_constants_run_at_render_time_not_when_compiled():
    """Jinja folds `'x'|center(999999)` while compiling, on the thread that saves the
    automation (the event loop) and outside the render's deadline: 150 of them took that
    thread for seconds. Filters now refuse to run outside a render, so nothing is folded."""
    source = "{{ 'x'|center(999999)|length }}" * 150
    started = time.monotonic()
    validate_template(source)
    assert time.monotonic() - started < 0.5
    with pytest.raises(TemplateError, match="built more than"):
        render(source, {})

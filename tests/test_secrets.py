"""Secrets: every form a secret travels in is masked, masking comes before cutting, odd tokens are refused unseen."""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from loopctl.config import Config
from loopctl.errors import SecretError
from loopctl.outside_text import REASON_LIMIT, one_line
from loopctl.secrets import (
    Secret,
    check_wire_token,
    iteration_scope,
    redact,
    remember,
    remember_header,
    remember_userinfo,
)
from loopctl.secrets.references import register_all


def test_the_url_encoded_and_json_escaped_forms_are_masked_too() -> None:
    remember('Tk+9/ab="c\\d-unit-1')
    for form in ('Tk+9/ab="c\\d-unit-1', quote_plus('Tk+9/ab="c\\d-unit-1'), 'Tk+9/ab=\\"c\\\\d-unit-1'):
        assert redact(f"echo {form} end") == "echo *** end", form


def test_a_credential_registered_with_its_scheme_is_masked_alone_too() -> None:
    remember("Bearer id-token-unit-2")
    assert redact("got id-token-unit-2") == "got ***"


def test_a_password_in_a_url_and_the_basic_credential_made_of_it_are_masked() -> None:
    remember_userinfo("probe", "url-pass-unit-3")
    basic = base64.b64encode(b"probe:url-pass-unit-3").decode()
    assert redact(f"Authorization: Basic {basic}") == "Authorization: Basic ***"
    assert redact("ws://probe:never-seen-before@host/ws") == "ws://probe:***@host/ws"


def test_a_secret_is_masked_before_the_text_is_cut() -> None:
    token = "cut-token-unit-4-abcdefghijklmnop"
    remember(token)
    text = "x" * (REASON_LIMIT - 10) + "\n\n  " + token + " after"
    shown = one_line(text)
    assert "***" in shown and not any(token[:size] in shown for size in range(4, len(token)))
    assert redact(shown) == shown  # masking what is already masked changes nothing, even cut after a mask
    assert redact(one_line("x" * 190 + " ?token=abcdefghij&x")) == one_line("x" * 190 + " ?token=abcdefghij&x")


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("abc\ndef", "a newline"),
        ("abc def", "a space"),
        ("abc,def", "a comma"),
        ("abc\x01def", "a control character"),
        ("abc\u20acdef", "outside Latin-1"),
    ],
)
def test_a_token_no_header_can_carry_is_refused_naming_its_source_never_its_value(token: str, problem: str) -> None:
    with pytest.raises(SecretError) as caught:
        check_wire_token(Secret(token, source="env:ODD"))
    assert "the token from env:ODD contains" in caught.value.message and problem in caught.value.message
    assert "abc" not in caught.value.message + caught.value.hint


def test_slash_and_equals_are_refused_only_as_a_subprotocol() -> None:
    check_wire_token(Secret("ab/c=d+e", source="file:t"))
    with pytest.raises(SecretError, match="subprotocol"):
        check_wire_token(Secret("ab/c=d+e", source="file:t"), subprotocol=True)


def test_every_secret_reference_is_registered_before_any_phase_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key").write_text("file-secret-unit-5\n")
    monkeypatch.setenv("UNIT_ENV_SECRET", "env-secret-unit-6")
    config = Config.model_validate(
        {
            "project": "p",
            "base_dir": tmp_path,
            "deploy": {
                "target": "docker",
                "docker": {"name": "x", "env": {"A": {"env": "UNIT_ENV_SECRET"}, "B": {"file": "key"}}},
            },
            "probe": {"checks": [{"name": "c", "websocket": {"auth": {"token": {"command": "false"}}}}]},
        }
    )
    register_all(config)  # the command is not run: `false` would not matter, an effect would
    assert redact("file-secret-unit-5 env-secret-unit-6") == "*** ***"


def test_build_progress_and_failure_tail_mask_a_token_before_cutting_it() -> None:
    from loopctl.errors import LoopctlError
    from loopctl.phases.docker.build import follow_build

    token = "build-cut-token-unit-7-abcdefghijklmnop"
    remember(token)
    stream = [
        {"stream": "Step 1/2 : RUN ./fail\n"},
        {"stream": "a" * 150 + token + "\n"},
        {"stream": "b" * 190 + token + "\n"},
        {"errorDetail": {"message": "The command '/bin/sh -c ./fail' returned a non-zero code: 3"}},
    ]
    shown: list[str] = []
    with pytest.raises(LoopctlError) as caught:
        follow_build(stream, [], shown.append)
    everything = "\n".join([*shown, caught.value.message])
    assert "a" * 150 in everything and "b" * 150 in everything
    assert not any(token[start : start + 6] in everything for start in range(len(token) - 5))


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("SET-COOKIE", True),
        ("X-Api-Key", True),
        ("X-Session-Token", True),
        ("x-goog-iap-jwt-assertion", True),
        ("X-Env", False),
        ("Accept", False),
    ],
)
def test_a_header_named_like_a_credential_is_masked_whatever_its_value(name: str, credential: bool) -> None:
    value = f"hdr-{name.lower()}-unit-8-value"
    remember_header(name, value)
    assert (redact(f"echo {value}") == "echo ***") is credential


def test_literal_credential_headers_in_the_config_are_registered_before_any_phase(tmp_path: Path) -> None:
    checks = [
        {"name": "w", "websocket": {"headers": {"Cookie": "a=1; sid=cookie-unit-9-value", "X-Env": "plain-unit-9"}}},
        {"name": "h", "http": {"headers": {"Authorization": "Basic " + base64.b64encode(b"u:basic-unit-9").decode()}}},
    ]
    config = Config.model_validate(
        {
            "project": "p",
            "base_dir": tmp_path,
            "deploy": {"target": "url", "url": "http://x"},
            "probe": {"checks": checks},
        }
    )
    register_all(config)
    assert redact("sid=cookie-unit-9-value pw basic-unit-9 env plain-unit-9") == "sid=*** pw *** env plain-unit-9"


SHAPES = {
    "password=hunter2-unit-10": "password=***",
    '"client_secret": "0a1b2c3d4e5f6g7h8i9j"': '"client_secret": "***"',
    "DB_PASSWORD: s3cr3t-unit-10": "DB_PASSWORD: ***",
    "api_key=sk-live-4eC39HqLyjWDarjtT1zdp7dc": "api_key=***",
    "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ": "***",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzAB": "***",
    "AKIAIOSFODNN7EXAMPLE": "***",
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "aws_secret_access_key=***",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl": "***",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKl": "***",
    "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX": "https://hooks.slack.com/services/***",
    "sk_live_51HqLyjWDarjtT1zdp7dcXYZ": "***",
    "AIzaSyA-1234567890abcdefghijklmnopqrstu": "***",
    "Authorization: Bearer abcdefghijklmnop123456": "Authorization: Bearer ***",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----": (
        "-----BEGIN OPENSSH PRIVATE KEY-----***-----END OPENSSH PRIVATE KEY-----"
    ),
}
NOT_SECRETS = [
    "d46d6b6a3bcf605c6195f17d46d6b6a3bcf605c6",  # a commit
    "sha256:" + "ab12" * 16,  # a digest
    "4001 token_expired: Token has expired",  # a close-code category
    "received 1008 (policy violation) Authentication failed",
    "invalid token authentication_required for this route",  # prose after an auth scheme's name
    "password=***",  # already masked: masking again changes nothing
]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_well_known_secret_shape_is_masked_in_any_outside_text(shape: str) -> None:
    assert redact(f"server said: {shape}") == f"server said: {SHAPES[shape]}"


def test_a_private_key_logged_one_line_at_a_time_is_masked_line_by_line() -> None:
    # Evidence reads a log line by line: the BEGIN line masks what follows it, a body line on its own is masked.
    assert redact("  MIIEowIBAAKCAQEAv1234567890abcdefABCDEF+/1234567890abcdefABCDEFGHIJ012") == "  ***"
    assert redact("-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEAv12") == "-----BEGIN RSA PRIVATE KEY-----***"


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_what_only_looks_like_a_secret_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_base64_and_url_encoded_forms_of_a_known_token_are_masked() -> None:
    token = "own-token-unit-11-ABCxyz+/="
    remember(token)
    raw = token.encode()
    forms = [
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(b"Bearer " + raw).decode(),
        base64.urlsafe_b64encode(b"Bearer " + raw).decode().rstrip("="),
        base64.b64encode(b"user:" + raw).decode(),  # the token inside a longer encoded blob, at another offset
        base64.b64encode(b"x" + raw + b"y").decode(),
        quote_plus(token),
    ]
    for form in forms:
        shown = redact(f"got {form} end")
        assert "***" in shown and not any(
            form[i : i + 8] in shown for i in range(len(form) - 7) if "*" not in form[i : i + 8]
        ), (form, shown)


@pytest.mark.parametrize(
    "line",
    [
        "eyJ" * 1_400_000,
        ("eyJ" + "a" * 10 + ".") * 300_000,
        "password" * 500_000,
        "password=" * 450_000,
        "-----BEGIN RSA PRIVATE KEY-----" * 130_000,
        "a." * 2_000_000,
        "AKIA" * 1_000_000,
        "bearer " * 600_000,
        "ghp_" * 1_000_000,
        "xox" * 1_300_000,
        "ws://" + "a" * 4_000_000,
        "a.b-c+" * 700_000 + "://x",
    ],
    ids=lambda line: repr(line[:12]),
)
def test_a_4_mb_line_is_read_in_one_pass_whatever_it_repeats(line: str) -> None:
    # A backtracking rule would take hours here (the pytest timeout ends it); a linear one takes well under a second.
    assert len(redact(line)) <= len(line)


@pytest.mark.parametrize(
    "line",
    [
        # Each goes deep into its rule, then falls one character short.
        ("AKIA" + "A" * 15 + " ") * 200_000,
        ("ghp_" + "a" * 35 + " ") * 100_000,
        ("sk-" + "a" * 19 + " ") * 170_000,
        ("AIza" + "a" * 34 + " ") * 100_000,
        ("hooks.slack.com/services/" + "a" * 19 + " ") * 90_000,
        ("Bearer " + "A" * 11 + " ") * 210_000,
        ("password" + "_" * 21 + "=x ") * 120_000,
        "eyJabcd.eyJabcd " * 250_000,
    ],
    ids=lambda line: repr(line[:12]),
)
def test_a_4_mb_line_of_near_misses_is_read_in_one_pass_and_left_alone(line: str) -> None:
    assert redact(line) == line


def test_an_iteration_scope_forgets_what_was_remembered_inside_it_and_keeps_the_rest() -> None:
    from loopctl.secrets.redaction import Registry

    registry = Registry()
    registry.add("lasting-unit-12")
    with registry.scope():
        registry.add("scoped-unit-12")
        text = "lasting-unit-12 scoped-unit-12"
        assert registry.spans(text) == [(0, 15), (16, 30)]
    assert registry.spans(text) == [(0, 15)] and len(registry) == 1


def test_overlapping_secrets_are_masked_as_one_span() -> None:
    remember("abcd-overlap-unit-13")
    remember("overlap-unit-13-wxyz")
    assert redact("<abcd-overlap-unit-13-wxyz>") == "<***>"


def test_the_registry_holds_one_iterations_secrets_after_many_iterations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopctl.iterate import IterateOptions, iterate_once
    from loopctl.secrets.redaction import REGISTRY
    from tests.integration.agent_service import running_service

    # Each iteration mints a new JWT (and registers its forms); only the current iteration's may stay known.
    monkeypatch.setenv("UNIT_JWT_SECRET", "unit-jwt-secret-14-abcdefgh")
    monkeypatch.setenv("CI", "true")
    sizes = []
    with running_service(secret="unit-jwt-secret-14-abcdefgh") as service:
        (tmp_path / "config.yaml").write_text(
            f"project: scoped\ndeploy: {{target: url, url: '{service.http_url}'}}\nprobe:\n  checks:\n"
            "    - name: chat\n      websocket:\n        path: /ws\n"
            "        auth: {type: bearer, token: {jwt: {secret: {env: UNIT_JWT_SECRET}, claims: {sub: probe}}}}\n"
            "        send: {type: user_message, payload: {content: hello}}\n"
            "        expect_events: [agent_completed]\n"
        )
        before = len(REGISTRY)
        for _ in range(4):
            _, record = iterate_once(IterateOptions(config_path=tmp_path / "config.yaml", ci=True))
            assert record.checks[0].passed, record.checks[0].outcome
            sizes.append(len(REGISTRY))
    assert sizes == [before] * 4  # what the iterations minted and read is forgotten when each ends


def test_a_value_remembered_in_an_iteration_never_rebuilds_what_the_process_knew_before() -> None:
    import time

    from loopctl.secrets.redaction import Registry

    # A long-lived process (an MCP server) may know many values; each iteration's own must not pay for them.
    registry = Registry()
    for number in range(100_000):
        registry.add(f"lasting-{number:06d}-unit-15")
    assert registry.spans("x lasting-099999-unit-15 y") == [(2, 24)]
    began = time.monotonic()
    with registry.scope():
        for number in range(200):  # remember, then redact at once: a captured value is shown as soon as it is read
            registry.add(f"scoped-{number:03d}-unit-15")
            text = f"lasting-000001-unit-15scoped-{number:03d}-unit-15 lasting-000002-unit-15"
            assert registry.spans(text) == [(0, 40), (41, 63)]
    # Rebuilding the 100,000 forms on each of the 200 values took over a minute; the scope's own take milliseconds.
    assert time.monotonic() - began < 10
    assert registry.spans("scoped-000-unit-15 lasting-000003-unit-15") == [(19, 41)]


@pytest.mark.parametrize(
    "token",
    [
        "pässwörd-ünïcode-unit-16",  # Latin-1 letters: each is two bytes once URL-encoded
        "🔑-emoji-unit-16-ключ",  # outside the BMP, and Cyrillic
        "a.*b(c)[d]{2}$^|\\-unit-16?",  # every regex metacharacter: the registry matches literally
        # A token 100,000 characters long, varied as a real one is (a run of one character would cost the automaton
        # a walk back along the run at each character of the text: quadratic).
        "".join(random.Random(16).choices(string.ascii_letters + string.digits + "-_", k=100_000)),
    ],
    ids=["latin-1", "astral", "regex-metacharacters", "100k"],
)
def test_an_odd_token_is_masked_in_every_form_it_travels_in(token: str) -> None:
    with iteration_scope():  # forgotten after: the rest of the session does not carry 100,000-character forms
        remember(token)
        for form in (token, quote(token, safe=""), quote_plus(token), json.dumps(token)[1:-1]):
            assert redact(f"before {form} after") == "before *** after", form[:40]
        assert one_line(f"«{token}»") == "«***»"  # no character of it left beside the mask


def test_a_token_inside_ordinary_words_is_masked_there_too_and_a_one_character_one_nowhere() -> None:
    # Masking a known value wherever it appears wins over a readable word; a value under four characters would
    # erase ordinary text everywhere, so it is never masked (no real token is that short).
    with iteration_scope():  # forgotten after: no other test's "login" is masked
        remember("ogin")
        assert redact("login failed: ogin") == "l*** failed: ***"
        remember("q")
        assert redact("quiet q") == "quiet q"
    assert redact("login") == "login"

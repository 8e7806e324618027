"""Well-known secret shapes (cloud keys, service tokens, private keys, `password=` values), masked in outside text.

These catch secrets loopctl was never told about: a server logging its own database password or an AWS key. Each
rule is the format its issuer documents, cited beside it. Every rule is linear on any input: a rule that starts
with a run of characters can only start where that run starts (a lookbehind), quantifiers after a literal are
bounded or possessive, and a private-key block ends at its END line or at the end of the text, so a 4 MB line
costs one pass (tests/test_secrets.py feeds each rule such lines).
"""

from __future__ import annotations

import re

MASK = "***"

# A rule masks all it matches, or only its named group (`s_<rule>`): a key name or separator before it stays.
# Each starts with one character class (and checks what precedes with a lookbehind): sre then skips ahead by it.


_RULES = {
    # RFC 7468 §2-3 (PEM), OpenSSH PROTOCOL.key, RFC 4880 §6.2 (PGP armor): the body up to the END line, or to
    # the end of the text when the END line is elsewhere (a log read line by line).
    "private_key": r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?P<s_private_key>.*?)"
    r"(?=-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
    # AWS IAM user guide, "Unique identifier prefixes": AKIA (access key), ASIA (temporary), ABIA, ACCA, A3T.
    "aws_key_id": r"A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])(?<![A-Z0-9]....)[A-Z0-9]{16}(?![A-Z0-9])",
    # GitHub docs, "About authentication to GitHub" (token formats): ghp_/gho_/ghu_/ghs_/ghr_ and github_pat_.
    "github": r"g(?:h[pousr]_(?<![A-Za-z0-9_]...._)[A-Za-z0-9]{36,255}+"
    r"|ithub_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,255}+)",
    # Slack API docs, "Token types": xoxb- (bot), xoxp- (user), xoxa-/xoxr- (rotation), xoxe-, xapp-; webhooks.
    "slack": r"[xh](?:(?<=x)(?:ox[abposre]|app)-[A-Za-z0-9-]{10,255}+"
    r"|(?<=h)ooks\.slack\.com/services/(?P<s_slack_hook>[A-Za-z0-9_/]{20,255}+))",
    # Stripe docs, "API keys": sk_live_, rk_live_, pk_live_ (and _test_); whsec_ for webhook secrets. OpenAI's
    # keys (`sk-`, `sk-proj-`) share the prefix.
    "stripe": r"[rspw](?:(?<=[rsp])k[_-](?:live|test)[_-][A-Za-z0-9]{8,255}+|(?<=w)hsec_[A-Za-z0-9]{16,255}+"
    r"|(?<=s)k-(?:proj-)?[A-Za-z0-9_-]{20,255}+)",
    # Google Cloud docs, "Manage API keys" (AIza…, 39 characters); OAuth 2.0 access tokens start `ya29.`.
    "google": r"[Ay](?:(?<=A)Iza[0-9A-Za-z_-]{35}|(?<=y)a29\.[0-9A-Za-z_-]{20,2048}+)",
    # RFC 7519 §3 / RFC 7515 §7.1: a JWT's compact form, three base64url parts; its header and payload are JSON
    # objects, so both start `eyJ` (`{"`). Only where a part can start, so a run of `eyJ` is read once.
    "jwt": r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{4,8192}+\.eyJ[A-Za-z0-9_-]{4,8192}+\.[A-Za-z0-9_-]{0,8192}+",
    # RFC 9110 §11.6.2: a credential after an HTTP auth scheme, in a logged header or on its own; one with a digit
    # or a capital letter, so prose ("token authentication_required") stays.
    "auth_scheme": r"[bBtTdD](?:(?<=[bB])(?:[eE][aA][rR][eE][rR]|[aA][sS][iI][cC])|(?<=[tT])[oO][kK][eE][nN]"
    r"|(?<=[dD])[iI][gG][eE][sS][tT])\s{1,3}+(?=[a-z._~+/-]{0,4096}+[A-Z0-9])"
    r"(?P<s_auth_scheme>[A-Za-z0-9._~+/-]{12,4096}+=*+)",
    # `password=…`, `"api_key": "…"`, `DB_PASSWORD: …`: the value after a key name that says it is a credential.
    # (Each name spelt in either case after a first-letter class: sre then skips ahead by that class alone.)
    "assignment": r"[pPsSaAcC](?:(?<=[pP])(?:[aA][sS][sS][wW](?:[oO][rR])?[dD]|[wW][dD]|[rR][iI][vV][aA][tT][eE][_-]?"
    r"[kK][eE][yY])|(?<=[sS])[eE][cC][rR][eE][tT]|(?<=[aA])(?:[pP][iI]|[cC][cC][eE][sS][sS]|[uU][tT][hH])[_-]?"
    r"[kK][eE][yY]|(?<=[cC])[rR][eE][dD][eE][nN][tT][iI][aA][lL][sS]?)"
    r"[A-Za-z0-9_.-]{0,20}+[\"']?\s{0,3}+(?::=|=>|=|:)\s{0,3}+[\"']?"
    r"(?P<s_assignment>(?![*…])[^\s\"'`,;&<>(){}\[\]]{4,4096}+)",
}
# A PEM body line on its own (64 base64 characters, RFC 7468 §3): a key logged one line at a time. Mixed case is
# required, so a hex digest or a commit hash is not taken for one.
_PEM_LINE = re.compile(r"[A-Za-z0-9+/]{60,80}={0,2}")
_PEM_MIXED = (re.compile("[A-Z]"), re.compile("[a-z]"))
_SHAPES = {name: re.compile(pattern, re.DOTALL) for name, pattern in _RULES.items()}
# What a text must hold (lowercased) for a rule to be worth running: a substring test is far cheaper than a search,
# and most lines hold none of them.
_NEEDLES = {
    "private_key": ("private key",),
    "aws_key_id": ("akia", "asia", "abia", "acca", "a3t"),
    "github": ("gh", "github_pat_"),
    "slack": ("xox", "xapp-", "hooks.slack.com"),
    "stripe": ("k_live", "k_test", "k-live", "k-test", "whsec_", "sk-"),
    "google": ("aiza", "ya29."),
    "jwt": ("eyj",),
    "auth_scheme": ("bearer", "basic", "token", "digest"),
    "assignment": ("pass", "pwd", "secret", "key", "credential"),
}
_GUARDED = tuple((_NEEDLES[name], shape) for name, shape in _SHAPES.items())


def _masked(match: re.Match[str]) -> str:
    """The match with its secret part replaced by the mask: the group that says so, else all of it."""
    name = next((name for name, value in match.groupdict().items() if value is not None), None)
    if name is None:
        return MASK
    start, end = match.span(name)
    text = match.group(0)
    offset = match.start()
    return text[: start - offset] + MASK + text[end - offset :]


def mask_shapes(text: str) -> str:
    """`text` with every well-known secret shape masked."""
    line = text.strip()
    if 60 <= len(line) <= 82 and _PEM_LINE.fullmatch(line) and all(case.search(line) for case in _PEM_MIXED):
        return text.replace(line, MASK)
    lowered = text.lower()
    for needles, shape in _GUARDED:
        for needle in needles:
            if needle in lowered:
                text = shape.sub(_masked, text)
                break
    return text


def rule_names() -> tuple[str, ...]:
    return tuple(_RULES)

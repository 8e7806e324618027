"""Known secrets and tokens, from every source loopctl reads them, appear in nothing loopctl writes or prints."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from loopctl.outside_text import lines, one_line
from loopctl.secrets import remember
from tests.integration.agent_service import running_service
from tests.reliability.harness import (
    EXIT_BUILD_PUSH,
    EXIT_INCONCLUSIVE,
    JWT_SECRET,
    assert_nowhere,
    chat_check,
    in_a_terminal,
    iterate,
    phase,
    record_of,
    run_loopctl,
    write_config,
)
from tests.support.realparts import start_registry

# Every HS256 JWT starts with the base64 of '{"alg":"HS256",': the minted token's prefix, whatever its claims.
JWT_PREFIX = "eyJhbGciOiJIUzI1NiIs"
REGISTRY_USER, REGISTRY_PASSWORD = "reliability", "registry-pass-7Q2x-9vLm"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def static_token(subject: str) -> str:
    """A token the sample service accepts, made here so its value is known to the test and not to loopctl."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps({"sub": subject, "exp": int(time.time()) + 3600}, separators=(",", ":")).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def token_checks(token_file: Path, command_file: Path) -> str:
    """One check per token source and per way of sending it, plus an HTTP check with a token."""
    sources = {
        "from-env": ("bearer", "{env: RELIABILITY_TOKEN}"),
        "from-file": ("subprotocol", f"{{file: '{token_file}'}}"),
        "from-command": ("query", f"{{command: 'cat {command_file}'}}"),
        "minted": ("bearer", "{jwt: {secret: {env: DEMO_JWT_SECRET}, claims: {sub: probe}}}"),
    }
    checks = "".join(
        chat_check(name, auth=f"{{type: {kind}, token: {token}}}") for name, (kind, token) in sources.items()
    )
    return checks + "    - name: health\n      http: {path: /health, auth: {token: {env: RELIABILITY_TOKEN}}}\n"


LEAKY_SUITE = """\
import os, sys
from xml.sax.saxutils import escape
seen = f"token={os.environ['RELIABILITY_TOKEN']} secret={os.environ['DEMO_JWT_SECRET']}"
print("suite output:", seen)
print("suite error:", seen, file=sys.stderr)
case = f'<testcase name="leaks"><failure message="{escape(seen)}">{escape(seen)}</failure></testcase>'
open(sys.argv[1], "w").write(f'<testsuite tests="1" failures="1">{case}</testsuite>')
"""


def leaky_suite(vault: Path) -> str:
    """A suite that prints the token and the JWT secret and puts both in its JUnit failure: loopctl must redact."""
    script = vault / "leaky_suite.py"
    script.write_text(LEAKY_SUITE)
    return (
        f"suites:\n  - name: leaky\n    command: {json.dumps(shlex.join([sys.executable, str(script)]) + ' {junit}')}\n"
    )


def test_tokens_from_env_file_command_and_minted_never_leave_memory(tmp_path: Path) -> None:
    known = {name: static_token(name) for name in ("env", "file", "command")}
    vault = tmp_path / "vault"  # outside the run folder: these files are the user's, not loopctl's output
    vault.mkdir()
    (vault / "token").write_text(known["file"] + "\n")
    (vault / "command-token").write_text(known["command"])
    run = tmp_path / "run"
    env = {"RELIABILITY_TOKEN": known["env"]}
    outputs: dict[str, str] = {}
    for number, fault in enumerate([None, "auth", None], start=1):
        with running_service(fault=fault, secret=JWT_SECRET) as service:
            config = f"project: secrets\ndeploy: {{target: url, url: '{service.http_url}'}}\nprobe:\n  checks:\n"
            write_config(run, config + token_checks(vault / "token", vault / "command-token") + leaky_suite(vault))
            if number == 1:
                done = iterate(run, "--ci", env=env)
            elif number == 2:
                done = iterate(run, "--json", env=env)
            else:
                done = in_a_terminal(run, env)
        outputs[f"iterate {number} stdout"], outputs[f"iterate {number} stderr"] = done.stdout, done.stderr
        assert done.returncode == 1, done.stdout + done.stderr  # the leaky suite fails every time
    assert [check["passed"] for check in record_of(run, 1)["checks"]] == [True] * 5
    assert record_of(run, 1)["suites"][0]["failed"] == 1
    assert "suite output: token=***" in (run / "iterations" / "0001.suite-leaky.log").read_text()
    assert "\x1b[" in outputs["iterate 3 stdout"]  # the live view really drew on a terminal
    assert record_of(run, 2)["outcome"]["code"] == 1008  # the failure path rendered too
    for args in (["report", "2"], ["report", "3", "--format", "json"], ["history"], ["history", "--json"]):
        shown = run_loopctl(run, *args, "--config", str(run / "config.yaml"), env=env)
        assert shown.returncode == 0, shown.stderr
        outputs[" ".join(args)] = shown.stdout + shown.stderr
    assert "chat" in outputs["report 2"] and len(list((run / "iterations").glob("*.md"))) == 3
    assert_nowhere([*known.values(), JWT_SECRET, JWT_PREFIX], folder=run, outputs=outputs)


def docker_login(config_dir: Path, address: str) -> None:
    done = subprocess.run(
        ["docker", "--config", str(config_dir), "login", address, "-u", REGISTRY_USER, "--password-stdin"],
        input=REGISTRY_PASSWORD,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_registry_password_from_docker_login_never_leaves_the_engine(tmp_path: Path, tiny_context: Path) -> None:
    wrong_password = "wrong-pass-3Hk8-Zt1"
    with start_registry(tmp_path / "locked", htpasswd={REGISTRY_USER: REGISTRY_PASSWORD}) as registry:
        logged_in, wrong = tmp_path / "docker-config", tmp_path / "docker-config-wrong"
        docker_login(logged_in, registry.address)
        wrong.mkdir()
        pair = base64.b64encode(f"{REGISTRY_USER}:{wrong_password}".encode()).decode()
        (wrong / "config.json").write_text(json.dumps({"auths": {registry.address: {"auth": pair}}}))
        run = tmp_path / "run"
        write_config(
            run,
            f"project: secrets\nbuild: {{context: '{tiny_context}', image: {registry.address}/tiny}}\n"
            "push: {auth: docker-config}\n",
        )
        outputs: dict[str, str] = {}
        for name, config_dir, args in [
            ("ci", logged_in, ["--ci"]),
            ("json", logged_in, ["--json", "--no-cache"]),
            ("denied", wrong, ["--ci", "--no-cache"]),
        ]:
            done = iterate(run, *args, env={"DOCKER_CONFIG": str(config_dir)})
            outputs[f"{name} stdout"], outputs[f"{name} stderr"] = done.stdout, done.stderr
            # Build and push only: nothing checked, so no verdict (5) unless the push is refused (3).
            assert done.returncode == (EXIT_BUILD_PUSH if name == "denied" else EXIT_INCONCLUSIVE), done.stderr
        doctor = run_loopctl(run, "doctor", "--config", str(run / "config.yaml"), env={"DOCKER_CONFIG": str(logged_in)})
        outputs["doctor"] = doctor.stdout + doctor.stderr
        pushed = record_of(run, 1)["push"]["digest"]
        assert pushed == registry.manifest_digest("tiny", "loopctl-0001")
    assert phase(record_of(run, 3), "push")["error"]["kind"] == "push_denied"
    secrets = [
        REGISTRY_PASSWORD,
        wrong_password,
        base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode(),
        pair,
    ]
    assert_nowhere(secrets, folder=run, outputs=outputs)
    from tests.reliability.conftest import remove_images_of

    remove_images_of(registry.address)


def test_a_container_that_prints_its_secret_env_is_redacted_in_the_deploy_log(tmp_path: Path, agent_image: str) -> None:
    import uuid

    import docker.errors

    from tests.support.realparts import docker_client

    name = f"loopctl-rel-leak-{uuid.uuid4().hex[:8]}"
    command = ["sh", "-c", "echo starting with JWT_SECRET=$JWT_SECRET; echo crashing >&2; exit 3"]
    write_config(
        tmp_path,
        f"project: secrets\ndeploy:\n  target: docker\n"
        f"  docker: {{name: {name}, env: {{JWT_SECRET: {{env: DEMO_JWT_SECRET}}}}, command: {json.dumps(command)}}}\n",
    )
    try:
        done = iterate(tmp_path, "--ci", "--image", agent_image)
        again = iterate(tmp_path, "--json", "--image", agent_image)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client().containers.get(name).remove(force=True)
    assert (done.returncode, again.returncode) == (4, 4), done.stderr
    error = phase(record_of(tmp_path, 1), "deploy")["error"]
    assert error["kind"] == "container_exited" and "exited with code 3" in error["message"]
    log = (tmp_path / "iterations" / "0001.deploy.log").read_text()
    assert "starting with JWT_SECRET=***" in log and "crashing" in log
    outputs = {"ci": done.stdout + done.stderr, "json": again.stdout + again.stderr}
    assert_nowhere([JWT_SECRET], folder=tmp_path, outputs=outputs)


def test_a_secret_split_by_control_characters_is_masked_once_they_are_gone() -> None:
    # A server that echoes a token with a NUL or a zero-width space inside: stripping them joins the token again.
    remember("split-token-7Kq2-rel")
    for clean in (one_line, lines):
        shown = clean("got split-\x00token\u200b-7Kq2-rel end")
        assert shown == "got *** end", clean.__name__


# A known token (its env reference is registered), 41 characters: long enough that any cut inside it leaves 6+.
CUT_TOKEN = "cut-boundary-token-Zq81-abcdefghijklmnopq"
FAILING_BUILD = """\
FROM {base}
COPY token /token
RUN python3 -c "t = open('/token').read().strip(); print('a' * 150 + t); print('b' * 185 + t); raise SystemExit(3)"
"""


def test_a_token_cut_by_a_clip_boundary_in_a_build_leaves_no_fragment_anywhere(tmp_path: Path) -> None:
    # The progress line is cut at 160 characters and the failure tail at 200: both boundaries fall inside the token.
    from tests.support.realparts import BASE_IMAGE

    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(FAILING_BUILD.format(base=BASE_IMAGE))
    (context / "token").write_text(CUT_TOKEN + "\n")
    run = tmp_path / "run"
    write_config(
        run,
        f"project: secrets\nbuild: {{context: '{context}', image: loopctl-rel-cut/app}}\n"
        "deploy: {target: url, url: 'http://127.0.0.1:9/'}\n"
        "probe:\n  checks:\n    - name: h\n      http: {path: /, auth: {token: {env: CUT_TOKEN}}}\n",
    )
    env = {"CUT_TOKEN": CUT_TOKEN}
    outputs: dict[str, str] = {}
    for name, args in [("ci", ["--ci"]), ("json", ["--json", "--no-cache"])]:
        done = iterate(run, *args, "--junit-xml", str(run / f"{name}.xml"), env=env)
        outputs[f"{name} stdout"], outputs[f"{name} stderr"] = done.stdout, done.stderr
        assert done.returncode == EXIT_BUILD_PUSH, done.stderr
    terminal = in_a_terminal(run, env, "--no-cache")
    outputs["terminal"] = terminal.stdout + terminal.stderr
    assert "a" * 150 in outputs["ci stderr"] and "b" * 150 in phase(record_of(run, 1), "build")["error"]["message"]
    assert_nowhere([CUT_TOKEN], folder=run, outputs=outputs, window=6)


LONG_FAILURE_SUITE = """\
import os, sys
from xml.sax.saxutils import escape
said = "c" * 490 + os.environ["CUT_TOKEN"]
case = f'<testcase name="cut"><failure message="{escape(said)}">{escape(said)}</failure></testcase>'
open(sys.argv[1], "w").write(f'<testsuite tests="1" failures="1">{case}</testsuite>')
"""


def test_a_token_cut_by_the_junit_message_bound_leaves_no_fragment_anywhere(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    script = vault / "suite.py"
    script.write_text(LONG_FAILURE_SUITE)
    run = tmp_path / "run"
    command = json.dumps(shlex.join([sys.executable, str(script)]) + " {junit}")
    write_config(
        run,
        "project: secrets\ndeploy: {target: url, url: 'http://127.0.0.1:9/'}\n"
        "probe:\n  checks:\n    - name: h\n      http: {path: /, auth: {token: {env: CUT_TOKEN}}}\n"
        f"suites:\n  - name: cut\n    command: {command}\n",
    )
    done = iterate(
        run, "--json", "--junit-xml", str(run / "junit.xml"), "--skip", "probe", env={"CUT_TOKEN": CUT_TOKEN}
    )
    report = run_loopctl(run, "report", "1", "--config", str(run / "config.yaml"))
    assert record_of(run, 1)["suites"][0]["failed"] == 1, done.stderr
    assert "c" * 400 in record_of(run, 1)["suites"][0]["failures"][0]["message"]
    outputs = {"stdout": done.stdout, "stderr": done.stderr, "report": report.stdout + report.stderr}
    assert_nowhere([CUT_TOKEN], folder=run, outputs=outputs, window=6)


HEADER_SECRETS = {
    "literal-auth": "hdr-literal-auth-Q7w2-abcdefgh",
    "literal-cookie": "hdr-cookie-5Tz9-ijklmnopq",
    "env-key": "hdr-envkey-8Jk3-rstuvwxyz",
    "file-token": "hdr-filetoken-2Mn6-abcdefg",
    "probe-auth": "hdr-probe-auth-4Rt1-hijklmn",
    "probe-key": "hdr-probe-key-9Xc5-opqrstu",
}


def header_checks(token_file: Path) -> str:
    """Credential headers from each source, with one plain header the server's echo must still show."""
    headers = (
        f"{{Authorization: 'Bearer {HEADER_SECRETS['literal-auth']}', "
        f"Cookie: 'theme=dark; session={HEADER_SECRETS['literal-cookie']}', "
        "X-Api-Key: {env: HEADER_KEY}, "
        f"X-Session-Token: {{file: '{token_file}'}}, X-Env: staging-visible}}"
    )
    return (
        f"    - name: ws-headers\n      websocket: {{path: /echo-headers, expect_events: [done], timeout: 3, "
        f"headers: {headers}}}\n"
        f"    - name: http-headers\n      http: {{path: /echo-headers, expect_status: 200, headers: {headers}}}\n"
    )


def test_credential_headers_echoed_by_a_server_never_leave_memory(tmp_path: Path) -> None:
    from tests.reliability.hostile import hostile_server

    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "session-token").write_text(HEADER_SECRETS["file-token"] + "\n")
    run = tmp_path / "run"
    env = {"HEADER_KEY": HEADER_SECRETS["env-key"]}
    outputs: dict[str, str] = {}
    with hostile_server() as address:
        config = f"project: secrets\ndeploy: {{target: url, url: 'http://{address}'}}\nprobe:\n  checks:\n"
        write_config(run, config + header_checks(vault / "session-token"))
        for name, args in [("ci", ["--ci"]), ("json", ["--json"])]:
            done = iterate(run, *args, "--junit-xml", str(run / f"{name}.xml"), env=env)
            outputs[f"{name} stdout"], outputs[f"{name} stderr"] = done.stdout, done.stderr
            assert done.returncode == 1, done.stderr
        for name, extra in [("probe", []), ("probe json", ["--json"])]:
            probed = run_loopctl(
                run,
                "probe",
                f"ws://{address}/echo-headers",
                "--expect-event",
                "done",
                "--timeout",
                "3",
                "--header",
                f"Authorization: Bearer {HEADER_SECRETS['probe-auth']}",
                "--header",
                f"x-upstream-key: {HEADER_SECRETS['probe-key']}",
                *extra,
            )
            outputs[name] = probed.stdout + probed.stderr
    report = run_loopctl(run, "report", "2", "--config", str(run / "config.yaml"))
    outputs["report"] = report.stdout + report.stderr
    checks = record_of(run, 1)["checks"]
    assert checks[0]["outcome"]["code"] == 1008 and checks[0]["outcome"]["reason"] == "bad credential ***"
    assert "staging-visible" in checks[1]["outcome"]["reason"]  # the echo really happened: the plain header shows
    assert "1008" in outputs["probe"]
    outputs |= {name: (run / f"{name}.xml").read_text() for name in ("ci", "json")}
    # config.yaml holds the literals (the user wrote them there): everything loopctl wrote is under iterations/.
    assert_nowhere(HEADER_SECRETS.values(), folder=run / "iterations", outputs=outputs, window=8)


# Secrets of well-known shapes that loopctl was never told about, as a server might log them (all made up).
LOGGED_SHAPES = {
    "password": "password=hunter2-Qx81-plaintext",
    "api key": "api_key=sk-live-4eC39HqLyjWDarjtT1zdp7dc",
    "github": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
    "aws key id": "AKIAIOSFODNN7EXAMPLE",
    "aws secret": "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsb2dnZWQifQ.c2lnbmF0dXJlLW9mLXRoZS1sb2dnZWQtand0",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "stripe": "sk_live_51HqLyjWDarjtT1zdp7dcXYZ",
    "google": "AIzaSyA-1234567890abcdefghijklmnopqrstu",
}
LOGGED_HEADER_KEY = "logged-header-key-Vb62-qrstuvwxyz"
PRIVATE_KEY_BODY = ["MIIEowIBAAKCAQEAv1234567890abcdefABCDEF+/1234567890abcdefABCDEFGHIJ012", "QkRmZXhhbXBsZS1rZXk="]
LOGGING_SERVER = """\
import http.server, os, sys
SHAPES = {shapes!r}
KEY = {key!r}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("Traceback (most recent call last):", file=sys.stderr)
        print('  File "/srv/app/db.py", line 12, in connect', file=sys.stderr)
        print("    connect(" + repr(self.headers.get("X-Api-Key")) + ")", file=sys.stderr)
        pem = "-----BEGIN RSA PRIVATE KEY-----" + " ".join(KEY) + "-----END RSA PRIVATE KEY-----"
        print("ConnectionError: cannot connect with " + pem + " " + " ".join(SHAPES), file=sys.stderr)
        sys.stderr.flush()
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_secret_shapes_in_a_servers_log_reach_no_record_report_junit_or_json(tmp_path: Path, agent_image: str) -> None:
    import uuid

    import docker.errors

    from tests.support.realparts import docker_client

    name = f"loopctl-rel-shapes-{uuid.uuid4().hex[:8]}"
    script = LOGGING_SERVER.format(shapes=list(LOGGED_SHAPES.values()), key=PRIVATE_KEY_BODY)
    write_config(
        tmp_path,
        f"project: secrets\ndeploy:\n  target: docker\n"
        f"  docker: {{name: {name}, command: {json.dumps(['python3', '-c', script])}}}\n"
        "probe:\n  checks:\n    - name: db\n"
        "      http: {path: /, expect_status: 200, headers: {X-Api-Key: {env: LOGGED_HEADER_KEY}}}\n",
    )
    outputs: dict[str, str] = {}
    env = {"LOGGED_HEADER_KEY": LOGGED_HEADER_KEY}
    try:
        for run, args in [("ci", ["--ci"]), ("json", ["--json"])]:
            junit = str(tmp_path / "iterations" / f"{run}.xml")
            done = iterate(tmp_path, *args, "--image", agent_image, "--junit-xml", junit, env=env)
            outputs[f"{run} stdout"], outputs[f"{run} stderr"] = done.stdout, done.stderr
            assert done.returncode == 1, done.stderr
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client().containers.get(name).remove(force=True)
    report = run_loopctl(tmp_path, "report", "1", "--config", str(tmp_path / "config.yaml"))
    outputs["report"] = report.stdout + report.stderr
    error = record_of(tmp_path, 1)["checks"][0]["server_error"]
    assert error["type"] == "ConnectionError" and "cannot connect with -----BEGIN RSA" in error["message"], error
    assert "password=***" in error["message"] and "aws_secret_access_key=***" in error["message"], error
    assert "    connect('***')" in error["lines"], error  # the credential header the server logged
    secret_parts = [value.partition("=")[2] or value for value in LOGGED_SHAPES.values()] + PRIVATE_KEY_BODY
    secret_parts.append(LOGGED_HEADER_KEY)
    assert_nowhere(secret_parts, folder=tmp_path / "iterations", outputs=outputs, window=12)

"""The commented config.yaml that `loopctl init` writes: the sample agent service's loop."""

from __future__ import annotations

TEMPLATE = """\
# loopctl configuration. Every key is documented in README.md ("config.yaml reference").
# Secrets are never written here: name them as {env: NAME}, {file: PATH} or {command: "..."}.

project: agent-service            # used in report titles
iterations_dir: iterations        # records (NNNN.json) and reports (NNNN.md) land here

deploy:
  target: url                     # url: a service deployed by other means, probed at `url`
  url: http://127.0.0.1:8080

probe:
  close_codes:                    # application close codes (4000-4999) -> category
    4001: token_expired           # names with auth/token/forbid/... count as auth failures (depth 2)
  checks:
    - name: health
      priority: 1                 # 1 (must work) .. 3 (nice to have)
      http: {path: /health, expect_status: 200}
    - name: chat-events
      priority: 1
      impact: Users can chat and see the agent work
      websocket:
        path: /ws
        auth:
          type: bearer            # bearer (Authorization header) | subprotocol (jwt.<token>) | query (?token=)
          token:
            jwt:                  # minted at probe time (HS256) from a secret in the environment
              secret: {env: DEMO_JWT_SECRET}
              claims: {sub: probe}
              ttl: 300
        send: {type: user_message, payload: {content: hello}}
        expect_events: [agent_started, agent_thinking, tool_executing, tool_completed, agent_completed]
        event_field: type         # the JSON field that names an event
        timeout: 30               # seconds for the whole check

# suites:                         # external test commands; {junit} is replaced by a JUnit XML path
#   - name: e2e-priority-1
#     priority: 1
#     command: pytest tests/e2e -m priority1 --junitxml={junit}

report:
  emoji: true                     # false: plain PASS/FAIL words
  trend: 10                       # iterations in the report's trend table and chart
"""

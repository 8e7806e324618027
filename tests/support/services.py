"""The two-service config as the contract writes it (a store companion loopctl does not build, an api that needs
it): the one text the tests of several services read."""

from __future__ import annotations

SHOP = """\
project: shop
services:
  store:                                   # a companion loopctl does not build
    deploy: {target: docker, docker: {image: "redis:7", port: 6379}}
  api:
    depends_on: [store]
    build: {context: api, image: 127.0.0.1:5000/shop-api}
    push: {auth: none}
    deploy:
      target: docker
      docker: {port: 8080, host_port: 18080, env: {STORE_ADDR: "store:6379"}}
    probe: {checks: [{name: chat, websocket: {path: /ws, expect_events: [agent_started, agent_completed]}}]}
"""

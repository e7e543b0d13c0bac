"""Plugins that tests load through entry points (so discovery itself is exercised)."""

from __future__ import annotations

from platform_core import hookimpl
from platform_core.plugin_api import Command, ReadinessCheck, ScopeDefinition

CALLS: list[str] = []


class Greeter:
    """A plugin with a command, a scope and a readiness check."""

    @hookimpl
    def register_commands(self) -> list[Command]:
        def run(args: object) -> int:
            CALLS.append(f"hello {getattr(args, 'who', '?')}")
            return 0

        return [
            Command(
                "hello",
                "say hello",
                run,
                configure=lambda parser: parser.add_argument("who"),
            )
        ]

    @hookimpl
    def register_scopes(self) -> list[ScopeDefinition]:
        return [ScopeDefinition("greeter/greetings.read", "Read your greetings")]

    @hookimpl
    def register_readiness_checks(self, core: object) -> list[ReadinessCheck]:
        return [ReadinessCheck("greeter", lambda: None)]


greeter = Greeter()
